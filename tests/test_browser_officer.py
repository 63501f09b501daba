"""The officer's phone (/m/) in a real browser: a 360×640 touch screen, live over /ws/officer/.

A despatcher sends the officer's unit to a new job: it fills the phone's screen without a
reload; the officer acknowledges it and presses en route, and both reach the despatcher's board.
Then the phone loses signal (`set_offline`): two presses are kept, shown as waiting, and sent
once the signal is back, in order and once each. daphne runs against the test database (so
PostgreSQL is needed); one process, so the in-memory channel layer is enough.
"""

import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from duties.models import Shift, ShiftAssignment, Team
from duties.services import crew_book_on
from duties.tests.conftest import make_officer
from incidents.models import ClosingCode, IncidentType
from resources.models import Assignment, UnitStatusChange
from tests.factories import make_unit
from tests.servers import daphne_server, subprocess_database_url

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
PASSWORD = "a-Strong-pass-42"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]  # fmt: skip
PHONE = {"viewport": {"width": 360, "height": 640}, "has_touch": True, "is_mobile": True,
         "device_scale_factor": 2}  # fmt: skip

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def server(postgres, chromium_path, geography, make_user):
    make_user("despatcher", username="dave")
    pc = make_user("officer", username="pc_cn")
    IncidentType.objects.create(code="ASB1", name="Rowdy behaviour", category="asb",
                                default_grade="I")  # fmt: skip
    ClosingCode.objects.create(code="NFA", name="No further action")
    team = Team.objects.create(bcu=geography["CN"], name="Team 1")
    officer = make_officer(geography["CN"], team, user=pc, last="Phone")
    shift = Shift.objects.create(
        bcu=geography["CN"], team=team, kind="early",
        starts_at=timezone.now() - timedelta(hours=1), ends_at=timezone.now() + timedelta(hours=7),
    )  # fmt: skip
    ShiftAssignment.objects.create(shift=shift, officer=officer)
    unit = make_unit(geography["kentish"], callsign="CN01", status="off_duty")
    crew_book_on(unit=unit, shift=shift, officers=[officer], by=None, source="test")
    make_unit(geography["kentish"], callsign="CN02")
    env = {
        "DATABASE_URL": subprocess_database_url(),
        "REDIS_URL": "",
        "DJANGO_SETTINGS_MODULE": "cad.settings",
        "MAP_TILE_URL": "http://127.0.0.1:9/{z}/{x}/{y}.png",  # nothing listens there
        "LOG_LEVEL": "WARNING",
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
        f"{base}{path}", data=json.dumps(body),
        headers={"Content-Type": "application/json", "X-CSRFToken": token, "Referer": base},
    )  # fmt: skip
    assert response.ok, (response.status, response.text())
    return response.json()


