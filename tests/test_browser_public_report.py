"""A member of the public reports a fraud online: with the keyboard alone, and again with
JavaScript switched off (the form is plain HTML, posted and redirected)."""

import pytest

from incidents.models import GazetteerEntry
from incidents.public.models import OnlineReport
from tests.factories import CAMDEN, make_incident_type

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]  # fmt: skip


@pytest.fixture
def place(geography):
    make_incident_type("FRAUD", default_grade="E")
    GazetteerEntry.objects.create(
        key="t:1", address="10 CAMDEN HIGH STREET", postcode="NW1 0JH", lat=CAMDEN[0],
        lon=CAMDEN[1], search="10 CAMDEN HIGH STREET NW1 0JH",
    )  # fmt: skip


def focused(page) -> str:
    return page.evaluate("document.activeElement && document.activeElement.id")


def tab_to(page, element_id: str, limit: int = 60) -> None:
    """Press Tab (and nothing else) until the element has focus; fail if it is unreachable."""
    for _ in range(limit):
        if focused(page) == element_id:
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"#{element_id} cannot be reached with Tab")


def choose(page, first_id: str, wanted_id: str, limit: int = 10) -> None:
    """In a radio group reached by Tab: Space checks the focused option, arrows move on."""
    tab_to(page, first_id)
    page.keyboard.press("Space")
    for _ in range(limit):
        if focused(page) == wanted_id:
            assert page.is_checked(f"#{wanted_id}")
            return
        page.keyboard.press("ArrowDown")
    raise AssertionError(f"#{wanted_id} cannot be chosen with the arrow keys")


def test_a_whole_report_with_the_keyboard_only(live_server, chromium_path, place):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, args=ARGS)
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{live_server.url}/report/")
        choose(page, "danger-yes", "danger-no")
        choose(page, "category-crime", "category-fraud")
        page.keyboard.press("Enter")  # submits the form from a radio button
        page.wait_for_url("**/report/fraud/")
        choose(page, "answer_contact-phone", "answer_contact-phone")
        tab_to(page, "f-answer_amount")
        page.keyboard.type("250")
        tab_to(page, "f-description")
        page.keyboard.type("A man rang saying he was from my bank and I paid him.")
        tab_to(page, "f-address")
        page.keyboard.type("10 Camden High Street NW1 0JH")
        tab_to(page, "f-name")
        page.keyboard.type("Pat Public")
        tab_to(page, "f-phone")
        page.keyboard.type("07700 900982")
        choose(page, "updates-none", "updates-sms")
        page.keyboard.press("Enter")
        expect(page.locator("h1")).to_have_text("Report sent")
        reference = page.locator("#reference").inner_text()
        browser.close()
    assert errors == []
    report = OnlineReport.objects.get()
    assert report.reference == reference
    assert (report.category, report.updates_by, report.answers["amount"]) == ("fraud", "sms", "250")


def test_a_whole_report_without_javascript(live_server, chromium_path, place):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, args=ARGS)
        context = browser.new_context(java_script_enabled=False)
        page = context.new_page()
        page.goto(f"{live_server.url}/report/")
        page.check("#danger-no")
        page.check("#category-fraud")
        page.click("button[type=submit]")
        page.wait_for_url("**/report/fraud/")
        # A mistake first: the summary names it and links to the field.
        page.check("#answer_contact-email")
        page.fill("#f-description", "An email asked for my card details and I gave them.")
        page.fill("#f-address", "10 Camden High Street NW1 0JH")
        page.fill("#f-name", "Pat Public")
        page.fill("#f-email", "not an email")
        page.check("#updates-email")
        page.click("button[type=submit]")
        expect(page.locator("#error-summary")).to_contain_text("email address")
        page.fill("#f-email", "pat@example.com")
        page.click("button[type=submit]")
        expect(page.locator("h1")).to_have_text("Report sent")
        status_url = page.url
        # The status link works later, on its own.
        again = context.new_page()
        again.goto(status_url.replace("&new=1", ""))
        expect(again.locator("#status")).to_contain_text("Received")
        browser.close()
    report = OnlineReport.objects.get()  # one: the refused attempt stored nothing
    assert (report.reporter_email, report.updates_by) == ("pat@example.com", "email")


def test_triage_with_the_keyboard_into_investigation(live_server, chromium_path, place, make_user):
    from playwright.sync_api import expect, sync_playwright

    from incidents.public.services import ReportInput, online_report_create

    make_user("call_handler", username="handler")
    report, _ = online_report_create(data=ReportInput(
        category="fraud", description="A text said my parcel was held; I paid £2.",
        lat=CAMDEN[0], lon=CAMDEN[1], reporter_name="Pat",
        answers={"contact": "text", "amount": "2"}))  # fmt: skip

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, args=ARGS)
        page = browser.new_page()
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("#id_username", "handler")
        page.fill("#id_password", "a-Strong-pass-42")
        page.keyboard.press("Enter")
        page.wait_for_url("**/calls/")  # signed in: a call handler lands on the call-taker
        page.goto(f"{live_server.url}/triage/")
        page.keyboard.press("j")  # the oldest report opens
        page.wait_for_url(f"**/triage/{report.pk}/")
        page.keyboard.press("2")  # allocate to investigation
        expect(page.locator("#d-investigate")).to_be_checked()
        page.keyboard.press("r")
        page.keyboard.type("Small loss, phone enquiry")
        tab_to(page, "triage-submit")
        page.keyboard.press("Enter")
        expect(page.locator(".messages")).to_contain_text("passed to an investigator")
        browser.close()
    report.refresh_from_db()
    assert report.status == "investigation"
    assert report.investigation.status == "unallocated"
