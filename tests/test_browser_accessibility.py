"""Every page and role under axe-core's WCAG 2.2 A and AA rules, in Chromium: 0 violations.

One daphne server and one browser for the module; each screen below is one test, signed in as
the role that uses it and brought to the state named (results open, incident selected, alarm
raised, dialog showing) before axe runs. A new page joins with one line in SCREENS.
See docs/accessibility.md.

The world is made once for the module, committed (daphne is another process), and flushed at
the end so the tests after this module start from an empty database as usual.
"""

import json
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from duties.models import Shift
from duties.services import crew_book_on
from duties.simulation.services import Change, DayResult, simulation_run_record
from incidents.operations.services import major_incident_declare, operation_create
from incidents.public.services import ReportInput, online_report_create
from incidents.tests.test_major_incident import METHANE
from resources.despatch import assignment_acknowledge, assignment_create
from resources.models import Unit
from resources.ringfence import ring_fence_add
from tests.a11y import WCAG_AAA_CONTRAST, axe_violations, describe
from tests.factories import (
    make_closing_code,
    make_geography,
    make_incident,
    make_incident_type,
    make_qualifier,
    make_unit,
)
from tests.servers import ROOT, daphne_server, subprocess_database_url

# The marker also makes pytest-django create the test database; each test only reads (through
# the browser), so the module's committed world survives every test's rollback.
pytestmark = [pytest.mark.browser, pytest.mark.django_db]

ARTIFACTS = ROOT / "test-artifacts"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
PASSWORD = "a-Strong-pass-42"
VIEWPORT = {"width": 1400, "height": 900}
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]  # fmt: skip


# --- the screens ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Screen:
    """A page as a role sees it. `path` may name world ids: "/incidents/{incident}/".
    `prepare(page, world)` brings it to the state under test; `aaa` also checks 7:1 contrast."""

    name: str
    who: str | None
    path: str
    prepare: Callable | None = field(default=None, compare=False)
    aaa: bool = False


def _call_taker_results(page, world):
    """Location chosen (duplicates, warnings and history shown), suggestions open again."""
    from playwright.sync_api import expect

    page.fill("#f-type", "VIOL")
    page.fill("#f-search", "camden high")
    expect(page.locator("#f-search-list li").first).to_be_visible()
    page.keyboard.press("Enter")
    expect(page.locator("#duplicates li.dup").first).to_be_visible()
    expect(page.locator("#warnings li.warning").first).to_be_visible()
    page.fill("#f-search", "camden")
    expect(page.locator("#f-search-list li").first).to_be_visible()


def _submit_empty(page, world):
    """The form sent with nothing filled in: the error summary and the fields' messages."""
    from playwright.sync_api import expect

    page.click("button[type=submit]")
    expect(page.locator("#error-summary")).to_be_visible()


def _board_alarm(page, world):
    """Live, an incident selected with its recommendations, a unit's emergency raised."""
    from playwright.sync_api import expect

    expect(page.locator("body")).to_have_attribute("data-live", "live", timeout=15000)
    # An earlier screen may have left CN09's alarm up, over the queue: take it down first
    # (acknowledging ends the emergency), so that the one raised below is this screen's own.
    _api(page, "/api/v1/units/CN09/emergency/acknowledge/")
    expect(page.locator("#alarm")).to_be_hidden(timeout=10000)
    row = page.locator(f"#queue-body [data-id='{world['incident']}']")
    row.click()
    expect(page.locator("#panel-title")).to_contain_text(world["reference"])
    expect(page.locator("#rec-list li").first).to_be_visible()
    _api(page, "/api/v1/units/CN09/emergency/")
    expect(page.locator("#alarm")).to_be_visible(timeout=10000)
    expect(page.locator("#alarm-list")).to_contain_text("CN09")


def _api(page, path: str) -> None:
    """POST from the page's own session; 409 (already so) is as good as 200 here."""
    status = page.evaluate(
        """async (path) => {
          const token = document.querySelector("[name=csrfmiddlewaretoken]").value;
          const r = await fetch(path, {method: "POST", body: "{}",
            headers: {"X-CSRFToken": token, "Content-Type": "application/json"}});
          return r.status;
        }""",
        path,
    )
    assert status in (200, 409), f"{path}: {status}"


def _board_help(page, world):
    """The keys-and-settings dialog, opened from its button."""
    from playwright.sync_api import expect

    expect(page.locator("body")).to_have_attribute("data-live", "live", timeout=15000)
    _api(page, "/api/v1/units/CN09/emergency/acknowledge/")  # an earlier screen raised it
    expect(page.locator("#alarm")).to_be_hidden(timeout=10000)
    page.click("#open-help")
    expect(page.locator("#help")).to_be_visible()
    expect(page.locator("#help-keys")).to_contain_text("despatch recommended unit 1")


