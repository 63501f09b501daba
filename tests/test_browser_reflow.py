"""Reflow at 400 % zoom (WCAG 1.4.10): the call-taker at 320 CSS pixels wide (a 1280-pixel
screen at 400 %) scrolls in one direction only and loses nothing: every field, label, button
and result is inside the width, and a call can still be taken. The officer app too, with its
unit, status buttons and job (docs/accessibility.md)."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from duties.models import Shift, ShiftAssignment, Team
from duties.services import crew_book_on
from duties.tests.conftest import make_officer
from incidents.models import GazetteerEntry, WarningMarker
from resources.despatch import assignment_acknowledge, assignment_create
from tests.factories import make_incident, make_incident_type, make_unit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]  # fmt: skip
# 1280 x 1024 at 400 %.
ZOOMED = {"width": 320, "height": 256}

# Everything a person reads or uses on the page, which must fit across the narrow screen.
CONTENT = ", ".join(
    ["main label", "main input:not([type=hidden])", "main select", "main textarea",
     "main button", "main h1", "main h2", "main legend", "main li", "main p", "main a",
     "header a", "header button"]
)  # fmt: skip

OUTSIDE = """(selector) => {
  const width = document.documentElement.clientWidth;
  const out = [];
  for (const el of document.querySelectorAll(selector)) {
    const box = el.getBoundingClientRect();
    if (!box.width && !box.height) continue;  // not shown
    if (box.left < -1 || box.right > width + 1) {
      out.push(`${el.tagName.toLowerCase()}#${el.id || ""}.${el.className || ""}: ` +
               `${Math.round(box.left)}..${Math.round(box.right)} of ${width}`);
    }
  }
  return out;
}"""


def _no_sideways_scroll(page) -> None:
    widths = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1], f"scrolls sideways: {widths[0]} px of content in {widths[1]}"
    outside = page.evaluate(OUTSIDE, CONTENT)
    assert not outside, "cut off at 400 %:\n" + "\n".join(outside)


def test_call_taker_reflows_at_400_percent(live_server, chromium_path, make_user, geography):
    from playwright.sync_api import expect, sync_playwright

    handler = make_user("call_handler", username="handler")
    make_incident_type("VIOL", default_grade="I", name="Violence against the person")
    GazetteerEntry.objects.create(
        key="t:1", address="12 Camden High Street, Camden", postcode="NW1 0JH",
        lat=51.545, lon=-0.16, search="12 CAMDEN HIGH STREET CAMDEN NW1 0JH",
    )  # fmt: skip
    WarningMarker.objects.create(address="12 Camden High Street", lat=51.545, lon=-0.16,
                                 text="Dog on premises", created_by=handler)  # fmt: skip
    make_incident(handler, type_code="VIOL", address="10 Camden High Street")

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, args=ARGS)
        try:
            page = browser.new_page(viewport=ZOOMED)
            page.goto(f"{live_server.url}/accounts/login/")
            _no_sideways_scroll(page)
            page.fill("#id_username", "handler")
            page.fill("#id_password", "a-Strong-pass-42")
            page.keyboard.press("Enter")
            page.wait_for_url(re.compile(r".*/calls/$"))
            _no_sideways_scroll(page)

            # With the results open: suggestions, duplicates, warnings and history.
            page.fill("#f-search", "12 camden high")
            expect(page.locator("#f-search-list li").first).to_be_visible()
            _no_sideways_scroll(page)
            page.keyboard.press("Enter")
            expect(page.locator("#duplicates li.dup").first).to_be_visible()
            expect(page.locator("#warnings li.warning").first).to_be_visible()
            page.fill("#f-type", "VIOL")
            page.fill("#f-summary", "Two men fighting")
            _no_sideways_scroll(page)
            page.keyboard.press("Control+Enter")
            expect(page.locator("#saved")).to_contain_text("Saved CAD")
            _no_sideways_scroll(page)
        finally:
            browser.close()


def test_board_reflows_at_400_percent_but_for_its_table_and_map(
    live_server, chromium_path, make_user, geography
):
    """The board stacks into one column; the queue table and the map keep their layout and
    scroll inside their own boxes, which 1.4.10 allows for content that needs two dimensions."""
    from playwright.sync_api import expect, sync_playwright

    make_user("despatcher", username="dave")
    handler = make_user("call_handler", username="carol")
    make_incident_type("VIOL", default_grade="I", name="Violence against the person")
    incident = make_incident(handler, type_code="VIOL", address="10 Camden High Street")

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, args=ARGS)
        try:
            page = browser.new_page(viewport=ZOOMED)
            page.goto(f"{live_server.url}/accounts/login/")
            page.fill("#id_username", "dave")
            page.fill("#id_password", "a-Strong-pass-42")
            page.keyboard.press("Enter")
            page.wait_for_url(re.compile(r".*/board/$"))
            # (live_server has no WebSocket: the board polls its snapshot instead.)
            row = page.locator(f"#queue-body tr[data-id='{incident.pk}']")
            expect(row).to_be_visible(timeout=15000)
            row.click()
            expect(page.locator("#panel-title")).to_contain_text(incident.reference)
            widths = page.evaluate(
                "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
            )
            assert widths[0] <= widths[1], f"the page scrolls sideways: {widths}"
            panel = ", ".join(f"#panel {s}" for s in ("label", "input", "select", "button", "h2"))
            outside = page.evaluate(OUTSIDE, panel + ", header a, header button")
            assert not outside, "cut off at 400 %:\n" + "\n".join(outside)
        finally:
            browser.close()


def test_officer_app_reflows_at_400_percent(live_server, chromium_path, make_user, geography):
    """The phone's app at 320 CSS pixels: the unit, every status button, the emergency button
    and the job, all inside the width."""
    from playwright.sync_api import expect, sync_playwright

    pc = make_user("officer", username="pc_ada")
    handler = make_user("call_handler", username="carol")
    make_incident_type("VIOL", default_grade="I", name="Violence against the person")
    team = Team.objects.create(bcu=geography["CN"], name="Team 1")
    ada = make_officer(geography["CN"], team, user=pc, last="Lovelace")
    shift = Shift.objects.create(
        bcu=geography["CN"], team=team, kind="early",
        starts_at=timezone.now() - timedelta(hours=1), ends_at=timezone.now() + timedelta(hours=7),
    )  # fmt: skip
    ShiftAssignment.objects.create(shift=shift, officer=ada)
    unit = make_unit(geography["kentish"], callsign="CN05", status="off_duty")
    crew_book_on(unit=unit, shift=shift, officers=[ada], by=None, source="test")
    incident = make_incident(handler, type_code="VIOL", address="10 Camden High Street")
    assignment_create(incident=incident, unit=unit, by=handler, source="test")
    assignment_acknowledge(unit=unit, incident_id=incident.pk, by=pc, source="test")

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, args=ARGS)
        try:
            page = browser.new_page(viewport=ZOOMED, has_touch=True)
            page.goto(f"{live_server.url}/accounts/login/")
            page.fill("#id_username", "pc_ada")
            page.fill("#id_password", "a-Strong-pass-42")
            page.keyboard.press("Enter")
            page.wait_for_url(re.compile(r".*/m/$"))  # an officer lands on the phone's app
            expect(page.locator("#o-callsign")).to_have_text("CN05", timeout=15000)
            expect(page.locator("#o-job-ref")).to_contain_text(incident.reference)
            _no_sideways_scroll(page)
        finally:
            browser.close()
