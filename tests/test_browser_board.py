"""The despatch board in a real browser, live over WebSockets under daphne.

Two browser contexts: a call handler creates an incident (through the API from their logged-in
session) and it appears on the despatcher's board without a reload; the despatcher assigns a
unit and both the incident and the unit change on screen; an emergency raises the alarm until
it is acknowledged; two units' positions, held by the socket, come in one `events` frame (the
board opts in with `?batch=1`) and both reach the board. The tile server is unreachable on
purpose: the map must still show the borough boundaries and the markers. A screenshot is kept
in test-artifacts/board.png.

daphne runs in a subprocess against the test database, so this needs PostgreSQL (the data
must be committed and shared between processes). One daphne process serves both HTTP and
WebSockets, so the in-memory channel layer is enough and Redis is not needed.
"""

import json
from pathlib import Path

import pytest

from incidents.models import ClosingCode, IncidentType
from resources.models import Unit
from tests.factories import make_unit
from tests.servers import daphne_server, subprocess_database_url

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
PASSWORD = "a-Strong-pass-42"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync",
        "--autoplay-policy=no-user-gesture-required"]  # fmt: skip

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def server(postgres, chromium_path, geography, make_user):
    make_user("call_handler", username="carol")
    make_user("despatcher", username="dave")
    IncidentType.objects.create(code="ASB1", name="Rowdy behaviour", category="asb",
                                default_grade="I")  # fmt: skip
    ClosingCode.objects.create(code="NFA", name="No further action")
    make_unit(geography["kentish"], callsign="CN01")
    make_unit(geography["kentish"], callsign="CN02")
    env = {
        "DATABASE_URL": subprocess_database_url(),
        "REDIS_URL": "",
        "DJANGO_SETTINGS_MODULE": "cad.settings",
        "MAP_TILE_URL": "http://127.0.0.1:9/{z}/{x}/{y}.png",  # nothing listens there
        "LOG_LEVEL": "WARNING",
        # Long enough that two positions sent one after the other are held together and go out
        # in one frame; other events send held positions at once, so nothing else waits.
        "BOARD_POSITION_HOLD_SECONDS": "2",
    }
    with daphne_server(env) as base:
        yield base


def _login(context, base: str, username: str):
    page = context.new_page()
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_load_state("networkidle")
    return page


def _post(context, base: str, path: str, body: dict):
    token = next(c["value"] for c in context.cookies() if c["name"] == "csrftoken")
    response = context.request.post(
        f"{base}{path}",
        data=json.dumps(body),
        headers={"Content-Type": "application/json", "X-CSRFToken": token, "Referer": base},
    )
    assert response.ok, (response.status, response.text())
    return response.json()


def test_live_board_two_desks(server, chromium_path):
    from playwright.sync_api import expect, sync_playwright

    base = server
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path, args=ARGS)
        try:
            desk_ctx = browser.new_context(viewport={"width": 1600, "height": 1000})
            calls_ctx = browser.new_context()
            board = _login(desk_ctx, base, "dave")
            sockets, frames = [], []

            def watch(ws):
                sockets.append(ws.url)
                ws.on("framereceived", lambda payload: frames.append(payload))

            board.on("websocket", watch)
            board.goto(f"{base}/board/")
            expect(board.locator("#live-banner")).to_have_class("live-banner live", timeout=15000)
            # No tiles, but the boundaries and unit markers are on the map.
            expect(board.locator("#map path.leaflet-interactive").first).to_be_visible()
            expect(board.locator("#map .m-unit")).to_have_count(2)

            # 1. The call handler creates an incident; it appears on the board, no reload.
            _login(calls_ctx, base, "carol")
            created = _post(calls_ctx, base, "/api/v1/incidents/", {
                "type": "ASB1", "grade": "I", "summary": "Fight outside the pub",
                "location": {"lat": 51.545, "lon": -0.16, "address": "1 High Street, Camden"},
                "caller": {"name": "A Caller", "phone": "07700900000"},
            })  # fmt: skip
            row = board.locator(f"#queue-body tr[data-id='{created['id']}']")
            expect(row).to_contain_text(created["reference"], timeout=10000)
            expect(row).to_contain_text("open")
            expect(board.locator(f"#map .m-inc-{created['id']}")).to_have_count(1)

            # 2. The despatcher opens it and assigns CN01 by keyboard.
            row.click()
            expect(board.locator("#panel-title")).to_contain_text(created["reference"])
            board.keyboard.press("a")
            board.keyboard.type("CN01")
            board.keyboard.press("Enter")
            # The API's answer first (the panel), then the pushed event (the queue row): if
            # this fails, the panel's error line says whether the request or the push failed.
            expect(board.locator("#panel-assignments")).to_contain_text("CN01", timeout=10000)
            expect(row.locator("td.status")).to_have_text("assigned", timeout=10000)
            expect(row.locator("td.on")).to_have_text("CN01")
            expect(board.locator(".us-assigned li[data-callsign='CN01']")).to_be_visible()

            # A second assignment of the same unit elsewhere is refused, and the screen says why.
            other = _post(calls_ctx, base, "/api/v1/incidents/", {
                "type": "ASB1", "summary": "Noise",
                "location": {"lat": 51.546, "lon": -0.161, "address": "3 High Street, Camden"},
            })  # fmt: skip
            board.locator(f"#queue-body tr[data-id='{other['id']}']").click()
            expect(board.locator("#panel-title")).to_contain_text(other["reference"])
            board.fill("#assign-unit", "CN01")
            board.click("#assign-form button[type=submit]")
            expect(board.locator("#panel-error")).to_contain_text("CN01 is not free to go")

            # 3. An emergency from the radio side: alarm on screen and sounding.
            _post(desk_ctx, base, "/api/v1/units/CN01/emergency/", {})
            alarm = board.locator("#alarm")
            expect(alarm).to_be_visible(timeout=10000)
            expect(alarm).to_contain_text("CN01")
            assert board.evaluate("window.beaconBoard.alarm.sounding()") is True
            board.screenshot(path=str(ARTIFACTS / "board.png"), full_page=True)

            board.keyboard.press("Shift+A")
            expect(alarm).to_be_hidden(timeout=10000)
            assert board.evaluate("window.beaconBoard.alarm.sounding()") is False

            # 4. Two fixes: one `events` frame, applied event by event.
            assert sockets and all(url.endswith("/ws/board/?batch=1") for url in sockets)
            _post(desk_ctx, base, "/api/v1/units/CN02/position/", {"lat": 51.601, "lon": -0.15})
            _post(desk_ctx, base, "/api/v1/units/CN01/position/", {"lat": 51.602, "lon": -0.14})
            board.wait_for_function(
                "() => ['CN01', 'CN02'].every((c) => window.beaconBoard.state.units.get(c)"
                "?.position?.lat > 51.6)", timeout=10000,
            )  # fmt: skip
            batches = [json.loads(f) for f in frames if '"type":"events"' in str(f)]
            # Other batches may hold the incident's own events (its despatch message's state).
            fixes = [("unit.updated", "CN02"), ("unit.updated", "CN01")]
            assert any(
                [(e["type"], e["data"].get("callsign")) for e in b["events"]] == fixes
                for b in batches
            ), batches
        except Exception:
            # Keep what the despatcher's screen showed when it failed, for the CI artifacts.
            if "board" in locals():
                board.screenshot(path=str(ARTIFACTS / "board-failure.png"), full_page=True)
            raise
        finally:
            browser.close()

    assert (ARTIFACTS / "board.png").stat().st_size > 10_000
    unit = Unit.objects.get(callsign="CN01")
    assert unit.status == "assigned" and unit.emergency is False
