"""The authorization matrix of docs/security.md, cell by cell: role × endpoint × method × BCU.

The expected answers below are written by hand from the policy in docs/security.md, not
derived from the code under test. A cell that should be allowed must not answer 401/403 (or a
5xx); a cell that should be refused must answer 401/403 (pages: 403, or a redirect to the login
page for anonymous visitors; the Django admin: a redirect to its own login; "my shifts": 404).
Each actor's request runs in a savepoint that is rolled back, so every cell sees the same world.

Then the scope leak checks: a user scoped to BCU CN sees no row of BCU AS in any list, on the
board snapshot, or on the board socket (live events, resync and snapshot). And a guard: every
URL pattern the project serves must be classified here, so a new endpoint cannot slip in
unclassified.
"""

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from cad.asgi import application
from duties.models import Shift, ShiftAssignment, Team
from duties.tests.conftest import make_officer, make_shift
from incidents.models import Incident, WarningMarker
from incidents.services import incident_close
from incidents.tests.factories import LAMBETH, make_closing_code, make_qualifier
from resources import services as unit_services
from resources.models import Assignment, UnitStatus
from resources.tests.factories_board import new_incident
from tests.factories import make_unit

# --- the cast ---------------------------------------------------------------------------------

ANON = "anonymous"
NOBODY = "signed_in_no_role"  # an account with no role and no officer record
OFFICER = "officer"  # front-line officer: an Officer record, no control-room role
HANDLER = "call_handler"
DESP = "despatcher"  # all London
DESP_CN = "despatcher_cn"  # scoped to BCU CN
SUP = "supervisor"  # all London
SUP_CN = "supervisor_cn"
ADMIN = "admin"
GATEWAY = "radio_gateway"
ACTORS = [ANON, NOBODY, OFFICER, HANDLER, DESP, DESP_CN, SUP, SUP_CN, ADMIN, GATEWAY]

SIGNED_IN = frozenset(ACTORS) - {ANON}
DESKS = frozenset({DESP, DESP_CN, SUP, SUP_CN})
CENTRAL_DESKS = frozenset({DESP, SUP})
SUPERVISORS = frozenset({SUP, SUP_CN})
CONTROL_ROOM = DESKS | {HANDLER}  # take calls, create incidents, read callers' details
INCIDENT_READERS = CONTROL_ROOM | {ADMIN}
UNIT_READERS = INCIDENT_READERS | {GATEWAY}
DUTY_READERS = DESKS | {ADMIN}