def _idle_warning(page, world):
    """The idle sign-out warning, as the server would ask for it four minutes before."""
    from playwright.sync_api import expect

    expect(page.locator("#idle-warning")).to_be_visible()


def _idle_route(page):
    page.route(
        "**/accounts/idle/",
        lambda route: route.fulfill(
            status=200,
            content_type="application/json",
            body=json.dumps({"signed_in": True, "remaining": 240, "warning": 300}),
        ),
    )


def _replay_loaded(page, world):
    """The board rebuilt at the latest moment, with its events and who did what."""
    from playwright.sync_api import expect

    expect(page.locator("#replay-moment")).to_contain_text("Board at", timeout=15000)
    expect(page.locator("#replay-queue tr").first).to_be_visible()
    expect(page.locator("#replay-events li").first).to_be_visible()


def _officer_app_live(page, world):
    """The phone's app connected, showing its unit and the acknowledged job."""
    from playwright.sync_api import expect

    expect(page.locator("#o-conn")).to_have_text("Live", timeout=15000)
    expect(page.locator("#o-callsign")).to_have_text("CN05")
    expect(page.locator("#o-job")).to_be_visible()


def _stats_drawn(page, world):
    """The figures page with its trend chart drawn (uPlot's canvas beside its table)."""
    from playwright.sync_api import expect

    expect(page.locator("#trend-chart canvas")).to_have_count(1, timeout=15000)


SCREENS = [
    Screen("login", None, "/accounts/login/"),
    Screen("two-factor enrol", "newsup:pending", "/accounts/2fa/enrol/"),
    Screen("two-factor verify", "sup:pending", "/accounts/2fa/"),
    Screen("call-taker, results open", "handler", "/calls/", _call_taker_results),
    Screen("incident page", "handler", "/incidents/{incident}/"),
    Screen("board, incident selected, alarm raised", "dave", "/board/", _board_alarm),
    Screen("roster", "sup", "/roster/"),
    Screen("audit, with rows", "sup", "/audit/?incident={incident}"),
    Screen("my shifts", "pc_ada", "/my-shifts/"),
    Screen("admin index", "adm", "/admin/"),
    Screen("idle warning dialog", "handler", "/calls/", _idle_warning),
    Screen("settings", "handler", "/accounts/preferences/"),
    Screen("board, keys and settings dialog", "dave", "/board/", _board_help),
    # Issue 17: the operation's pages and the fallback sheet (the board screens above show a
    # declared major incident's banner).
    Screen("operation page", "handler", "/operations/{operation}/"),
    Screen("operation briefing (print page)", "handler", "/operations/{operation}/briefing/"),
    Screen("fallback log sheet", "handler", "/fallback-sheet/"),
    # The high-contrast theme (a user setting) also meets 7:1 for text (WCAG 1.4.6, AAA).
    Screen("high contrast: call-taker", "handler_hc", "/calls/", _call_taker_results, aaa=True),
    Screen("high contrast: board", "dave_hc", "/board/", _board_alarm, aaa=True),
    Screen("high contrast: incident page", "handler_hc", "/incidents/{incident}/", aaa=True),
    Screen("replay", "sup", "/replay/", _replay_loaded),
    Screen("stats", "sup", "/stats/", _stats_drawn),
    Screen("what-if: simulated days side by side", "sup", "/stats/what-if/"),
    # The public's side (issue 15): the report, its errors, the status link, the triage queue.
    Screen("public report: start", None, "/report/"),
    Screen("public report: start, errors shown", None, "/report/", _submit_empty),
    Screen("public report: fraud form, errors shown", None, "/report/fraud/", _submit_empty),
    Screen("public report: call 999", None, "/report/emergency/"),
    Screen("public report: status link", None, "/report/status/{web_slug}/?token={web_token}"),
    Screen("triage queue", "handler", "/triage/"),
    Screen("triage, report open", "handler", "/triage/{web_report}/"),
    # The officers' phones (issue 14): the unit, its status buttons and the job.
    Screen("officer app, unit and job", "pc_ada", "/m/", _officer_app_live),
]


# --- the world, the server, the browser ------------------------------------------------------


