"""The delivery alert on a real board: a despatch message left undelivered past the threshold
shows as a box the despatcher can open and dismiss, and the panel shows the message state.

daphne serves the board against the test database (PostgreSQL) and shares the test's Redis
channel layer, so the alert raised here, in the test process, reaches the browser as a live
event. A screenshot is kept in test-artifacts/radio-alert.png.
"""

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from incidents.models import IncidentType
from radio import services
from radio.models import RadioMessage
from resources.despatch import assignment_create
from tests.factories import make_incident, make_unit
from tests.servers import daphne_server, subprocess_database_url
from tests.test_browser_board import ARGS, ARTIFACTS, _login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def server(postgres, redis_url, chromium_path, geography, make_user):
    make_user("despatcher", username="dave")
    IncidentType.objects.create(code="ASB1", name="Rowdy behaviour", category="asb",
                                default_grade="I")  # fmt: skip
    env = {
        "DATABASE_URL": subprocess_database_url(),
        "REDIS_URL": redis_url,
        "DJANGO_SETTINGS_MODULE": "cad.settings",
        "MAP_TILE_URL": "http://127.0.0.1:9/{z}/{x}/{y}.png",
        "LOG_LEVEL": "WARNING",
    }
    with daphne_server(env) as base:
        yield base


def raise_alert(message_id: int) -> int:
    """The message was queued 75 s ago; the beat task runs."""
    try:
        RadioMessage.objects.filter(pk=message_id).update(
            received_at=timezone.now() - timedelta(seconds=75)
        )
        return services.radio_messages_alert_undelivered()
    finally:
        connection.close()


def test_undelivered_despatch_message_alerts_the_board(server, chromium_path, geography, queued):
    from django.contrib.auth import get_user_model
    from playwright.sync_api import expect, sync_playwright

    desk = get_user_model().objects.get(username="dave")
    unit = make_unit(geography["kentish"], callsign="CN01")
    incident = make_incident(desk, grade="I", summary="fight outside pub")
    assignment_create(incident=incident, unit=unit, by=desk, source="test")
    message = RadioMessage.objects.get(direction="out", unit=unit)
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path, args=ARGS)
        try:
            context = browser.new_context(viewport={"width": 1600, "height": 1000})
            board = _login(context, server, "dave")
            board.goto(f"{server}/board/")
            expect(board.locator("#live-banner")).to_have_class("live-banner live", timeout=15000)
            board.locator(f"#queue-body tr[data-id='{incident.pk}']").click()
            expect(board.locator("#panel-assignments")).to_contain_text("message queued")

            # The ORM refuses to run on Playwright's event-loop thread: raise it from another.
            with ThreadPoolExecutor(1) as pool:
                assert pool.submit(raise_alert, message.pk).result() == 1

            alert = board.locator("#radio-alerts .radio-alert")
            expect(alert).to_be_visible(timeout=10000)
            expect(alert).to_contain_text("CN01: despatch message not delivered")
            expect(alert).to_contain_text(incident.reference)
            board.screenshot(path=str(ARTIFACTS / "radio-alert.png"))
            alert.get_by_role("button", name="Dismiss").click()
            expect(board.locator("#radio-alerts .radio-alert")).to_have_count(0)
        finally:
            browser.close()