# --- the table --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """One endpoint, method and target BCU, and who may use it.

    `path` and `body` are format templates / callables over the world's ids; `target` is the BCU
    of the object acted on ("-" when there is none).
    """

    route: str  # the URL pattern as the resolver prints it
    method: str
    target: str
    path: str
    allowed: frozenset
    body: Any = None
    kind: str = "api"  # api | page | admin | myshifts | public | monitoring
    note: str = field(default="", compare=False)

    @property
    def id(self) -> str:
        return f"{self.method} {self.route} [{self.target}]"


def _cells() -> list[Cell]:  # noqa: PLR0915  (one table)
    c = Cell
    # fmt: off
    inc = "api/v1/incidents/<int:pk>/"
    unit = "api/v1/units/<str:callsign>/"
    rows = [
        # public, identity, documentation
        c("healthz", "GET", "-", "/healthz", frozenset(ACTORS), kind="public"),
        # Operators' endpoints (cad/ops/access.py): 401 with a Bearer challenge, never a redirect.
        c("healthz/detail", "GET", "-", "/healthz/detail", SUPERVISORS | {ADMIN},
          kind="monitoring"),
        c("metrics", "GET", "-", "/metrics", SUPERVISORS | {ADMIN}, kind="monitoring"),
        c("accounts/login/", "GET", "-", "/accounts/login/", frozenset(ACTORS), kind="public"),
        c("accounts/logout/", "POST", "-", "/accounts/logout/", SIGNED_IN, kind="page"),
        c("api/v1/auth/token/", "POST", "-", "/api/v1/auth/token/", frozenset(ACTORS),
          body=lambda w: {"username": "nobody-at-all", "password": "wrong"}, kind="public"),
        c("", "GET", "-", "/", SIGNED_IN, kind="page"),
        c("admin/login/", "GET", "-", "/admin/login/", frozenset(ACTORS), kind="public"),
        c("accounts/idle/", "GET", "-", "/accounts/idle/", frozenset(ACTORS), kind="public"),
        # The second-factor pages belong to signing in; those who need none are sent home.
        c("accounts/2fa/", "GET", "-", "/accounts/2fa/", SIGNED_IN, kind="page"),
        c("accounts/2fa/enrol/", "GET", "-", "/accounts/2fa/enrol/", SIGNED_IN, kind="page"),
        # The audit trail: supervisors (their BCU's, when scoped) and admins.
        c("audit/", "GET", "-", "/audit/", SUPERVISORS | {ADMIN}, kind="page"),
        c("api/v1/audit/", "GET", "-", "/api/v1/audit/", SUPERVISORS | {ADMIN}),
        c("api/v1/audit/csv/", "GET", "-", "/api/v1/audit/csv/", SUPERVISORS | {ADMIN}),
        c("api/schema/", "GET", "-", "/api/schema/", SIGNED_IN),
        c("api/docs/", "GET", "-", "/api/docs/", SIGNED_IN),
        c("admin/", "GET", "-", "/admin/", frozenset({ADMIN}), kind="admin"),
        c("admin/", "GET", "model", "/admin/incidents/incidenttype/", frozenset({ADMIN}),
          kind="admin"),
        # reference data: any signed-in account
        c("api/v1/bcus/", "GET", "-", "/api/v1/bcus/", SIGNED_IN),
        c("api/v1/incident-types/", "GET", "-", "/api/v1/incident-types/", SIGNED_IN),
        c("api/v1/closing-codes/", "GET", "-", "/api/v1/closing-codes/", SIGNED_IN),
        c("api/v1/qualifiers/", "GET", "-", "/api/v1/qualifiers/", SIGNED_IN),
        c("api/v1/gazetteer/", "GET", "-", "/api/v1/gazetteer/?q=high", SIGNED_IN),
        # incidents
        c("api/v1/incidents/", "GET", "-", "/api/v1/incidents/", INCIDENT_READERS),
        c("api/v1/incidents/", "POST", "CN", "/api/v1/incidents/", CONTROL_ROOM,
          body=lambda w: _new_incident_body(51.545, -0.16)),
        c("api/v1/incidents/", "POST", "AS", "/api/v1/incidents/", CONTROL_ROOM,
          body=lambda w: _new_incident_body(*LAMBETH)),
        c("api/v1/incidents/check/", "GET", "AS", "/api/v1/incidents/check/?lat=51.46&lon=-0.115",
          INCIDENT_READERS),
        c("warning-markers GET", "GET", "AS", "/api/v1/warning-markers/?lat=51.46&lon=-0.115",
          INCIDENT_READERS),
        c("api/v1/warning-markers/", "POST", "AS", "/api/v1/warning-markers/", CONTROL_ROOM,
          body=lambda w: {"address": "2 Acre Lane", "lat": 51.46, "lon": -0.115, "text": "dog"}),
        c("api/v1/warning-markers/<int:pk>/expire/", "POST", "AS",
          "/api/v1/warning-markers/{marker}/expire/", DESKS | {ADMIN}),
    ]
    for bcu in ("CN", "AS"):
        local = DESKS if bcu == "CN" else CENTRAL_DESKS
        i = f"{{inc_{bcu}}}"
        rows += [
            c(inc, "GET", bcu, f"/api/v1/incidents/{i}/", INCIDENT_READERS),
            c(f"{inc}calls/", "GET", bcu, f"/api/v1/incidents/{i}/calls/", CONTROL_ROOM),
            c(f"{inc}calls/", "POST", bcu, f"/api/v1/incidents/{i}/calls/", local | {HANDLER},
              body=lambda w: {"caller": {"name": "Bea", "phone": "0207"}, "notes": "again"}),
            c(f"{inc}log/", "POST", bcu, f"/api/v1/incidents/{i}/log/", local | {HANDLER},
              body=lambda w: {"text": "note"}),
            c(f"{inc}thrive/", "POST", bcu, f"/api/v1/incidents/{i}/thrive/", local | {HANDLER},
              body=lambda w: {"threat": "low"}),
            c(f"{inc}grade/", "POST", bcu, f"/api/v1/incidents/{i}/grade/", local,
              body=lambda w: {"grade": "E", "reason": "calmer"}),
            c(f"{inc}qualifiers/", "POST", bcu, f"/api/v1/incidents/{i}/qualifiers/", local,
              body=lambda w: {"qualifiers": ["DA"]}),
            c(f"{inc}links/", "POST", bcu, f"/api/v1/incidents/{i}/links/", local,
              body=lambda w, b=bcu: {"incident": w[f"closed_{b}"], "reason": "same"}),
            c(f"{inc}close/", "POST", bcu, f"/api/v1/incidents/{i}/close/", local,
              body=lambda w: {"closing_code": "NFA"}),
            c(f"{inc}reopen/", "POST", bcu, f"/api/v1/incidents/{{closed_{bcu}}}/reopen/",
              SUPERVISORS if bcu == "CN" else frozenset({SUP}),
              body=lambda w: {"reason": "rang back"}),
            c(f"{inc}recommendations/", "GET", bcu, f"/api/v1/incidents/{i}/recommendations/",
              local),
            c(f"{inc}assign/", "POST", bcu, f"/api/v1/incidents/{i}/assign/", local,
              body=lambda w, b=bcu: {"unit": w[f"free_{b}"]}),
            c(f"{inc}unassign/", "POST", bcu, f"/api/v1/incidents/{{busy_inc_{bcu}}}/unassign/",
              local, body=lambda w, b=bcu: {"unit": w[f"busy_{b}"]}),
            c("incidents/<int:pk>/", "GET", bcu, f"/incidents/{i}/", INCIDENT_READERS,
              kind="page"),
            # units
            c(unit, "GET", bcu, f"/api/v1/units/{{free_{bcu}}}/", UNIT_READERS),
            c(f"{unit}status/", "POST", bcu, f"/api/v1/units/{{free_{bcu}}}/status/",
              local | {GATEWAY}, body=lambda w: {"status": "unavailable"}),
            c(f"{unit}position/", "POST", bcu, f"/api/v1/units/{{free_{bcu}}}/position/",
              local | {GATEWAY}, body=lambda w: {"lat": 51.5, "lon": -0.12}),
            # The alarm rings on every desk in London: any desk may raise or take it.
            c(f"{unit}emergency/", "POST", bcu, f"/api/v1/units/{{free_{bcu}}}/emergency/",
              DESKS | {GATEWAY}, body=lambda w: {}),
            c(f"{unit}emergency/acknowledge/", "POST", bcu,
              f"/api/v1/units/{{alarm_{bcu}}}/emergency/acknowledge/", DESKS),
            # duties
            c("api/v1/shifts/<int:shift_id>/", "GET", bcu, f"/api/v1/shifts/{{shift_{bcu}}}/",
              DUTY_READERS),
            c("api/v1/shifts/<int:shift_id>/officers/", "POST", bcu,
              f"/api/v1/shifts/{{shift_{bcu}}}/officers/", _sup(bcu),
              body=lambda w, b=bcu: {"officer": w[f"spare_{b}"]}),
            c("api/v1/shifts/<int:shift_id>/officers/<int:officer_id>/", "DELETE", bcu,
              f"/api/v1/shifts/{{shift_{bcu}}}/officers/{{rostered_{bcu}}}/", _sup(bcu)),
            c("api/v1/roster/cells/", "POST", bcu, "/api/v1/roster/cells/", _sup(bcu),
              body=lambda w, b=bcu: {"officer": w[f"spare_{b}"], "date": w["future"],
                                     "kind": "rest"}),
            c("api/v1/roster/patterns/", "POST", bcu, "/api/v1/roster/patterns/", _sup(bcu),
              body=lambda w, b=bcu: {"team": w[f"team_{b}"], "start": w["future"], "days": 7,
                                     "pattern": "RRRRRRR"}),
            # Officers book themselves on and off; the officer actor is `rostered_CN`.
            c("api/v1/crewing/book-on/", "POST", bcu, "/api/v1/crewing/book-on/",
              _sup(bcu) | ({OFFICER} if bcu == "CN" else set()),
              body=lambda w, b=bcu: {"unit": w[f"offduty_{b}"], "shift": w[f"now_shift_{b}"],
                                     "officers": [w[f"rostered_{b}"]]}),
            c("api/v1/crewing/book-off/", "POST", bcu, "/api/v1/crewing/book-off/",
              _sup(bcu) | ({OFFICER} if bcu == "CN" else set()),
              body=lambda w, b=bcu: {"unit": w[f"offduty_{b}"], "officers": [w[f"rostered_{b}"]]}),
            c("roster/book-on/", "POST", bcu, "/roster/book-on/",
              _sup(bcu) | ({OFFICER} if bcu == "CN" else set()), kind="form",
              body=lambda w, b=bcu: {"shift": w[f"now_shift_{b}"], "unit": w[f"offduty_{b}"],
                                     "officers": [w[f"rostered_{b}"]]}),
        ]
    rows += [
        # A local desk may send its own unit to a neighbour's incident, and vice versa.
        c(f"{inc}assign/", "POST", "AS+CN unit", "/api/v1/incidents/{inc_AS}/assign/", DESKS,
          body=lambda w: {"unit": w["free_CN"]}),
        c("api/v1/units/", "GET", "-", "/api/v1/units/", UNIT_READERS),
        c("api/v1/board/timers/", "GET", "-", "/api/v1/board/timers/", DESKS),
        c("api/v1/coverage/", "GET", "-", "/api/v1/coverage/", DESKS),
        c("api/v1/officers/", "GET", "-", "/api/v1/officers/", DUTY_READERS),
        c("api/v1/shifts/", "GET", "-", "/api/v1/shifts/", DUTY_READERS),
        c("api/v1/roster/summary/", "GET", "-", "/api/v1/roster/summary/", DUTY_READERS),
        c("api/v1/roster/csv/", "GET", "CN", "/api/v1/roster/csv/?bcu=CN", DUTY_READERS),
        c("api/v1/radio/inbound/", "POST", "-", "/api/v1/radio/inbound/", frozenset({GATEWAY}),
          body=lambda w: {"messages": [{"id": "gw-1", "issi": w["issi_CN"], "kind": "status",
                                        "code": 2, "sent_at": timezone.now().isoformat()}]}),
        c("api/v1/radio/delivery/", "POST", "-", "/api/v1/radio/delivery/",
          frozenset({GATEWAY}), body=lambda w: {"id": 999999, "state": "delivered"}),
        # pages
        c("calls/", "GET", "-", "/calls/", CONTROL_ROOM, kind="page"),
        c("board/", "GET", "-", "/board/", DESKS, kind="page"),
        c("board/snapshot/", "GET", "-", "/board/snapshot/", DESKS, kind="page"),
        c("board/boundaries/", "GET", "-", "/board/boundaries/", CONTROL_ROOM, kind="page"),
        c("roster/", "GET", "-", "/roster/", SUPERVISORS, kind="page"),
        c("roster/print/", "GET", "-", "/roster/print/", SUPERVISORS, kind="page"),
        c("roster/book-on/", "GET", "-", "/roster/book-on/", SUPERVISORS | {OFFICER},
          kind="page"),
        c("my-shifts/", "GET", "-", "/my-shifts/", frozenset({OFFICER}), kind="myshifts"),
    ]
    # fmt: on
    return rows


def _sup(bcu: str) -> frozenset:
    """Roster and crewing changes: supervisors of that BCU, or of all London."""
    return SUPERVISORS if bcu == "CN" else frozenset({SUP})


def _new_incident_body(lat: float, lon: float) -> dict:
    return {"type": "ASB1", "summary": "shouting", "location": {"lat": lat, "lon": lon,
            "address": "1 High Street"}, "caller": {"name": "Cy", "phone": "0207"}}  # fmt: skip


CELLS = _cells()
# Routes classified elsewhere in this file (the socket has its own tests below).
OTHER_ROUTES = {"ws/board/"}
GET_ROUTE_ALIASES = {"warning-markers GET": "api/v1/warning-markers/"}


# --- the world --------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _quick(settings, monkeypatch):
    """Many users are made per test: a real password hash would dominate the run time.

    Recommendation jobs are not queued: with no broker they would run in-process on commit.
    """
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    from resources import tasks

    monkeypatch.setattr(tasks.recommend_for_incident, "delay", lambda *a, **k: None)
    monkeypatch.setattr(tasks.recommend_near_unit, "delay", lambda *a, **k: None)


def build_world(geography, make_user) -> tuple[dict, dict]:
    """Users for every actor, and in each of CN and AS: incidents (open, closed, worked),
    units (free, busy, off duty, in emergency), a team, officers and shifts."""
    users = {
        NOBODY: make_user(HANDLER, username="nobody"),
        OFFICER: make_user(HANDLER, username="pc_cn"),
        HANDLER: make_user(HANDLER, username="handler"),
        DESP: make_user(DESP, username="desp"),
        DESP_CN: make_user(DESP, bcu="CN", username="desp_cn"),
        SUP: make_user(SUP, username="sup"),
        SUP_CN: make_user(SUP, bcu="CN", username="sup_cn"),
        ADMIN: make_user(ADMIN, username="admin"),
        GATEWAY: make_user(GATEWAY, username="gateway"),
    }
    for plain in (users[NOBODY], users[OFFICER]):
        plain.groups.clear()
    make_closing_code("NFA")
    make_qualifier("DA")
    ids: dict[str, Any] = {}
    today = timezone.localdate()
    future = today + timedelta(days=35 - today.weekday())
    ids["future"] = future.isoformat()
    central = users[DESP]
    for bcu, where, station in (("CN", "camden", "kentish"), ("AS", "lambeth", "brixton")):
        st = geography[station]
        ids[f"inc_{bcu}"] = new_incident(users[HANDLER], where=where, grade="S").pk
        closed = new_incident(users[HANDLER], where=where, grade="S")
        incident_close(incident=closed, by=central, closing_code="NFA", source="test")
        ids[f"closed_{bcu}"] = closed.pk
        free = make_unit(st, callsign=f"{bcu}01")
        busy = make_unit(st, callsign=f"{bcu}02")
        worked = new_incident(users[HANDLER], where=where, grade="I")
        unit_services.assignment_create(incident=worked, unit=busy, by=central, source="test")
        alarm = make_unit(st, callsign=f"{bcu}03")
        unit_services.unit_raise_emergency(unit=alarm, source="test", by=central)
        offduty = make_unit(st, callsign=f"{bcu}04", status=UnitStatus.OFF_DUTY)
        ids.update({f"free_{bcu}": free.callsign, f"busy_{bcu}": busy.callsign,
                    f"busy_inc_{bcu}": worked.pk, f"alarm_{bcu}": alarm.callsign,
                    f"offduty_{bcu}": offduty.callsign, f"issi_{bcu}": free.issi})  # fmt: skip
        team = Team.objects.create(bcu=geography[bcu], name=f"Team {bcu}")
        rostered = make_officer(geography[bcu], team, last=f"Rostered{bcu}",
                                user=users[OFFICER] if bcu == "CN" else None)  # fmt: skip
        spare = make_officer(geography[bcu], team, last=f"Spare{bcu}")
        shift = make_shift(geography[bcu], team, future)
        ShiftAssignment.objects.create(shift=shift, officer=rostered)
        now_shift = Shift.objects.create(
            bcu=geography[bcu], team=team, kind="early", minimum_strength=0,
            starts_at=timezone.now() - timedelta(hours=1),
            ends_at=timezone.now() + timedelta(hours=6),
        )  # fmt: skip
        ShiftAssignment.objects.create(shift=now_shift, officer=rostered)
        ids.update({f"team_{bcu}": team.pk, f"rostered_{bcu}": rostered.pk,
                    f"spare_{bcu}": spare.pk, f"shift_{bcu}": shift.pk,
                    f"now_shift_{bcu}": now_shift.pk})  # fmt: skip
    ids["marker"] = WarningMarker.objects.create(
        address="9 Acre Lane", lat=LAMBETH[0], lon=LAMBETH[1], text="dog", created_by=central
    ).pk
    # Jobs long past their timers, so the timer flags have rows to leak if scope failed.
    Assignment.objects.update(assigned_at=timezone.now() - timedelta(hours=3))
    return users, ids


@pytest.fixture
def world(geography, make_user):
    return build_world(geography, make_user)


# --- the matrix -------------------------------------------------------------------------------


def _client(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def _request(cell: Cell, client: Client, ids: dict):
    path = cell.path.format(**ids)
    body = cell.body(ids) if cell.body else None
    if cell.method == "GET":
        return client.get(path)
    if cell.kind == "form":
        return client.post(path, body or {})
    return client.generic(cell.method, path, _json(body), content_type="application/json")


def _json(body) -> str:
    import json

    return json.dumps(body if body is not None else {})


def _refused(cell: Cell, response, actor: str) -> bool:
    code = response.status_code
    location = response.get("Location", "")
    if cell.kind == "admin":  # the admin sends everyone without staff rights to sign in
        return code == 302 and location.startswith(("/admin/login/", "/accounts/login/"))
    if (
        actor == ANON
        and cell.kind not in ("public", "monitoring")
        and not cell.path.startswith("/api/")
    ):
        return code == 302 and location.startswith("/accounts/login/")
    if cell.kind == "myshifts":
        return code == 404  # the page says "no officer record", nothing else
    return code in (401, 403)


def _let_through(response, cell: Cell) -> bool:
    if cell.kind == "monitoring" and response.status_code == 503:
        return True  # health detail saying what is down (no workers or beat in tests)
    return response.status_code not in (401, 403) and response.status_code < 500


# Requests that end the session they are made in get a client of their own.
SESSION_ENDING = {"accounts/logout/"}


@pytest.mark.django_db
@pytest.mark.parametrize("actor", ACTORS)
def test_authorization_matrix(actor, world):
    """One actor against every endpoint/method/BCU cell; all mismatches reported at once.

    One world and one sign-in per actor; each request runs in a savepoint rolled back after it,
    so every cell sees the same world.
    """
    users, ids = world
    user = users.get(actor)
    client = _client(user)
    wrong = []
    for cell in CELLS:
        with transaction.atomic():
            own = _client(user) if cell.route in SESSION_ENDING else client
            response = _request(cell, own, ids)
            transaction.set_rollback(True)
        if actor in cell.allowed:
            if not _let_through(response, cell):
                wrong.append(f"{cell.id}: expected allowed, got {response.status_code}")
        elif not _refused(cell, response, actor):
            wrong.append(f"{cell.id}: UNEXPECTED ALLOW, got {response.status_code}")
    assert not wrong, f"{actor} ({len(wrong)} of {len(CELLS)} cells wrong): " + "; ".join(wrong)


# --- the guard: every URL pattern is in the table ------------------------------------------------


def _routes(patterns, prefix: str = "") -> list[str]:
    found = []
    for p in patterns:
        route = prefix + str(p.pattern)
        if isinstance(p, URLResolver):
            if route == "admin/":  # the Django admin is classified as a whole
                found.append(route)
            else:
                found += _routes(p.url_patterns, route)
        elif isinstance(p, URLPattern):
            found.append(route)
    return found


def test_every_url_pattern_is_in_the_matrix():
    from cad.live.routing import websocket_urlpatterns

    classified = {GET_ROUTE_ALIASES.get(c.route, c.route) for c in CELLS} | OTHER_ROUTES
    served = set(_routes(get_resolver().url_patterns)) | set(_routes(websocket_urlpatterns))
    missing = sorted(served - classified)
    assert not missing, (
        f"classify these in tests/test_authz_matrix.py and docs/security.md: {missing}"
    )
    stale = sorted(classified - served)
    assert not stale, f"the matrix names routes that no longer exist: {stale}"


def test_matrix_covers_every_method_each_view_answers():
    """A view that answers a method the table does not list would be unclassified."""
    served: dict[str, set[str]] = {}
    for route, methods in _view_methods(get_resolver().url_patterns).items():
        served[route] = methods
    listed: dict[str, set[str]] = {}
    for c in CELLS:
        listed.setdefault(GET_ROUTE_ALIASES.get(c.route, c.route), set()).add(c.method)
    missing = {r: sorted(m - listed.get(r, set())) for r, m in served.items()}
    missing = {r: m for r, m in missing.items() if m}
    assert not missing, f"unclassified methods: {missing}"


def _view_methods(patterns, prefix: str = "") -> dict[str, set[str]]:
    """Methods of DRF API views (the ones that declare them); pages are GET unless noted."""
    found: dict[str, set[str]] = {}
    for p in patterns:
        route = prefix + str(p.pattern)
        if isinstance(p, URLResolver):
            if route != "admin/":
                found.update(_view_methods(p.url_patterns, route))
            continue
        view_class = getattr(p.callback, "view_class", None) or getattr(p.callback, "cls", None)
        if view_class is None or not route.startswith("api/v1/"):
            continue
        methods = {m.upper() for m in ("get", "post", "put", "patch", "delete")
                   if hasattr(view_class, m)}  # fmt: skip
        if methods:
            found[route] = methods
    return found


# --- scope leaks: lists and the board snapshot ---------------------------------------------------

SCOPED = [DESP_CN, SUP_CN]


def _bcus_in(rows, key) -> set[str]:
    return {key(r) for r in rows}


@pytest.mark.django_db
@pytest.mark.parametrize("actor", SCOPED)
def test_scoped_lists_show_no_other_bcu(world, actor):
    users, ids = world
    client = Client()
    client.force_login(users[actor])
    leaks: dict[str, int] = {}

    def count(name: str, rows, key):
        leaks[name] = sum(1 for r in rows if key(r) == "AS")

    for query in ("", "?bcu=AS"):
        incidents = client.get(f"/api/v1/incidents/{query}").json()["results"]
        count(f"incidents{query}", incidents, lambda r: r["location"]["bcu"])
        units = client.get(f"/api/v1/units/{query}").json()
        count(f"units{query}", units, lambda r: r["bcu"])
        officers = client.get(f"/api/v1/officers/{query}").json()
        count(f"officers{query}", officers, lambda r: r["bcu"])
    week = f"from={ids['future']}&to={ids['future']}"
    for query in (f"?{week}", f"?bcu=AS&{week}"):
        shifts = client.get(f"/api/v1/shifts/{query}").json()
        count(f"shifts{query}", shifts, lambda r: r["bcu"])
        summary = client.get(f"/api/v1/roster/summary/{query}").json()
        as_shifts = {ids["shift_AS"], ids["now_shift_AS"]}
        leaks[f"roster summary{query}"] = sum(len(set(r["shifts"]) & as_shifts) for r in summary)
        if "bcu=" not in query:  # the check can see: its own BCU's shift is there
            assert any(ids["shift_CN"] in r["shifts"] for r in summary)
    csv = client.get(f"/api/v1/roster/csv/?bcu=AS&from={ids['future']}&days=7")
    leaks["roster csv ?bcu=AS"] = int(b"RosteredAS" in csv.content or b"SpareAS" in csv.content)
    snapshot = client.get("/board/snapshot/").json()["data"]
    count("snapshot incidents", snapshot["incidents"], lambda r: r["location"]["bcu"])
    count("snapshot units", snapshot["units"], lambda r: r["bcu"])
    coverage = client.get("/api/v1/coverage/").json()
    count("coverage", coverage["bcus"], lambda r: r["bcu"])
    as_incidents = {ids["inc_AS"], ids["busy_inc_AS"], ids["closed_AS"]}
    leaks["coverage I-grade"] = sum(
        1 for w in coverage["i_grade_warnings"] if w["incident"] in as_incidents
    )
    timers = client.get("/api/v1/board/timers/").json()["flags"]
    as_units = {ids[f"{k}_AS"] for k in ("free", "busy", "alarm", "offduty")}
    leaks["timers"] = sum(1 for f in timers if f["unit"] in as_units)
    assert any(f["unit"] == ids["busy_CN"] for f in timers)  # the check can see
    assert sum(leaks.values()) == 0, {k: v for k, v in leaks.items() if v}
    # The checks can see: the same lists show CN rows to this user and AS rows centrally.
    assert {r["location"]["bcu"] for r in client.get("/api/v1/incidents/").json()["results"]} == {
        "CN"
    }
    central = Client()
    central.force_login(users[DESP if actor == DESP_CN else SUP])
    everywhere = central.get("/api/v1/incidents/").json()["results"]
    assert {r["location"]["bcu"] for r in everywhere} == {"CN", "AS"}
    assert {r["bcu"] for r in central.get("/board/snapshot/").json()["data"]["units"]} == {
        "CN", "AS"
    }  # fmt: skip


@pytest.mark.django_db
def test_scoped_lists_keep_cross_border_work(world):
    """A CN unit sent to an AS incident puts that incident in CN's lists (the board's rule)."""
    users, ids = world
    incident = Incident.objects.get(pk=ids["inc_AS"])
    from resources.models import Unit

    unit_services.assignment_create(
        incident=incident, unit=Unit.objects.get(callsign=ids["free_CN"]), by=users[DESP]
    )
    client = Client()
    client.force_login(users[DESP_CN])
    listed = {r["id"] for r in client.get("/api/v1/incidents/").json()["results"]}
    assert ids["inc_AS"] in listed and ids["busy_inc_AS"] not in listed
    board = {r["id"] for r in client.get("/board/snapshot/").json()["data"]["incidents"]}
    assert ids["inc_AS"] in board and ids["busy_inc_AS"] not in board


# --- the board socket ----------------------------------------------------------------------------


async def _connect(user):
    """Through the whole ASGI stack with the user's session cookie, as a browser connects."""
    headers = [(b"origin", b"http://localhost")]
    if user is not None:
        client = Client()
        await database_sync_to_async(client.force_login)(user)
        cookie = (
            f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
        )
        headers.append((b"cookie", cookie.encode()))
    communicator = WebsocketCommunicator(application, "/ws/board/", headers=headers)
    connected, code = await communicator.connect()
    return communicator, connected, code


