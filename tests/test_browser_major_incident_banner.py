"""The major incident banner on a desk's board in a real browser (issue 17): a supervisor of
another BCU declares one, and the banner goes up live on a CN desk's board without a reload,
is there again after a reload (from the snapshot), and comes down at stand-down."""

import pytest

from cad.accounts.totp import totp
from incidents.models import IncidentType
from incidents.tests.test_major_incident import METHANE
from tests.factories import make_unit
from tests.servers import daphne_server, subprocess_database_url
from tests.test_browser_board import ARGS, _login, _post

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _login_supervisor(context, base: str, username: str) -> None:
    """Supervisors give a second factor: enrol one on first sign-in (as a new supervisor
    would), then go past the recovery codes."""
    page = _login(context, base, username)
    if "/accounts/2fa/enrol/" in page.url:
        secret = page.locator("#totp-secret").get_attribute("data-secret")
        page.fill("input[name=code]", totp(secret))
        page.click("form[action$='/enrol/'] button[type=submit]")
        page.wait_for_load_state("networkidle")
        page.click("#recovery-continue")
        page.wait_for_load_state("networkidle")
    assert "/accounts/" not in page.url, page.url


@pytest.fixture
def server(postgres, chromium_path, geography, make_user):
    make_user("despatcher", bcu="CN", username="dave")
    make_user("supervisor", username="sue")
    IncidentType.objects.create(code="ASB1", name="Rowdy behaviour", category="asb",
                                default_grade="I")  # fmt: skip
    make_unit(geography["kentish"], callsign="CN01")
    env = {"DATABASE_URL": subprocess_database_url(), "REDIS_URL": "", "LOG_LEVEL": "WARNING",
           "DJANGO_SETTINGS_MODULE": "cad.settings",
           "MAP_TILE_URL": "http://127.0.0.1:9/{z}/{x}/{y}.png"}  # fmt: skip
    with daphne_server(env) as base:
        yield base


def test_banner_goes_up_live_stays_on_reload_and_comes_down(server, chromium_path):
    from playwright.sync_api import expect, sync_playwright

    base = server
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path, args=ARGS)
        try:
            desk_ctx, sup_ctx = browser.new_context(), browser.new_context()
            board = _login(desk_ctx, base, "dave")
            board.goto(f"{base}/board/")
            expect(board.locator("#live-banner")).to_have_class("live-banner live", timeout=15000)
            banner = board.locator("#major-banner")
            expect(banner).to_be_hidden()

            _login_supervisor(sup_ctx, base, "sue")
            # In Lambeth (AS): the CN desk does not see the incident, but it sees the banner.
            created = _post(sup_ctx, base, "/api/v1/incidents/", {
                "type": "ASB1", "grade": "I", "summary": "bus crash",
                "location": {"lat": 51.46, "lon": -0.115, "address": "Brixton Road"},
            })  # fmt: skip
            _post(sup_ctx, base, f"/api/v1/incidents/{created['id']}/major-incident/",
                  {"methane": METHANE})  # fmt: skip
            expect(banner).to_be_visible(timeout=10000)
            expect(banner).to_contain_text(f"MAJOR INCIDENT {created['reference']}")
            expect(banner).to_contain_text(METHANE["exact_location"])

            board.reload()
            expect(board.locator("#live-banner")).to_have_class("live-banner live", timeout=15000)
            expect(banner).to_contain_text(created["reference"], timeout=10000)

            _post(sup_ctx, base, f"/api/v1/incidents/{created['id']}/major-incident/stand-down/",
                  {"reason": "scene handed over"})  # fmt: skip
            expect(banner).to_be_hidden(timeout=10000)
        finally:
            browser.close()
