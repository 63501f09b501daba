"""A supervisor sets up two-factor sign-in and signs in with a code, in a real browser;
the idle warning shows and can be answered."""

import time

import pytest

from cad.accounts import totp
from cad.models import TOTPDevice

pytestmark = [pytest.mark.browser]

PASSWORD = "a-Strong-pass-42"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]  # fmt: skip


@pytest.fixture
def sgt(transactional_db, geography, make_user):
    return make_user("supervisor", bcu="CN", username="sgt")


def sign_in_with_password(page, base: str, next_path: str = ""):
    page.goto(f"{base}/accounts/login/" + (f"?next={next_path}" if next_path else ""))
    page.fill("input[name=username]", "sgt")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")


def test_enrol_then_sign_in_with_a_code(live_server, chromium_path, sgt):
    from playwright.sync_api import expect, sync_playwright

    base = live_server.url
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, args=ARGS)
        try:
            page = browser.new_page()
            sign_in_with_password(page, base, "/roster/")
            # First sign-in: sent to set up, with the key shown for manual entry.
            expect(page).to_have_url(f"{base}/accounts/2fa/enrol/?next=%2Froster%2F")
            expect(page.locator("#totp-uri")).to_contain_text("otpauth://totp/")
            expect(page.locator(".qr svg.qr-code")).to_be_visible()
            secret = page.locator("#totp-secret").get_attribute("data-secret")
            # Nothing else answers until the code is in.
            page.goto(f"{base}/roster/")
            expect(page).to_have_url(f"{base}/accounts/2fa/enrol/?next=%2Froster%2F")
            page.fill("input[name=code]", "123456" if totp.totp(secret) != "123456" else "654321")
            page.click("form[action='/accounts/2fa/enrol/'] button[type=submit]")
            expect(page.locator("p.error")).to_contain_text("not right")
            page.fill("input[name=code]", totp.totp(secret))
            page.click("form[action='/accounts/2fa/enrol/'] button[type=submit]")
            # Ten recovery codes, shown this once, then on to where they were going.
            expect(page.locator("li.recovery-code")).to_have_count(10)
            expect(page.locator("svg.qr-code")).to_have_count(0)
            page.click("#recovery-continue")
            expect(page).to_have_url(f"{base}/roster/")
            expect(page.locator("h1").first).to_be_visible()
            # Log out; next time the password is followed by a code.
            page.click("form[action='/accounts/logout/'] button[type=submit]")
            sign_in_with_password(page, base)
            expect(page).to_have_url(f"{base}/accounts/2fa/")
            # The enrolment code's step is spent: use the next step's (inside the drift).
            page.fill("input[name=code]", totp.totp(secret, at=time.time() + 30))
            page.click("form[action='/accounts/2fa/'] button[type=submit]")
            expect(page).to_have_url(f"{base}/roster/")
        finally:
            browser.close()
    assert TOTPDevice.objects.get(user=sgt).confirmed_at is not None


def test_idle_warning_shows_and_stay_signed_in_answers(live_server, chromium_path, make_user,
                                                       settings, transactional_db):  # fmt: skip
    from playwright.sync_api import expect, sync_playwright

    # A warning as long as the limit: the banner is due as soon as the page asks.
    settings.SESSION_IDLE_WARNING_SECONDS = settings.SESSION_IDLE_SECONDS
    make_user("call_handler", username="carol")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, args=ARGS)
        try:
            page = browser.new_page()

            # A page module slow to arrive (the call taker's import of clock.js): the warning
            # must still wait for the page's scripts, which put the focus on the first field.
            def slow(route):
                time.sleep(1.0)
                route.continue_()

            page.route("**/static/js/clock.js", slow)
            page.goto(f"{live_server.url}/accounts/login/")
            page.fill("input[name=username]", "carol")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            banner = page.locator("#idle-warning")
            expect(banner).to_be_visible()
            expect(banner).to_contain_text("You will be signed out in")
            # A modal dialog that takes the focus, so Enter answers it.
            expect(banner).to_have_attribute("aria-modal", "true")
            expect(page.locator("#idle-stay")).to_be_focused()
            with page.expect_response(
                lambda r: r.url.endswith("/accounts/idle/") and r.request.method == "POST"
            ) as answered:
                page.keyboard.press("Enter")
            assert answered.value.json()["remaining"] > settings.SESSION_IDLE_SECONDS - 60
            page.click("#idle-dismiss")
            expect(banner).to_be_hidden()
            # The focus is given back to where the call handler was: the first field.
            expect(page.locator("#f-channel")).to_be_focused()
        finally:
            browser.close()
