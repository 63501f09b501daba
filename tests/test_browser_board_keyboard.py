"""The board by keyboard (and for a screen reader): recommendations, confirmations, shortcuts,
announcements. daphne serves HTTP and the live socket against the test database (PostgreSQL),
as in tests/test_browser_board.py.
"""

import json
import re

import pytest

from incidents.models import ClosingCode, GazetteerEntry, IncidentType
from tests.factories import make_unit
from tests.servers import daphne_server, subprocess_database_url

PASSWORD = "a-Strong-pass-42"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]  # fmt: skip

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def server(postgres, chromium_path, geography, make_user):
    make_user("call_handler", username="carol")
    make_user("despatcher", username="dave")
    IncidentType.objects.create(code="VIOL", name="Violence against the person",
                                category="crime", default_grade="I")  # fmt: skip
    ClosingCode.objects.create(code="NFA", name="No further action")
    GazetteerEntry.objects.create(
        key="t:1", address="12 Camden High Street, Camden", postcode="NW1 0JH",
        lat=51.545, lon=-0.16, search="12 CAMDEN HIGH STREET CAMDEN NW1 0JH",
    )  # fmt: skip
    # CN01 is nearest the incident, CN02 next: the first and second recommendations.
    make_unit(geography["kentish"], callsign="CN01", lat=51.5452, lon=-0.1602)
    make_unit(geography["kentish"], callsign="CN02", lat=51.55, lon=-0.15)
    env = {
        "DATABASE_URL": subprocess_database_url(),
        "REDIS_URL": "",
        "MAP_TILE_URL": "http://127.0.0.1:9/{z}/{x}/{y}.png",  # nothing listens there
        "LOG_LEVEL": "WARNING",
    }
    with daphne_server(env) as base:
        yield base


def _login(context, base: str, username: str):
    page = context.new_page()
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "/accounts/login/" not in page.url, f"{username} not signed in"
    return page


def _post(context, base: str, path: str, body: dict) -> dict:
    token = next(c["value"] for c in context.cookies() if c["name"] == "csrftoken")
    response = context.request.post(
        f"{base}{path}",
        data=json.dumps(body),
        headers={"Content-Type": "application/json", "X-CSRFToken": token, "Referer": base},
    )
    assert response.ok, (response.status, response.text())
    return response.json()


def test_recommendations_drop_a_unit_once_it_is_assigned(server, chromium_path):
    """The fault seen on the board: after a unit was assigned, the recommendation list still
    offered that same unit as the first choice."""
    from playwright.sync_api import expect, sync_playwright

    base = server
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path, args=ARGS)
        try:
            context = browser.new_context(viewport={"width": 1600, "height": 1000})
            board = _login(context, base, "dave")
            board.goto(f"{base}/board/")
            expect(board.locator("body")).to_have_attribute("data-live", "live", timeout=15000)
            created = _post(context, base, "/api/v1/incidents/", {
                "type": "VIOL", "summary": "Fight",
                "location": {"lat": 51.545, "lon": -0.16, "address": "12 Camden High St"},
            })  # fmt: skip
            board.locator(f"#queue-body [data-id='{created['id']}']").click()
            recs = board.locator("#rec-list li")
            expect(recs.first).to_contain_text("CN01", timeout=10000)

            board.keyboard.press("a")
            board.keyboard.type("CN01")
            board.keyboard.press("Enter")
            expect(board.locator("#panel-assignments")).to_contain_text("CN01", timeout=10000)

            # The list now starts with the next unit, and CN01 is no longer offered at all.
            expect(recs.first).to_contain_text("CN02", timeout=10000)
            expect(board.locator("#rec-list")).not_to_contain_text(re.compile(r"\bCN01\b"))
        finally:
            browser.close()


def _tab_to(page, selector: str, limit: int = 60) -> None:
    """Press Tab (and nothing else) until the element has focus; fail if it is unreachable."""
    for _ in range(limit):
        if page.evaluate("(s) => document.activeElement.matches(s)", selector):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{selector} cannot be reached with Tab")


