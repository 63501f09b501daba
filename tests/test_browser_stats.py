"""A supervisor opens the performance figures in a real browser: the trend chart is drawn
beside its table under the CSP, and a table exports as CSV."""

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from cad.accounts import totp
from cad.accounts.roles import apply_role_permissions
from cad.accounts.totp_keys import secret_encrypt
from cad.models import TOTPDevice
from resources import despatch
from resources.models import Unit
from resources.services import unit_set_status
from tests.factories import make_incident, make_unit

pytestmark = [pytest.mark.browser]

SECRET = totp.new_secret()
LONDON = ZoneInfo("Europe/London")


@pytest.fixture
def stats_world(transactional_db, geography, make_user):
    apply_role_permissions()
    sgt = make_user("supervisor", bcu="CN", username="sgt")
    TOTPDevice.objects.create(
        user=sgt, secret_encrypted=secret_encrypt(SECRET), confirmed_at=timezone.now()
    )
    desk = make_user("despatcher", username="desk")
    unit = make_unit(geography["kentish"])
    Unit.objects.filter(pk=unit.pk).update(status_at=None)  # it replays the past below
    # Two days ago at 09:00 and 10:00: one I attended in 6 minutes, one in 25.
    day = timezone.localdate() - timedelta(days=2)
    for hour, minutes in ((9, 6), (10, 25)):
        received = datetime(day.year, day.month, day.day, hour, tzinfo=LONDON)
        incident = make_incident(desk, grade="I", at=received)
        despatch.assignment_create(incident=incident, unit=unit, by=desk, at=received)
        arrived = received + timedelta(minutes=minutes)
        unit_set_status(unit=unit, status="at_scene", at=arrived, source="test")
        unit_set_status(unit=unit, status="available", at=arrived + timedelta(minutes=1),
                        source="test")  # fmt: skip
    return {"day": day}


def test_stats_page_draws_the_trend_and_exports_csv(live_server, chromium_path, stats_world):
    from playwright.sync_api import expect, sync_playwright

    day = stats_world["day"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])  # fmt: skip
        try:
            page = browser.new_page(accept_downloads=True)
            refused = []
            page.on("console", lambda m: refused.append(m.text) if m.type == "error" else None)
            page.goto(f"{live_server.url}/accounts/login/")
            page.fill("input[name=username]", "sgt")
            page.fill("input[name=password]", "a-Strong-pass-42")
            page.click("button[type=submit]")
            page.fill("input[name=code]", totp.totp(SECRET))
            page.click("form[action='/accounts/2fa/'] button[type=submit]")
            page.wait_for_url(f"{live_server.url}/roster/")
            page.click("nav >> text=Figures")
            page.fill("input[name=from]", day.isoformat())
            page.click(".stats-filter button[type=submit]")
            grades = page.locator('table[data-table="grades"] tbody tr').first
            # 2 incidents, both attended, 1 within 15 minutes: 50 %.
            expect(grades).to_contain_text("50.0")
            expect(page.locator("#trend-chart canvas")).to_have_count(1)
            trend_day = page.locator('table[data-table="trend"] tbody th', has_text=day.isoformat())
            expect(trend_day).to_have_count(1)
            with page.expect_download() as download:
                page.locator("#table-breaches a.csv").click()
            text = Path(download.value.path()).read_text(encoding="utf-8")
            assert text.splitlines()[0].startswith("Incident,Grade,BCU")
            assert len(text.splitlines()) == 2  # the 25-minute arrival, 10 minutes late
            assert ",10.0" in text.splitlines()[1]
            assert not refused, refused
        finally:
            browser.close()


@pytest.fixture
def board_world(transactional_db, geography, make_user):
    apply_role_permissions()
    make_user("despatcher", username="dave")
    desk = make_user("despatcher", username="desk2")
    near = make_unit(geography["kentish"], callsign="CN01")  # about 2 km from Camden's centre
    make_unit(geography["brixton"], callsign="AS01")  # about 10 km: over 15 minutes away
    urgent = make_incident(desk, grade="I")
    elsewhere = make_incident(desk, grade="I", lat=51.55, lon=-0.141)
    return {"near": near, "urgent": urgent, "elsewhere": elsewhere, "desk": desk}


def test_board_flags_no_unit_can_make_it_when_the_near_unit_goes_elsewhere(
    live_server, chromium_path, board_world
):
    from playwright.sync_api import expect, sync_playwright

    urgent = board_world["urgent"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])  # fmt: skip
        try:
            page = browser.new_page()
            page.goto(f"{live_server.url}/accounts/login/")
            page.fill("input[name=username]", "dave")
            page.fill("input[name=password]", "a-Strong-pass-42")
            page.click("button[type=submit]")
            page.goto(f"{live_server.url}/board/")
            strength = page.locator("#board-strength")
            expect(strength).to_contain_text("CN 0/0 officers, 1 units free")
            risks = page.locator("#breach-risks")
            expect(risks).to_be_hidden()  # CN01 can be there in a few minutes
            # The last unit near it is sent to the other incident.
            # (Through the API from the page: the ORM may not run inside Playwright's loop.)
            token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
            status = page.evaluate(
                """async ([url, token]) => (await fetch(url, {method: "POST",
                    headers: {"Content-Type": "application/json", "X-CSRFToken": token},
                    body: JSON.stringify({unit: "CN01"})})).status""",
                [f"/api/v1/incidents/{board_world['elsewhere'].pk}/assign/", token],
            )
            assert status in (200, 201)
            page.evaluate("window.beaconFigures.refresh()")
            expect(risks).to_be_visible()
            expect(risks).to_contain_text(f"No unit can make it: {urgent.reference} (I)")
        finally:
            browser.close()