def test_a_job_reaches_the_phone_and_presses_reach_the_board(server, chromium_path):
    from playwright.sync_api import expect, sync_playwright

    base = server
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path, args=ARGS)
        try:
            phone_ctx = browser.new_context(**PHONE)
            desk_ctx = browser.new_context(viewport={"width": 1600, "height": 1000})
            phone = _login(phone_ctx, base, "pc_cn")
            phone.goto(f"{base}/m/")
            expect(phone.locator("#o-conn")).to_have_text("Live", timeout=15000)
            expect(phone.locator("#o-callsign")).to_have_text("CN01")
            expect(phone.locator("#o-status-now")).to_have_text("Available")
            # One thumb: every button on the page is at least 44 px each way.
            for box in phone.locator("button:visible").evaluate_all(
                "els => els.map(e => e.getBoundingClientRect()).map(r => [r.width, r.height])"
            ):
                assert box[0] >= 44 and box[1] >= 44, box

            board = _login(desk_ctx, base, "dave")
            board.goto(f"{base}/board/")
            expect(board.locator("#live-banner")).to_have_class("live-banner live", timeout=15000)

            # 1. A despatch fills the phone's screen, no reload.
            job = _post(desk_ctx, base, "/api/v1/incidents/", {
                "type": "ASB1", "grade": "I", "summary": "Fight outside the pub",
                "location": {"lat": 51.545, "lon": -0.16, "address": "1 High Street, Camden"},
                "caller": {"name": "A Caller", "phone": "07700900000"},
            })  # fmt: skip
            _post(desk_ctx, base, f"/api/v1/incidents/{job['id']}/assign/", {"unit": "CN01"})
            despatch = phone.locator("#o-despatch")
            expect(despatch).to_be_visible(timeout=10000)
            expect(despatch).to_contain_text(job["reference"])
            expect(despatch).to_contain_text("Fight outside the pub")
            phone.screenshot(path=str(ARTIFACTS / "officer-despatch.png"))

            # 2. Acknowledged on the phone: on the board's unit row.
            phone.locator("#o-ack").tap()
            expect(despatch).to_be_hidden()
            unit_row = board.locator(".us-assigned li[data-callsign='CN01']")
            expect(unit_row.locator(".tag.ack")).to_be_visible(timeout=10000)
            expect(phone.locator("#o-job-ref")).to_have_text(job["reference"])
            expect(phone.locator("#o-navigate")).to_have_attribute(
                "href", "geo:51.545,-0.16?q=51.545,-0.16(1%20High%20Street%2C%20Camden)"
            )

            # 3. En route from the phone reaches the board.
            phone.locator("button[data-status=en_route]").tap()
            expect(board.locator(".us-en_route li[data-callsign='CN01']")).to_be_visible(
                timeout=10000
            )
            expect(phone.locator("#o-queue")).to_be_hidden(timeout=10000)

            # 4. No signal: two presses are kept and said to be waiting; nothing is sent.
            phone_ctx.set_offline(True)
            phone.locator("button[data-status=at_scene]").tap()
            phone.locator("button[data-status=available]").tap()
            expect(phone.locator("#o-queue")).to_contain_text("Waiting to send (2)")
            expect(phone.locator("#o-queue")).to_contain_text("At scene")
            expect(phone.locator("#o-conn")).to_contain_text("OFFLINE", timeout=10000)
            phone.evaluate("window.scrollTo(0, 0)")
            phone.screenshot(path=str(ARTIFACTS / "officer-offline.png"))
            held = desk_ctx.request.get(f"{base}/api/v1/units/CN01/").json()
            assert held["status"] == "en_route"

            # 5. Signal back: they go, in order, once each, and the board follows.
            phone_ctx.set_offline(False)
            expect(phone.locator("#o-queue")).to_be_hidden(timeout=20000)
            expect(board.locator(".us-available li[data-callsign='CN01']")).to_be_visible(
                timeout=10000
            )
        except Exception:
            for name in ("phone", "board"):
                if name in locals():
                    locals()[name].screenshot(path=str(ARTIFACTS / f"officer-{name}-failure.png"))
            raise
        finally:
            browser.close()

    changes = list(
        UnitStatusChange.objects.filter(unit__callsign="CN01").order_by("at", "id")
        .values_list("to_status", flat=True)
    )  # fmt: skip
    assert changes == ["available", "assigned", "en_route", "at_scene", "available"]
    assignment = Assignment.objects.get(unit__callsign="CN01")
    assert assignment.acknowledged_at is not None
    assert assignment.at_scene_at is not None and assignment.cleared_at is not None


def test_a_press_made_while_signed_out_is_kept_and_sent_after_sign_in(server, chromium_path):
    from playwright.sync_api import expect, sync_playwright

    base = server
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path, args=ARGS)
        try:
            phone_ctx = browser.new_context(**PHONE)
            phone = _login(phone_ctx, base, "pc_cn")
            phone.goto(f"{base}/m/")
            expect(phone.locator("#o-callsign")).to_have_text("CN01", timeout=15000)
            phone_ctx.clear_cookies()  # the session ended (expired, or signed out elsewhere)

            phone.locator("button[data-status=unavailable]").tap()
            phone.select_option("#o-reason-text", "Refuelling")
            phone.locator("#o-reason button[type=submit]").tap()
            expect(phone.locator("#o-conn")).to_contain_text("Signed out", timeout=10000)
            expect(phone.locator("#o-queue")).to_contain_text("Waiting to send (1): Unavailable")

            # Signing in again lands on /m/ (the officer's home), which sends what was kept.
            again = _login(phone_ctx, base, "pc_cn")
            assert again.url.endswith("/m/"), again.url
            expect(again.locator("#o-queue")).to_be_hidden(timeout=15000)
            expect(again.locator("#o-status-now")).to_have_text("Unavailable", timeout=10000)
        finally:
            browser.close()

    change = UnitStatusChange.objects.filter(unit__callsign="CN01").order_by("-at", "-id").first()
    assert change is not None and change.to_status == "unavailable"
    assert (
        UnitStatusChange.objects.filter(unit__callsign="CN01", to_status="unavailable").count() == 1
    )