def test_take_despatch_and_close_by_keyboard_alone(server, chromium_path):
    """A call handler takes a call, a despatcher sends a unit and closes the incident, with the
    keyboard alone; the despatcher's screen reader hears each step through the live region."""
    from playwright.sync_api import expect, sync_playwright

    from tests.test_browser_call_taker import tab_to

    base = server
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path, args=ARGS)
        try:
            board = _login(browser.new_context(viewport={"width": 1600, "height": 1000}),
                           base, "dave")  # fmt: skip
            board.goto(f"{base}/board/")
            expect(board.locator("body")).to_have_attribute("data-live", "live", timeout=15000)
            heard = board.locator("#announcer")

            # 1. The call, typed and saved from the keyboard (Ctrl+Enter).
            calls = _login(browser.new_context(), base, "carol")
            calls.wait_for_url(re.compile(r".*/calls/$"))
            tab_to(calls, "f-address")
            calls.keyboard.type("outside the chippy")
            tab_to(calls, "f-search")
            calls.keyboard.type("12 camden high")
            expect(calls.locator("#f-search-list li").first).to_be_visible()
            calls.keyboard.press("Enter")
            expect(calls.locator("#f-lat")).to_have_value("51.545000")
            tab_to(calls, "f-type")
            calls.keyboard.type("VIOL")
            tab_to(calls, "f-summary")
            calls.keyboard.type("Two men fighting")
            calls.keyboard.press("Control+Enter")
            saved = calls.locator("#saved")
            expect(saved).to_contain_text("Saved CAD")
            reference = saved.get_attribute("data-reference")

            # 2. The board says so, without anyone looking at it.
            expect(heard).to_contain_text(f"New I-grade incident: {reference}", timeout=10000)

            # 3. Tab into the queue; Enter opens the incident's details.
            _tab_to(board, "#queue-body tr")
            board.keyboard.press("Enter")
            expect(board.locator("#queue-body tr").first).to_have_attribute("aria-selected", "true")
            assert board.evaluate("document.activeElement.id") == "panel-title"
            expect(board.locator("#panel-title")).to_contain_text(reference)
            expect(board.locator("#rec-list li").first).to_contain_text("CN01", timeout=10000)

            # 4. Key 1 despatches the first recommendation, after Enter confirms it.
            board.keyboard.press("1")
            confirm = board.locator("#confirm")
            expect(confirm).to_be_visible()
            expect(confirm).to_contain_text(f"Send CN01 to {reference}?")
            assert board.evaluate("document.activeElement.id") == "confirm-yes"
            board.keyboard.press("Enter")
            expect(confirm).to_be_hidden()
            expect(heard).to_contain_text(f"CN01 assigned to {reference}", timeout=10000)
            expect(board.locator("#panel-assignments")).to_contain_text("CN01")
            expect(board.locator("#rec-list li").first).to_contain_text("CN02", timeout=10000)
            # The focus went back where it was before the question.
            assert board.evaluate("document.activeElement.id") == "panel-title"

            # 5. Close: c goes to the closing code, Tab to the button, Enter, Enter to confirm.
            board.keyboard.press("c")
            assert board.evaluate("document.activeElement.id") == "close-code"
            board.keyboard.press("Tab")
            board.keyboard.press("Enter")
            expect(confirm).to_contain_text(f"Close {reference} with NFA?")
            board.keyboard.press("Enter")
            expect(heard).to_contain_text(f"{reference} closed with NFA", timeout=10000)
            expect(board.locator("#panel-title")).to_contain_text("closed", timeout=10000)
            expect(board.locator(f"#queue-body tr:has-text('{reference}')")).to_have_count(0)
        finally:
            browser.close()

    from incidents.models import Incident

    incident = Incident.objects.get()
    assert (incident.status, incident.closing_code.code) == ("closed", "NFA")
    assert incident.assignments.get().unit.callsign == "CN01"


