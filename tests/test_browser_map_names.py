"""Names an admin can edit reach the board map's tooltips as text, never as HTML.

A borough, a BCU, an incident type and a unit are given names that are markup. The despatcher's
board shows each literally in its tooltip: no element is made from it, no handler runs, and the
Content-Security-Policy has nothing to block (a violation would mean markup got as far as the
DOM and only the policy stopped it).

daphne runs in a subprocess against the test database (PostgreSQL), as in test_browser_board.
"""

import pytest

from cad.models import BCU, Borough
from incidents.models import IncidentType
from tests.factories import make_incident, make_unit
from tests.servers import daphne_server, subprocess_database_url
from tests.test_browser_board import ARGS, _login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BOROUGH = '<img src=x onerror="window.__xss=1">Camden'
TYPE = '<img src=x onerror="window.__xss=2">Brawl'
CALLSIGN = "<i>U1"  # a call sign is at most 20 characters
WATCH = """
window.__violations = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__violations.push(e.violatedDirective + " " + e.blockedURI));
"""


@pytest.fixture
def server(postgres, chromium_path, geography, make_user):
    make_user("despatcher", username="dave")
    handler = make_user("call_handler", username="carol")
    Borough.objects.filter(pk=geography["camden"].pk).update(name=BOROUGH)
    BCU.objects.filter(code="AS").update(code="<b>A")
    IncidentType.objects.create(code="ASB1", name=TYPE, category="asb", default_grade="I")
    make_incident(handler, where="camden", grade="I")
    make_unit(geography["kentish"], callsign=CALLSIGN)
    env = {
        "DATABASE_URL": subprocess_database_url(),
        "REDIS_URL": "",
        "DJANGO_SETTINGS_MODULE": "cad.settings",
        "MAP_TILE_URL": "http://127.0.0.1:9/{z}/{x}/{y}.png",  # nothing listens there
        "LOG_LEVEL": "WARNING",
    }
    with daphne_server(env) as base:
        yield base


def _tooltip_after_hover(page, x: float, y: float):
    page.mouse.move(x, y)
    tooltip = page.locator(".leaflet-tooltip").last
    tooltip.wait_for(state="visible", timeout=5000)
    return tooltip


def test_map_tooltips_show_names_as_text(server, chromium_path):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path, args=ARGS)
        try:
            context = browser.new_context(viewport={"width": 1600, "height": 1000})
            context.add_init_script(WATCH)
            page = _login(context, server, "dave")
            page.goto(f"{server}/board/")
            expect(page.locator("#live-banner")).to_have_class("live-banner live", timeout=15000)
            # Markers are labelled shapes (divIcons): hover the visible label, not its anchor.
            unit = page.locator("#map .m-unit .mk-unit")
            incident = page.locator("#map .m-incident")
            expect(unit).to_have_count(1)
            expect(incident).to_have_count(1)
            seen = {"label": (unit.inner_text(), unit.locator("i").count())}
            for name, marker in (("unit", unit), ("incident", incident)):
                box = marker.bounding_box()
                tip = _tooltip_after_hover(page, box["x"] + box["width"] / 2,
                                           box["y"] + box["height"] / 2)  # fmt: skip
                seen[name] = (tip.inner_text(), tip.locator("*").count())
                page.mouse.move(5, 5)
                expect(page.locator(".leaflet-tooltip")).to_have_count(0)
            # The Camden square, away from its centre where the markers are.
            boroughs = page.locator("#map path.m-borough")
            expect(boroughs).to_have_count(2)
            boxes = [boroughs.nth(i).bounding_box() for i in range(2)]
            camden = min(boxes, key=lambda b: b["y"])  # the northern square
            tip = _tooltip_after_hover(page, camden["x"] + camden["width"] * 0.2,
                                       camden["y"] + camden["height"] * 0.2)  # fmt: skip
            seen["borough"] = (tip.inner_text(), tip.locator("*").count())
            page.mouse.move(5, 5)
            lambeth = max(boxes, key=lambda b: b["y"])
            tip = _tooltip_after_hover(page, lambeth["x"] + lambeth["width"] * 0.2,
                                       lambeth["y"] + lambeth["height"] * 0.2)  # fmt: skip
            seen["bcu"] = (tip.inner_text(), tip.locator("*").count())
            page.wait_for_timeout(500)  # let a broken image's error event fire, if one was made
            ran = page.evaluate("window.__xss === undefined ? null : window.__xss")
            violations = page.evaluate("window.__violations")
        finally:
            browser.close()

    expected = {
        "label": CALLSIGN,
        "unit": CALLSIGN,
        "incident": TYPE,
        "borough": BOROUGH,
        "bcu": "(<b>A)",
    }
    wrong = {k: seen[k] for k, text in expected.items() if text not in seen[k][0] or seen[k][1]}
    assert not wrong, f"shown as markup (text, elements made): {wrong}"
    assert ran is None, f"a name's handler ran: {ran}"
    assert violations == [], violations