@pytest.mark.django_db(transaction=True)
async def test_board_socket_roles(geography, make_user, fresh_layer, close_worker_connections):
    users, _ = await database_sync_to_async(build_world)(geography, make_user)
    wrong = []
    for actor in ACTORS:
        communicator, connected, code = await _connect(users.get(actor))
        if actor in DESKS:
            ok = connected and (await communicator.receive_json_from(timeout=5))["type"] == "hello"
        else:
            ok = not connected and code == (4401 if actor == ANON else 4403)
        if not ok:
            wrong.append(f"{actor}: connected={connected} code={code}")
        await communicator.disconnect()
    assert not wrong


async def _next_live(ws) -> dict:
    """The next message; after a quiet spell, a heartbeat first.

    Live delivery is at-most-once (docs/decisions/0004-live-board.md): a lost last event is
    recovered by the client's `ping`, as the browser does every few seconds.
    """
    try:
        return await ws.receive_json_from(timeout=5)
    except TimeoutError:
        await ws.send_json_to({"type": "ping"})
        return await ws.receive_json_from(timeout=10)


def _foreign(message: dict) -> bool:
    """Does a board message carry a row of BCU AS that a CN desk has no business seeing?"""
    data = message.get("data") or {}
    if message.get("type", "").startswith("incident."):
        return (data.get("location") or {}).get("bcu") == "AS"
    if message.get("type") == "unit.updated":
        job_bcu = (data.get("job") or {}).get("incident_bcu")
        return data.get("bcu") == "AS" and job_bcu != "CN"
    return False


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("actor", SCOPED)
async def test_board_socket_scope(actor, geography, make_user, fresh_layer,
                                  close_worker_connections):  # fmt: skip
    users, ids = await database_sync_to_async(build_world)(geography, make_user)
    ws, connected, _ = await _connect(users[actor])
    assert connected
    hello = await ws.receive_json_from(timeout=5)
    create = database_sync_to_async(new_incident)
    await create(users[HANDLER], where="lambeth")
    await database_sync_to_async(unit_services.unit_set_status)(
        unit=await database_sync_to_async(_unit)(ids["free_AS"]),
        status=UnitStatus.UNAVAILABLE, source="test",
    )  # fmt: skip
    mine = await create(users[HANDLER], where="camden")
    # The stream is in seq order, so anything about AS published before would arrive first.
    seen = []
    while True:
        message = await _next_live(ws)
        seen.append(message)
        if message.get("type") == "incident.created" and message["data"]["id"] == mine.pk:
            break
    live_leaks = [m for m in seen if _foreign(m)]
    await ws.send_json_to({"type": "resync", "since": 0})
    replayed = []
    while (message := await ws.receive_json_from(timeout=5))["type"] not in {
        "resynced",
        "snapshot",
    }:
        replayed.append(message)
    await ws.send_json_to({"type": "snapshot"})
    snapshot = await ws.receive_json_from(timeout=5)
    while snapshot["type"] != "snapshot":
        snapshot = await ws.receive_json_from(timeout=5)
    await ws.disconnect()
    snapshot_leaks = [i for i in snapshot["data"]["incidents"] if i["location"]["bcu"] == "AS"]
    snapshot_leaks += [u for u in snapshot["data"]["units"] if u["bcu"] == "AS"]
    assert hello["bcu"] == "CN"
    assert not live_leaks and not [m for m in replayed if _foreign(m)] and not snapshot_leaks
    # The checks can see: CN traffic does arrive on every path.
    assert any(m["data"]["id"] == mine.pk for m in replayed if m["type"] == "incident.created")
    assert any(i["id"] == mine.pk for i in snapshot["data"]["incidents"])


def _unit(callsign: str):
    from resources.models import Unit

    return Unit.objects.get(callsign=callsign)


def test_the_table_mirrors_the_documented_roles():
    """The doc lists the same actors, so the doc and this table cannot drift silently."""
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "docs" / "security.md").read_text()
    section = text.split("## Authorization matrix", 1)[1].split("\n## ", 1)[0]
    for route in {GET_ROUTE_ALIASES.get(c.route, c.route) for c in CELLS} | OTHER_ROUTES:
        shown = "/" + route if route else "/"
        shown = shown.replace("<int:pk>", "{id}").replace("<str:callsign>", "{callsign}")
        shown = shown.replace("<int:shift_id>", "{id}").replace("<int:officer_id>", "{officer}")
        assert f"`{shown}`" in section, f"docs/security.md does not list {shown}"