def test_alarm_takes_keeps_and_returns_focus_and_shortcuts_follow_the_settings(
    server, chromium_path
):
    from playwright.sync_api import expect, sync_playwright

    base = server
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path, args=ARGS)
        try:
            context = browser.new_context(viewport={"width": 1600, "height": 1000})
            board = _login(context, base, "dave")
            board.goto(f"{base}/board/")
            expect(board.locator("body")).to_have_attribute("data-live", "live", timeout=15000)
            created = _post(context, base, "/api/v1/incidents/", {
                "type": "VIOL", "summary": "Fight",
                "location": {"lat": 51.545, "lon": -0.16, "address": "12 Camden High St"},
            })  # fmt: skip
            heard = board.locator("#announcer")
            expect(board.locator("#queue-body tr")).to_have_count(1)
            board.keyboard.press("j")  # a shortcut selects, and the selection is said
            expect(heard).to_contain_text(f"Selected {created['reference']}, grade I")

            # The alarm takes the focus from wherever it is, and keeps it.
            board.focus("#assign-unit")
            _post(context, base, "/api/v1/units/CN02/emergency/", {})
            alarm = board.locator("#alarm")
            expect(alarm).to_be_visible(timeout=10000)
            expect(alarm).to_have_attribute("aria-modal", "true")
            expect(alarm.locator("[data-announcer]")).to_contain_text("Emergency: CN02")
            expect(board.locator("#alarm button.ack")).to_be_focused()
            for _ in range(4):
                board.keyboard.press("Tab")
                assert board.evaluate("document.getElementById('alarm').contains("
                                      "document.activeElement)")  # fmt: skip
            board.keyboard.press("Escape")
            expect(alarm).to_be_visible()  # an emergency is acknowledged, not escaped
            board.focus("#alarm button.ack")
            board.keyboard.press("Enter")
            expect(alarm).to_be_hidden(timeout=10000)
            expect(board.locator("#assign-unit")).to_be_focused()  # given back
            expect(heard).to_contain_text("Emergency of CN02 acknowledged")

            # Shortcuts switched off: single keys do nothing, and their hints go.
            context.request.put(f"{base}/api/v1/me/preferences/", data=json.dumps(
                {"shortcuts": False}), headers=_json_headers(context, base))  # fmt: skip
            board.reload()
            expect(board.locator("body")).to_have_attribute("data-live", "live", timeout=15000)
            board.locator(f"#queue-body [data-id='{created['id']}']").click()
            expect(board.locator("#rec-list li").first).to_contain_text("CN01", timeout=10000)
            board.focus("#panel-title")
            board.keyboard.press("1")
            board.keyboard.press("a")
            expect(board.locator("#confirm")).to_be_hidden()
            expect(board.locator("#assign-unit")).not_to_be_focused()
            expect(board.locator("#recommendations kbd").first).to_be_hidden()

            # Remapped, without confirmation: q sends the first recommendation at once.
            context.request.put(f"{base}/api/v1/me/preferences/", data=json.dumps(
                {"keys": {"recommend_1": "q"}, "confirm_despatch": False}),
                headers=_json_headers(context, base))  # fmt: skip
            board.reload()
            expect(board.locator("body")).to_have_attribute("data-live", "live", timeout=15000)
            board.locator(f"#queue-body [data-id='{created['id']}']").click()
            expect(board.locator("#rec-list li").first).to_contain_text("CN01", timeout=10000)
            board.focus("#panel-title")
            sent = []
            board.on("request", lambda r: r.url.endswith("/assign/") and sent.append(r.url))
            board.keyboard.press("1")  # no longer a shortcut: nothing is sent
            board.keyboard.press("q")
            expect(board.locator("#panel-assignments")).to_contain_text("CN01", timeout=10000)
            expect(board.locator("#confirm")).to_be_hidden()
            assert len(sent) == 1, sent
            # The keys the board lists are the user's.
            expect(board.locator("#rec-list kbd").first).to_have_text("q", timeout=10000)

            # ? lists the keys and holds the settings; a change is saved and shown at once.
            board.focus("#panel-title")
            board.keyboard.press("?")
            help_dialog = board.locator("#help")
            expect(help_dialog).to_be_visible()
            expect(board.locator("#help-keys")).to_contain_text("despatch recommended unit 1")
            _tab_to(board, "#pref-contrast")
            board.keyboard.press("Space")
            expect(board.locator("#pref-status")).to_contain_text("Saved")
            expect(board.locator("html")).to_have_attribute("data-theme", "high_contrast")
            board.keyboard.press("Escape")
            expect(help_dialog).to_be_hidden()
            expect(board.locator("#panel-title")).to_be_focused()
            saved = context.request.get(f"{base}/api/v1/me/preferences/").json()
            assert saved["theme"] == "high_contrast"
            assert saved["keys"]["recommend_1"] == "q" and saved["confirm_despatch"] is False
        finally:
            browser.close()


def _json_headers(context, base: str) -> dict:
    token = next(c["value"] for c in context.cookies() if c["name"] == "csrftoken")
    return {"Content-Type": "application/json", "X-CSRFToken": token, "Referer": base}