def _build_world() -> dict:

    from cad.accounts.services import user_preferences_set, user_provision
    from cad.accounts.totp import new_secret
    from cad.accounts.totp_keys import secret_encrypt
    from cad.models import TOTPDevice
    from duties.models import ShiftAssignment, Team
    from duties.tests.conftest import make_officer, make_shift
    from incidents.models import GazetteerEntry, WarningMarker

    geo = make_geography()

    def user(role, name, bcu=None):
        return user_provision(username=name, role=role, bcu_code=bcu, password=PASSWORD,
                              source="test")[0]  # fmt: skip

    handler = user("call_handler", "handler")
    dave = user("despatcher", "dave")
    for name, role in (("handler_hc", "call_handler"), ("dave_hc", "despatcher")):
        user_preferences_set(user=user(role, name), shortcuts=True, confirm_despatch=True,
                             theme="high_contrast", keys={}, by=None, source="test")  # fmt: skip
    sup = user("supervisor", "sup", "CN")
    user("supervisor", "newsup", "CN")
    adm = user("admin", "adm")
    officer_user = user("officer", "pc_ada")  # a front-line officer: the phone, no desk
    secrets = {}
    for u in (sup, adm):
        secrets[u.username] = new_secret()
        TOTPDevice.objects.create(
            user=u,
            secret_encrypted=secret_encrypt(secrets[u.username]),
            confirmed_at=timezone.now(),
        )

    make_incident_type("VIOL", default_grade="I", name="Violence against the person")
    make_incident_type("ASB1", default_grade="S", name="Rowdy behaviour")
    make_closing_code("NFA")
    make_qualifier("DA")
    GazetteerEntry.objects.create(
        key="t:1", address="12 Camden High Street, Camden", postcode="NW1 0JH",
        lat=51.545, lon=-0.16, search="12 CAMDEN HIGH STREET CAMDEN NW1 0JH",
    )  # fmt: skip
    GazetteerEntry.objects.create(
        key="t:2", address="Camden Road, Camden", kind="street",
        lat=51.546, lon=-0.158, search="CAMDEN ROAD CAMDEN",
    )  # fmt: skip
    WarningMarker.objects.create(address="12 Camden High Street", lat=51.545, lon=-0.16,
                                 text="Dog on premises", created_by=handler)  # fmt: skip
    for n, (lat, lon) in enumerate([(51.546, -0.159), (51.55, -0.14), (51.54, -0.17)], start=1):
        make_unit(geo["kentish"], callsign=f"CN0{n}", lat=lat, lon=lon)
    make_unit(geo["kentish"], callsign="CN09", lat=51.548, lon=-0.15)
    make_unit(geo["brixton"], callsign="AS01")
    # A busy board: enough rows that the queue and the unit list scroll.
    for n in range(20):
        make_unit(geo["kentish" if n % 2 else "brixton"], callsign=f"X{n:02d}",
                  lat=51.46 + n * 0.004, lon=-0.16 + n * 0.002)  # fmt: skip

    incident = make_incident(handler, type_code="VIOL", grade="I", address="12 Camden High St")
    other = make_incident(handler, type_code="ASB1", address="3 Camden High St", lat=51.5452)
    for n in range(24):
        make_incident(handler, type_code="ASB1", grade="SIER"[n % 4], address=f"{n} Acre Lane",
                      lat=51.46 + n * 0.0005, lon=-0.115)  # fmt: skip

    assignment_create(incident=other, unit=Unit.objects.get(callsign="CN03"), by=dave,
                      source="test")  # fmt: skip

    team = Team.objects.create(bcu=geo["CN"], name="Team 1")
    ada = make_officer(geo["CN"], team, last="Lovelace", user=officer_user)
    spare = make_officer(geo["CN"], team, last="Byron")
    today = timezone.localdate()
    for day in range(0, 5):
        shift = make_shift(geo["CN"], team, today + timedelta(days=day))
        ShiftAssignment.objects.create(shift=shift, officer=ada)
        if day % 2:
            ShiftAssignment.objects.create(shift=shift, officer=spare)
    # Ada is booked on now to CN05, which has a job she has acknowledged on her phone.
    now_shift = Shift.objects.create(bcu=geo["CN"], team=team, kind="early",
                                     starts_at=timezone.now() - timedelta(hours=1),
                                     ends_at=timezone.now() + timedelta(hours=7))  # fmt: skip
    ShiftAssignment.objects.create(shift=now_shift, officer=ada)
    cn05 = make_unit(geo["kentish"], callsign="CN05", status="off_duty", lat=51.547, lon=-0.161)
    crew_book_on(unit=cn05, shift=now_shift, officers=[ada], by=None, source="test")
    assignment_create(incident=incident, unit=cn05, by=dave, source="test")
    assignment_acknowledge(unit=cn05, incident_id=incident.pk, by=officer_user, source="test")
    operation = operation_create(
        by=sup, name="Carnival", bcu_code="CN", lat=51.5452, lon=-0.16, radius_m=300,
        starts_at=timezone.now() - timedelta(hours=1), ends_at=timezone.now() + timedelta(hours=8),
        commander="Ch Supt Gold", briefing="Floats from 10:00.\nRoad closures on the route.",
    )  # fmt: skip
    ring_fence_add(operation=operation, unit=Unit.objects.get(callsign="CN09"), by=sup)
    major_incident_declare(incident=incident, by=sup, methane=METHANE)
    report, token = online_report_create(data=ReportInput(
        category="crime", description="Someone took my <b>bike</b> with a knife.",
        lat=51.545, lon=-0.16, address="12 Camden High St", reporter_name="Pat Public",
        answers={"what_happened": "a red bicycle"}))  # fmt: skip
    _simulated_runs(sup)
    return {
        "incident": incident.pk,
        "reference": incident.reference,
        "secrets": secrets,
        "operation": operation.pk,
        "web_report": report.pk,
        "web_slug": report.reference.replace(" ", "-").replace("/", "-"),
        "web_token": token,
    }


