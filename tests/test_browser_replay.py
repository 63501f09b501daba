"""A supervisor replays the board in a real browser: a moment, steps, playback, the log."""

import re
import time

import pytest
from django.utils import timezone

from cad.accounts import totp
from cad.accounts.roles import apply_role_permissions
from cad.accounts.totp_keys import secret_encrypt
from cad.live.replay import board_checkpoint_create
from cad.models import AuditEvent, TOTPDevice
from resources import despatch
from tests.factories import make_incident, make_unit

pytestmark = [pytest.mark.browser]

SECRET = totp.new_secret()


@pytest.fixture
def replay_world(transactional_db, geography, make_user):
    # An earlier transactional test's flush removes the role groups the migration made.
    apply_role_permissions()
    sup = make_user("supervisor", username="inspector")
    TOTPDevice.objects.create(
        user=sup, secret_encrypted=secret_encrypt(SECRET), confirmed_at=timezone.now()
    )
    handler = make_user("call_handler", username="ch")
    desk = make_user("despatcher", username="desk")
    unit = make_unit(geography["kentish"], callsign="CN11")
    board_checkpoint_create()
    first = make_incident(handler, where="camden", grade="I", address="1 Royal College St")
    time.sleep(0.05)
    between = timezone.now()
    time.sleep(0.05)
    second = make_incident(handler, where="camden", grade="S", address="9 Pratt Street")
    despatch.assignment_create(incident=first, unit=unit, by=desk, source="test")
    return {"first": first, "second": second, "between": between}


def launch(p, chromium_path: str):
    return p.chromium.launch(executable_path=chromium_path, args=[
        "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"])  # fmt: skip


def sign_in(page, url: str) -> None:
    """The inspector, past both factors."""
    page.goto(f"{url}/accounts/login/")
    page.fill("input[name=username]", "inspector")
    page.fill("input[name=password]", "a-Strong-pass-42")
    page.click("button[type=submit]")
    page.fill("input[name=code]", totp.totp(SECRET))
    page.click("form[action='/accounts/2fa/'] button[type=submit]")
    page.wait_for_load_state("networkidle")


def test_replay_a_moment_step_and_play(live_server, chromium_path, replay_world):
    from playwright.sync_api import expect, sync_playwright

    first, second = replay_world["first"], replay_world["second"]
    errors: list[str] = []
    with sync_playwright() as p:
        browser = launch(p, chromium_path)
        try:
            page = browser.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            sign_in(page, live_server.url)
            page.goto(f"{live_server.url}/replay/")
            queue, units = page.locator("#replay-queue"), page.locator("#replay-units")
            # Now: both incidents, the unit on the first.
            expect(queue).to_contain_text(second.reference)
            expect(queue).to_contain_text(first.reference)
            expect(units.locator("tr", has_text="CN11").locator("td").nth(2)).to_have_text(
                str(first.pk)
            )
            # The map: both incidents and the unit (it has a position).
            expect(page.locator("#replay-map .rp-inc")).to_have_count(2)
            expect(page.locator("#replay-map .rp-unit")).to_have_text("CN11")
            # Who did what: the call handler's and the despatcher's changes.
            expect(page.locator("#replay-audit")).to_contain_text("desk")
            # Event by event back (the despatch message's state and the unit's status each
            # made one): within a few steps, the unit is not yet sent.
            moment = page.locator("#replay-moment")
            job = units.locator("tr", has_text="CN11").locator("td").nth(2)  # its incident
            for _ in range(6):
                before = moment.inner_text()
                page.click("#replay-back")
                expect(moment).not_to_have_text(before)
                if job.inner_text() == "":
                    break
            expect(job).to_have_text("")
            expect(moment).to_contain_text("after event #")
            # A moment between the two calls: only the first.
            page.fill("#replay-time", replay_world["between"].isoformat())
            page.click("#replay-go")
            expect(queue).not_to_contain_text(second.reference)
            expect(queue).to_contain_text(first.reference)
            # A typo is a message, not a broken page.
            page.fill("#replay-time", "half past two")
            page.click("#replay-go")
            expect(page.locator("#replay-error")).to_contain_text("t:")
            # Back to the moment between, then play at 60×: the second call arrives.
            page.fill("#replay-time", replay_world["between"].isoformat())
            page.click("#replay-go")
            expect(queue).not_to_contain_text(second.reference)
            page.select_option("#replay-speed", "60")
            page.click("#replay-play")
            expect(queue).to_contain_text(second.reference, timeout=10000)
            expect(page.locator("#replay-play")).to_have_text("Play", timeout=10000)
            # At the end: nothing after, so the step forward is off.
            expect(page.locator("#replay-next")).to_be_disabled()
        finally:
            browser.close()
    assert errors == []
    # Every moment looked at is on the audit trail.
    assert AuditEvent.objects.filter(object_type="cad.event", username="inspector").count() >= 4


def london_text(moment) -> str:
    """How the page shows a moment: London's clock with its zone, as en-GB formats it."""
    return timezone.localtime(moment).strftime("%d/%m/%Y, %H:%M:%S %Z")


def test_times_are_londons_whatever_the_browsers_zone(live_server, chromium_path, replay_world):
    from playwright.sync_api import expect, sync_playwright

    # The moment between the two calls, typed as a London desk would: no offset.
    between = timezone.localtime(replay_world["between"])
    handler_times = {london_text(at) for at in AuditEvent.objects.filter(username="ch")
                     .values_list("at", flat=True)}  # fmt: skip
    errors: list[str] = []
    with sync_playwright() as p:
        browser = launch(p, chromium_path)
        try:
            # A browser five hours from London: it must not read the typed time as its own.
            page = browser.new_context(timezone_id="America/New_York").new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            sign_in(page, live_server.url)
            page.goto(f"{live_server.url}/replay/")
            audit = page.locator("#replay-audit")
            expect(audit).to_contain_text("desk")
            page.fill("#replay-time", between.strftime("%Y-%m-%d %H:%M:%S.%f"))
            page.click("#replay-go")
            expect(page.locator("#replay-moment")).to_contain_text(
                f"Board at {london_text(between)}"
            )

            # Who did what in the quarter hour up to that moment: the call handler's first
            # call, not yet the despatcher's assignment (nor nothing, as a window five hours
            # later would hold).
            def by(username: str):
                cells = audit.locator("tr td:nth-child(2)")  # the Who column
                return cells.filter(has_text=re.compile(f"^{username}$"))

            expect(by("desk")).to_have_count(0)
            expect(by("ch").first).to_be_visible()
            row = by("ch").first.locator("xpath=..")
            assert row.locator("td").first.inner_text() in handler_times
        finally:
            browser.close()
    assert errors == []
