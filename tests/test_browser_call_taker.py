"""A call handler takes a call with the keyboard alone and sees the new CAD reference."""

import re

import pytest

from incidents.models import Call, GazetteerEntry, Incident
from tests.factories import CAMDEN, make_incident, make_incident_type

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def tab_to(page, element_id: str, limit: int = 40) -> None:
    """Press Tab (and nothing else) until the field has focus; fail if it is unreachable."""
    for _ in range(limit):
        if page.evaluate("document.activeElement && document.activeElement.id") == element_id:
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"#{element_id} cannot be reached with Tab")


def test_call_handler_creates_incident_with_keyboard_only(
    live_server, chromium_path, make_user, geography
):
    from playwright.sync_api import expect, sync_playwright

    make_user("call_handler", username="handler")
    make_incident_type("VIOL", default_grade="I", name="Violence against the person")
    GazetteerEntry.objects.create(
        key="t:1",
        address="12 Camden High Street, Camden",
        postcode="NW1 0JH",
        lat=51.545,
        lon=-0.16,
        search="12 CAMDEN HIGH STREET CAMDEN NW1 0JH",
    )

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, args=ARGS)
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("#id_username", "handler")
        page.fill("#id_password", "a-Strong-pass-42")
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r".*/calls/$"))

        # The screen opens with the cursor in the first field.
        assert page.evaluate("document.activeElement.id") == "f-channel"
        tab_to(page, "f-caller-name")
        page.keyboard.type("Ann Caller")
        tab_to(page, "f-caller-phone")
        page.keyboard.type("07700 900123")
        tab_to(page, "f-address")
        page.keyboard.type("outside the chippy, Camden High St")
        tab_to(page, "f-search")
        page.keyboard.type("12 camden high")
        expect(page.locator("#f-search-list li").first).to_be_visible()
        page.keyboard.press("Enter")  # choose the highlighted suggestion
        expect(page.locator("#f-lat")).to_have_value("51.545000")
        expect(page.locator("#f-resolved")).to_contain_text("12 Camden High Street")
        tab_to(page, "f-type")
        page.keyboard.type("VIOL")
        page.keyboard.press("Enter")  # must not save: only Ctrl+Enter does
        tab_to(page, "f-grade")
        expect(page.locator("#f-grade")).to_have_value("I")  # the type's default grade
        expect(page.locator("#f-target")).to_contain_text("15 min")
        tab_to(page, "f-summary")
        page.keyboard.type("Two men fighting, one has a bottle")
        expect(page.locator("#saved")).to_be_hidden()  # (no DB access here: Playwright's loop)
        page.keyboard.press("Control+Enter")

        saved = page.locator("#saved")
        expect(saved).to_be_visible()
        expect(saved).to_contain_text(re.compile(r"Saved CAD 0001/\d\d[A-Z][a-z]{2}\d\d"))
        # The form is ready for the next call, cursor back at the start.
        expect(page.locator("#f-summary")).to_have_value("")
        assert page.evaluate("document.activeElement.id") == "f-channel"
        assert errors == []
        browser.close()

    incident = Incident.objects.get()
    assert incident.address == "outside the chippy, Camden High St"  # the caller's words, kept
    assert incident.resolved_address == "12 Camden High Street, Camden, NW1 0JH"
    assert (incident.grade, incident.type.code, incident.bcu.code) == ("I", "VIOL", "CN")
    call = Call.objects.get(incident=incident)
    assert (call.caller_name, call.caller_phone) == ("Ann Caller", "07700 900123")


def test_call_taker_map_without_tiles_shows_boundaries_and_markers(
    live_server, chromium_path, make_user, geography, settings
):
    """No tile server by default: nothing leaves for one, yet the map shows the boroughs, the
    pin and a nearby incident, as the board's map does."""
    from playwright.sync_api import expect, sync_playwright

    assert settings.MAP_TILE_URL == ""
    handler = make_user("call_handler", username="handler")
    make_incident_type("VIOL", default_grade="I", name="Violence against the person")
    make_incident(handler, lat=CAMDEN[0] + 0.0005, lon=CAMDEN[1], type_code="VIOL")

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, args=ARGS)
        page = browser.new_page()
        errors: list[str] = []
        elsewhere: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("request", lambda r: r.url.startswith(live_server.url) or elsewhere.append(r.url))
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("#id_username", "handler")
        page.fill("#id_password", "a-Strong-pass-42")
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r".*/calls/$"))

        expect(page.locator("#map .leaflet-overlay-pane path")).to_have_count(2)  # two boroughs
        assert page.locator("#map .leaflet-tile").count() == 0
        page.fill("#f-lat", str(CAMDEN[0]))
        page.fill("#f-lon", str(CAMDEN[1]))
        expect(page.locator("#map .leaflet-marker-icon")).to_have_count(1)  # the pin
        # The incident 55 m away: listed, and drawn as a marker beside the boundaries.
        expect(page.locator("#duplicates li.dup")).to_have_count(1)
        expect(page.locator("#map .leaflet-overlay-pane path")).to_have_count(3)
        assert page.locator("#map .leaflet-control-attribution").inner_text().strip() in (
            "",
            "Leaflet",
        )
        browser.close()
    assert not errors, errors
    assert not elsewhere, f"requests left the server: {elsewhere}"