def _simulated_runs(by) -> None:
    """A what-if pair as the demand simulator keeps it (on a training instance)."""

    def figures(pct: float, p50: float) -> dict:
        grade = {
            "incidents": 10,
            "attended": 10,
            "within_target": 9,
            "pct_within_target": pct,
            "target_seconds": 900,
            "p50_seconds": p50,
            "p90_seconds": p50 * 1.5,
        }
        return {"I": grade, "S": {**grade, "target_seconds": 3600}}

    with override_settings(TRAINING=True):
        base = simulation_run_record(
            result=DayResult(20, 20, figures(90.0, 400.0), 90000.0, 30.0), source="sf",
            day=timezone.localdate(), seed=1, change=Change(), by=by,
        )  # fmt: skip
        simulation_run_record(
            result=DayResult(20, 20, figures(80.0, 460.0), 90000.0, 31.0), source="sf",
            day=timezone.localdate(), seed=1, change=Change("fewer-units", "10%"), by=by,
            baseline=base,
        )  # fmt: skip


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        from cad.accounts.roles import apply_role_permissions
        from cad.models import EventCounter

        apply_role_permissions()
        EventCounter.objects.get_or_create(id=1)
        try:
            yield _build_world()
        finally:
            call_command("flush", interactive=False, verbosity=0)


@pytest.fixture(scope="module")
def base(world):
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        (pytest.fail if IN_CI else pytest.skip)("needs PostgreSQL: set DATABASE_URL")
    if not os.path.exists(CHROMIUM):
        (pytest.fail if IN_CI else pytest.skip)("needs Debian's chromium package")
    env = {
        "DATABASE_URL": subprocess_database_url(),
        "REDIS_URL": "",
        "MAP_TILE_URL": "http://127.0.0.1:9/{z}/{x}/{y}.png",  # nothing listens: no tiles
        "LOG_LEVEL": "WARNING",
    }
    with daphne_server(env) as url:
        yield url


@pytest.fixture(scope="module")
def signed_in() -> dict:
    """Cookies per user ("name:pending" stops after the password, at the second factor), so
    each user signs in once for the module (a second-factor code is good once)."""
    return {}


def _context(browser, base: str, world: dict, states: dict, who: str | None):
    from cad.accounts.totp import totp

    if who is None or who in states:
        return browser.new_context(viewport=VIEWPORT, storage_state=states.get(who))
    context = browser.new_context(viewport=VIEWPORT)
    name, _, pending = who.partition(":")
    page = context.new_page()
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", name)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    if not pending and "/accounts/2fa/" in page.url:
        page.fill("input[name=code]", totp(world["secrets"][name]))
        page.click("form[action='/accounts/2fa/'] button[type=submit]")
        page.wait_for_load_state("networkidle")
    assert ("/accounts/2fa/" in page.url) == bool(pending), f"{who}: {page.url}"
    page.close()
    states[who] = context.storage_state()
    return context


# --- the test --------------------------------------------------------------------------------


@pytest.mark.parametrize("screen", SCREENS, ids=[s.name for s in SCREENS])
def test_no_wcag_violations(screen: Screen, base, world, signed_in):
    # Playwright starts inside the test: its sync API runs an event loop, and the database
    # fixtures must not run inside one.
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = _context(browser, base, world, signed_in, screen.who).new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            if screen.prepare is _idle_warning:
                _idle_route(page)
            response = page.goto(base + screen.path.format(**world))
            assert response.status == 200, f"{screen.path}: {response.status}"
            # A signed-in screen that landed on the sign-in page would check the wrong page.
            assert screen.who is None or "/accounts/login/" not in page.url, page.url
            page.wait_for_load_state("networkidle")
            if screen.prepare:
                screen.prepare(page, world)
            ARTIFACTS.mkdir(exist_ok=True)  # what axe looked at, for the CI artifacts
            slug = re.sub(r"[^a-z0-9]+", "-", screen.name)
            page.screenshot(path=str(ARTIFACTS / f"a11y-{slug}.png"))
            violations = axe_violations(page)
            if screen.aaa:
                violations += axe_violations(page, rules=WCAG_AAA_CONTRAST)
        finally:
            browser.close()
    assert not violations, f"{screen.name} ({screen.path}):" + describe(violations)
    assert not errors, errors
