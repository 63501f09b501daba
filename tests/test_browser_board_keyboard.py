"""The board by keyboard (and for a screen reader): recommendations, confirmations, shortcuts,
announcements. daphne serves HTTP and the live socket against the test database (PostgreSQL),
as in tests/test_browser_board.py.
"""

import json
import re

import pytest
from django.conf import settings

from incidents.models import ClosingCode, GazetteerEntry, IncidentType
from tests.factories import make_unit
from tests.servers import daphne_server

PASSWORD = "a-Strong-pass-42"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]  # fmt: skip

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _database_url() -> str:
    db = settings.DATABASES["default"]
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


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
        "DATABASE_URL": _database_url(),
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
