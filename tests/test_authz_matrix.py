"""The authorization matrix of docs/security.md, cell by cell: role × endpoint × method × BCU.

The expected answers below are written by hand from the policy in docs/security.md, not
derived from the code under test. Pages, the Django admin and the API are all in it.

- An **allowed** cell must really get through: a success (2xx; a page's redirect elsewhere than
  the login page; a form's redirect with no error message), or the one other answer written on
  the cell (`ok`) because it is the real answer to that request (a wrong password is a 400, a
  unit of another BCU a 409 `wrong_bcu`). A 400, 404 or 409 is never taken for "allowed" by
  default: it may mean the request never reached the check the cell is about.
- A **refused** cell must answer 401/403 (pages: 403, or a redirect to the login page for
  anonymous visitors; the Django admin: a redirect to its login for non-staff, 403 for staff
  without the permission; "my shifts": 404). A 400, 404 or 409 is not a refusal.
- **Role before the request**: whoever has no role for an endpoint gets the same 401/403 for
  any request to it: an empty or malformed body, ids that do not exist. A 400 or 404 there
  would tell them what exists (`test_no_role_learns_nothing_from_the_answer`).
- **CSRF**: every session-authenticated write is refused without the CSRF token and let
  through with it (`test_session_writes_need_the_csrf_token`).

Each actor's request runs in a savepoint that is rolled back (after the cell's `setup`, if any),
so every cell sees the same world.

Then the scope leak checks: a user scoped to BCU CN sees no row of BCU AS in any list, on the
board snapshot, or on the board socket (live events, resync and snapshot). And guards: every
URL pattern the project serves (pages, the API, each admin model's views) must be classified
here, and every method a page or API view answers, so nothing new slips in unclassified.
"""

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.models import Group, User
from django.contrib.contenttypes.models import ContentType
from django.contrib.messages import get_messages
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from knox.models import AuthToken

from cad.accounts.preferences import SHORTCUTS
from cad.asgi import application
from cad.live.routing import websocket_urlpatterns
from cad.models import LoginFailure
from duties.models import Officer, Shift, ShiftAssignment, Team
from duties.services import crew_book_on
from duties.tests.conftest import make_officer, make_shift
from incidents.crime.models import CrimeClassification
from incidents.crime.services import crime_report_draft, crime_report_update
from incidents.models import (
    GazetteerEntry,
    Incident,
    InvestigationCase,
    MessageTemplate,
    WarningMarker,
)
from incidents.operations.services import major_incident_declare, operation_create
from incidents.public.services import ReportInput, online_report_create, online_report_triage
from incidents.services import incident_close, incident_regrade
from incidents.tests.test_major_incident import METHANE
from radio.models import RadioMessage
from resources import despatch, tasks
from resources import services as unit_services
from resources.models import Assignment, Unit, UnitStatus
from resources.partners.models import PartnerAgency, PartnerDelivery, PartnerShare
from resources.ringfence import ring_fence_add
from tests.factories import (
    LAMBETH,
    make_closing_code,
    make_incident,
    make_incident_type,
    make_qualifier,
    make_skill,
    make_unit,
)
from tests.sockets import CONNECT_S

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
ROOT = "superuser"  # the operator's account; only in the admin's part of the matrix
ACTORS = [ANON, NOBODY, OFFICER, HANDLER, DESP, DESP_CN, SUP, SUP_CN, ADMIN, GATEWAY]

SIGNED_IN = frozenset(ACTORS) - {ANON}
DESKS = frozenset({DESP, DESP_CN, SUP, SUP_CN})
CENTRAL_DESKS = frozenset({DESP, SUP})
SUPERVISORS = frozenset({SUP, SUP_CN})
CONTROL_ROOM = DESKS | {HANDLER}  # take calls, create incidents, read callers' details
INCIDENT_READERS = CONTROL_ROOM | {ADMIN}
UNIT_READERS = INCIDENT_READERS | {GATEWAY}
DUTY_READERS = DESKS | {ADMIN}
TRIAGERS = frozenset({HANDLER, SUP, SUP_CN})  # online reports (issue 15)


# --- the table --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """One endpoint, method and target BCU, and who may use it.

    `path` and `body` are format templates / callables over the world's ids; `target` is the BCU
    of the object acted on ("-" when there is none). `ok` is the answer an allowed actor gets
    when it is not a plain success (a status code, or a test of the response); `setup` runs in
    the cell's savepoint before the request.
    """

    route: str  # the URL pattern as the resolver prints it
    method: str
    target: str
    path: str
    allowed: frozenset
    body: Any = None
    kind: str = "api"  # api | page | form | admin | myshifts | public | monitoring
    ok: Any = field(default=None, compare=False)
    setup: Callable | None = field(default=None, compare=False)
    note: str = field(default="", compare=False)

    @property
    def id(self) -> str:
        return f"{self.method} {self.route} [{self.target}]"


def _form_refused_by_state(response) -> bool:
    """A page form let through to the service, which said no (the page's 409): a redirect
    back with the reason as an error message."""
    return response.status_code == 302 and any(
        m.level_tag == "error" for m in get_messages(response.wsgi_request)
    )


def _sent_on_or_wrong_code(response) -> bool:
    if response.status_code == 400:
        return b"That code is not right" in response.content
    return response.status_code == 302 and not _to_login(response)


def _to_change_view(response) -> bool:
    return response.status_code == 302 and response["Location"].endswith("/change/")


def _signed_out(response) -> bool:
    """Logging out: back to the login page, and no `next` (that is the anonymous refusal)."""
    return response.status_code == 302 and "next=" not in response["Location"]


def _crew(bcu: str, unit: str = "offduty"):
    """Setup: the roster officer of `bcu` booked on to its off-duty unit (so it can book off)."""

    def setup(users, ids):
        crew_book_on(unit=Unit.objects.get(callsign=ids[f"{unit}_{bcu}"]),
                     shift=Shift.objects.get(pk=ids[f"now_shift_{bcu}"]),
                     officers=[_officer(ids[f"rostered_{bcu}"])], by=users[SUP],
                     source="test")  # fmt: skip

    return setup


def _officer(pk) -> Officer:
    return Officer.objects.get(pk=pk)


def _assign(incident: str, unit: str):
    def setup(users, ids):
        despatch.assignment_create(incident=Incident.objects.get(pk=ids[incident]),
                                        unit=Unit.objects.get(callsign=ids[unit]),
                                        by=users[DESP], source="test")  # fmt: skip

    return setup


def _crime_draft(incident: str, *, classified: bool = False):
    """Setup: a crime report drafted for the incident (classified, so it can be submitted)."""

    def setup(users, ids):
        inc = Incident.objects.get(pk=ids[incident])
        crime_report_draft(incident=inc, by=users[HANDLER])
        if classified:
            crime_report_update(incident=inc, by=users[HANDLER], changes={"classification": "MISC"})

    return setup


def _cells() -> list[Cell]:  # noqa: PLR0915  (one table)
    c = Cell
    # fmt: off
    inc = "api/v1/incidents/<int:pk>/"
    op = "api/v1/operations/<int:pk>/"
    unit = "api/v1/units/<text:callsign>/"
    wrong_login = {"username": "nobody-at-all", "password": "wrong"}
    rows = [
        # public, identity, documentation
        c("healthz", "GET", "-", "/healthz", frozenset(ACTORS), kind="public"),
        c("accounts/login/", "GET", "-", "/accounts/login/", frozenset(ACTORS), kind="public"),
        # A wrong password is refused by the form itself (200, "didn't match").
        c("accounts/login/", "POST", "-", "/accounts/login/", frozenset(ACTORS),
          body=lambda w: wrong_login, kind="public", ok={200}),
        c("accounts/logout/", "POST", "-", "/accounts/logout/", SIGNED_IN, kind="page",
          ok=_signed_out),
        c("api/v1/auth/token/", "POST", "-", "/api/v1/auth/token/", frozenset(ACTORS),
          body=lambda w: wrong_login, kind="public", ok={400}),
        # Ends the API token it is sent with: token clients only, so every session gets 401
        # (cad/tests/test_api_tokens.py covers the token holders).
        c("api/v1/auth/logout/", "POST", "-", "/api/v1/auth/logout/", frozenset()),
        c("", "GET", "-", "/", SIGNED_IN, kind="page"),
        # Operators' endpoints (cad/ops/access.py): 401 with a Bearer challenge, never a redirect.
        c("healthz/detail", "GET", "-", "/healthz/detail", SUPERVISORS | {ADMIN},
          kind="monitoring"),
        c("metrics", "GET", "-", "/metrics", SUPERVISORS | {ADMIN}, kind="monitoring"),
        c("admin/login/", "GET", "-", "/admin/login/", frozenset(ACTORS), kind="public",
          ok={302}),
        c("accounts/idle/", "GET", "-", "/accounts/idle/", frozenset(ACTORS), kind="public"),
        c("accounts/idle/", "POST", "-", "/accounts/idle/", frozenset(ACTORS), kind="public"),
        # A reset link mailed by an admin: the token is the credential (a wrong one is refused
        # on the page itself: "this link no longer works").
        c("accounts/reset/<uidb64>/<token>/", "GET", "-", "/accounts/reset/MQ/bad-token/",
          frozenset(ACTORS), kind="public"),
        c("accounts/reset/<uidb64>/<token>/", "POST", "-", "/accounts/reset/MQ/bad-token/",
          frozenset(ACTORS), kind="public", body=lambda w: {"new_password1": "x"}),
        c("accounts/reset/done/", "GET", "-", "/accounts/reset/done/", frozenset(ACTORS),
          kind="public"),
        # The second-factor pages belong to signing in; those who need none (or have given it)
        # are sent on.
        c("accounts/2fa/", "GET", "-", "/accounts/2fa/", SIGNED_IN, kind="page"),
        c("accounts/2fa/", "POST", "-", "/accounts/2fa/", SIGNED_IN, kind="form",
          body=lambda w: {"code": "000000"}),
        c("accounts/2fa/enrol/", "GET", "-", "/accounts/2fa/enrol/", SIGNED_IN, kind="page"),
        # Those due a second factor and without a device yet are told the code is wrong (400).
        c("accounts/2fa/enrol/", "POST", "-", "/accounts/2fa/enrol/", SIGNED_IN, kind="form",
          body=lambda w: {"code": "000000"}, ok=_sent_on_or_wrong_code),
        # Everyone's own screen settings (docs/accessibility.md).
        c("accounts/preferences/", "GET", "-", "/accounts/preferences/", SIGNED_IN, kind="page"),
        c("accounts/preferences/", "POST", "-", "/accounts/preferences/", SIGNED_IN, kind="form",
          body=lambda w: {"theme": "high_contrast", "shortcuts": "on",
                         **{f"key-{s.action}": s.key for s in SHORTCUTS}}),
        c("api/v1/me/preferences/", "GET", "-", "/api/v1/me/preferences/", SIGNED_IN),
        c("api/v1/me/preferences/", "PUT", "-", "/api/v1/me/preferences/", SIGNED_IN,
          body=lambda w: {"theme": "high_contrast"}),
        # The audit trail: supervisors (their BCU's, when scoped) and admins.
        c("audit/", "GET", "-", "/audit/", SUPERVISORS | {ADMIN}, kind="page"),
        c("api/v1/audit/", "GET", "-", "/api/v1/audit/", SUPERVISORS | {ADMIN}),
        c("api/v1/audit/csv/", "GET", "-", "/api/v1/audit/csv/", SUPERVISORS | {ADMIN}),
        # Replay (issue 20): the board at any moment, supervisors (their BCU's) and admins.
        c("replay/", "GET", "-", "/replay/", SUPERVISORS | {ADMIN}, kind="page"),
        c("api/v1/board/at/", "GET", "-", "/api/v1/board/at/?t={replay_at}",
          SUPERVISORS | {ADMIN}),
        c("api/v1/board/timeline/", "GET", "-",
          "/api/v1/board/timeline/?from={replay_from}&to={replay_at}", SUPERVISORS | {ADMIN}),
        c("api/schema/", "GET", "-", "/api/schema/", SIGNED_IN),
        c("api/docs/", "GET", "-", "/api/docs/", SIGNED_IN),
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
        crew = _sup(bcu) | ({OFFICER} if bcu == "CN" else set())  # officer actor: rostered_CN
        i = f"{{inc_{bcu}}}"
        rows += [
            c(inc, "GET", bcu, f"/api/v1/incidents/{i}/", INCIDENT_READERS),
            c(f"{inc}calls/", "GET", bcu, f"/api/v1/incidents/{i}/calls/", CONTROL_ROOM),
            # Attaching a call names the incident it joins: call handlers anywhere, desks in
            # scope (the cross-BCU cell for "attach call" is the AS one of these).
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
            # planned operations and major incidents (issue 17)
            c(f"{op}", "GET", bcu, f"/api/v1/operations/{{op_{bcu}}}/", INCIDENT_READERS),
            c(f"{op}events/", "GET", bcu, f"/api/v1/operations/{{op_{bcu}}}/events/",
              INCIDENT_READERS),
            c(f"{op}log/", "POST", bcu, f"/api/v1/operations/{{op_{bcu}}}/log/", _sup(bcu),
              body=lambda w: {"text": "kick-off delayed"}),
            c(f"{op}units/", "POST", bcu, f"/api/v1/operations/{{op_{bcu}}}/units/", _sup(bcu),
              body=lambda w, b=bcu: {"unit": w[f"free_{b}"]}),
            c(f"{op}units/<text:callsign>/", "DELETE", bcu,
              f"/api/v1/operations/{{op_{bcu}}}/units/{{busy_{bcu}}}/", _sup(bcu)),
            c("operations/<int:pk>/", "GET", bcu, f"/operations/{{op_{bcu}}}/", INCIDENT_READERS,
              kind="page"),
            c("operations/<int:pk>/briefing/", "GET", bcu, f"/operations/{{op_{bcu}}}/briefing/",
              INCIDENT_READERS, kind="page"),
            c(f"{inc}major-incident/", "POST", bcu, f"/api/v1/incidents/{i}/major-incident/",
              _sup(bcu), body=lambda w: {"methane": METHANE}),
            c(f"{inc}major-incident/", "GET", bcu,
              f"/api/v1/incidents/{{busy_inc_{bcu}}}/major-incident/", INCIDENT_READERS),
            c(f"{inc}major-incident/stand-down/", "POST", bcu,
              f"/api/v1/incidents/{{busy_inc_{bcu}}}/major-incident/stand-down/", _sup(bcu),
              body=lambda w: {"reason": "scene cleared"}),
            c(f"{inc}major-incident/mobilisation/", "POST", bcu,
              f"/api/v1/incidents/{{busy_inc_{bcu}}}/major-incident/mobilisation/", local,
              body=lambda w: {"kind": "serial", "name": "U231"}),
            c("api/v1/shifts/<int:shift_id>/operation/", "POST", bcu,
              f"/api/v1/shifts/{{now_shift_{bcu}}}/operation/", _sup(bcu),
              body=lambda w, b=bcu: {"operation": w[f"op_{b}"]}),
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
            # Officers book themselves on and off; supervisors anyone, in their BCU.
            c("api/v1/crewing/book-on/", "POST", bcu, "/api/v1/crewing/book-on/", crew,
              body=lambda w, b=bcu: {"unit": w[f"offduty_{b}"], "shift": w[f"now_shift_{b}"],
                                     "officers": [w[f"rostered_{b}"]]}),
            c("api/v1/crewing/book-off/", "POST", bcu, "/api/v1/crewing/book-off/", crew,
              setup=_crew(bcu),
              body=lambda w, b=bcu: {"unit": w[f"offduty_{b}"], "officers": [w[f"rostered_{b}"]]}),
            c("roster/book-on/", "POST", bcu, "/roster/book-on/", crew, kind="form",
              body=lambda w, b=bcu: {"shift": w[f"now_shift_{b}"], "unit": w[f"offduty_{b}"],
                                     "officers": [w[f"rostered_{b}"]], "action": "book_on"}),
            c("roster/book-on/", "POST", f"{bcu} off", "/roster/book-on/", crew, kind="form",
              setup=_crew(bcu),
              body=lambda w, b=bcu: {"shift": w[f"now_shift_{b}"], "unit": w[f"offduty_{b}"],
                                     "officers": [w[f"rostered_{b}"]], "action": "book_off"}),
        ]
    rows += [
        # --- cross-BCU: writes that name a second object ---
        # A link is written into both incidents: both must be in scope.
        c(f"{inc}links/", "POST", "CN+AS other", "/api/v1/incidents/{inc_CN}/links/",
          CENTRAL_DESKS, body=lambda w: {"incident": w["closed_AS"], "reason": "same"}),
        c(f"{inc}links/", "POST", "AS+CN other", "/api/v1/incidents/{inc_AS}/links/",
          CENTRAL_DESKS, body=lambda w: {"incident": w["closed_CN"], "reason": "same"}),
        # A local desk may send its own unit to a neighbour's incident, and vice versa.
        c(f"{inc}assign/", "POST", "AS+CN unit", "/api/v1/incidents/{inc_AS}/assign/", DESKS,
          body=lambda w: {"unit": w["free_CN"]}),
        c(f"{inc}assign/", "POST", "CN+AS unit", "/api/v1/incidents/{inc_CN}/assign/", DESKS,
          body=lambda w: {"unit": w["free_AS"]}),
        c(f"{inc}unassign/", "POST", "AS+CN unit", "/api/v1/incidents/{inc_AS}/unassign/",
          DESKS, setup=_assign("inc_AS", "free_CN"), body=lambda w: {"unit": w["free_CN"]}),
        # Booking on names a shift and a unit: a supervisor needs both in scope. Those let
        # through learn the real answer, a 409: a unit is crewed from its own BCU's shifts.
        c("api/v1/crewing/book-on/", "POST", "CN shift+AS unit", "/api/v1/crewing/book-on/",
          frozenset({SUP, OFFICER}), ok={409},
          body=lambda w: {"unit": w["offduty_AS"], "shift": w["now_shift_CN"],
                          "officers": [w["rostered_CN"]]}),
        c("api/v1/crewing/book-on/", "POST", "AS shift+CN unit", "/api/v1/crewing/book-on/",
          frozenset({SUP}), ok={409},
          body=lambda w: {"unit": w["offduty_CN"], "shift": w["now_shift_AS"],
                          "officers": [w["rostered_AS"]]}),
        c("roster/book-on/", "POST", "CN shift+AS unit", "/roster/book-on/",
          frozenset({SUP, OFFICER}), kind="form", ok=_form_refused_by_state,
          body=lambda w: {"shift": w["now_shift_CN"], "unit": w["offduty_AS"],
                          "officers": [w["rostered_CN"]], "action": "book_on"}),
        # Booking off on the page names a shift too; the unit's BCU is what counts.
        c("roster/book-on/", "POST", "CN shift+AS unit off", "/roster/book-on/",
          frozenset({SUP}), kind="form", setup=_crew("AS"),
          body=lambda w: {"shift": w["now_shift_CN"], "unit": w["offduty_AS"],
                          "officers": [w["rostered_AS"]], "action": "book_off"}),
        # lists and the rest
        c("api/v1/units/", "GET", "-", "/api/v1/units/", UNIT_READERS),
        c("api/v1/operations/", "GET", "-", "/api/v1/operations/", INCIDENT_READERS),
        c("api/v1/operations/", "POST", "CN", "/api/v1/operations/", SUPERVISORS,
          body=lambda w: _new_operation_body("CN")),
        c("api/v1/operations/", "POST", "AS", "/api/v1/operations/", frozenset({SUP}),
          body=lambda w: _new_operation_body("AS")),
        c("operations/", "GET", "-", "/operations/", INCIDENT_READERS, kind="page"),
        c("fallback-sheet/", "GET", "-", "/fallback-sheet/", INCIDENT_READERS, kind="page"),
        c("api/v1/board/timers/", "GET", "-", "/api/v1/board/timers/", DESKS),
        c("api/v1/coverage/", "GET", "-", "/api/v1/coverage/", DESKS),
        c("api/v1/officers/", "GET", "-", "/api/v1/officers/", DUTY_READERS),
        c("api/v1/shifts/", "GET", "-", "/api/v1/shifts/", DUTY_READERS),
        c("api/v1/roster/summary/", "GET", "-", "/api/v1/roster/summary/", DUTY_READERS),
        c("api/v1/roster/csv/", "GET", "CN", "/api/v1/roster/csv/?bcu=CN", DUTY_READERS),
        # performance figures (docs/stats.md): supervisors (a scoped one, its own BCU), admins
        c("api/v1/stats/response-times/", "GET", "-", "/api/v1/stats/response-times/",
          SUPERVISORS | {ADMIN}),
        c("api/v1/stats/response-times/", "GET", "AS", "/api/v1/stats/response-times/?bcu=AS",
          frozenset({SUP, ADMIN})),
        c("api/v1/radio/inbound/", "POST", "-", "/api/v1/radio/inbound/", frozenset({GATEWAY}),
          ok={202},
          body=lambda w: {"messages": [{"id": "gw-1", "issi": w["issi_CN"], "kind": "status",
                                        "code": 2, "sent_at": timezone.now().isoformat()}]}),
        c("api/v1/radio/delivery/", "POST", "-", "/api/v1/radio/delivery/",
          frozenset({GATEWAY}), body=lambda w: {"id": w["outbound"], "state": "delivered"}),
        # Other services (issue 18). EIDO export: whoever reads incidents. Sharing: the desks of
        # the incident's BCU. Inbound: role partner_agency only, which no actor here has
        # (resources/tests/test_partners_eido.py covers it), so everyone here is refused.
        c(f"{inc}eido/", "GET", "CN", "/api/v1/incidents/{inc_CN}/eido/", INCIDENT_READERS),
        c(f"{inc}partners/", "POST", "CN", "/api/v1/incidents/{inc_CN}/partners/", DESKS,
          body=lambda w: {"partner": "LFB"}),
        c(f"{inc}partners/", "POST", "AS", "/api/v1/incidents/{inc_AS}/partners/",
          CENTRAL_DESKS, body=lambda w: {"partner": "LFB"}),
        c("api/v1/eido/inbound/", "POST", "-", "/api/v1/eido/inbound/", frozenset(),
          body=lambda w: {}),
        # Crime reports: call handlers anywhere, desks in their BCU (as calls and log notes).
        c(f"{inc}crime-report/", "POST", "CN", "/api/v1/incidents/{inc_CN}/crime-report/",
          CONTROL_ROOM),
        c(f"{inc}crime-report/", "POST", "AS", "/api/v1/incidents/{inc_AS}/crime-report/",
          CENTRAL_DESKS | {HANDLER}),
        c(f"{inc}crime-report/", "GET", "CN", "/api/v1/incidents/{inc_CN}/crime-report/",
          CONTROL_ROOM, setup=_crime_draft("inc_CN")),
        c(f"{inc}crime-report/", "PATCH", "CN", "/api/v1/incidents/{inc_CN}/crime-report/",
          CONTROL_ROOM, setup=_crime_draft("inc_CN"), body=lambda w: {"mo": "forced a door"}),
        c(f"{inc}crime-report/submit/", "POST", "CN",
          "/api/v1/incidents/{inc_CN}/crime-report/submit/", CONTROL_ROOM,
          setup=_crime_draft("inc_CN", classified=True), ok={202}),
        c(f"{inc}crime-report/submit/", "POST", "AS",
          "/api/v1/incidents/{inc_AS}/crime-report/submit/", CENTRAL_DESKS | {HANDLER},
          setup=_crime_draft("inc_AS", classified=True), ok={202}),
        # pages
        c("calls/", "GET", "-", "/calls/", CONTROL_ROOM, kind="page"),
        c("board/", "GET", "-", "/board/", DESKS, kind="page"),
        c("board/snapshot/", "GET", "-", "/board/snapshot/", DESKS, kind="page"),
        c("board/figures/", "GET", "-", "/board/figures/", DESKS, kind="page"),
        c("board/boundaries/", "GET", "-", "/board/boundaries/", CONTROL_ROOM, kind="page"),
        c("roster/", "GET", "-", "/roster/", SUPERVISORS, kind="page"),
        c("roster/print/", "GET", "-", "/roster/print/", SUPERVISORS, kind="page"),
        c("roster/book-on/", "GET", "-", "/roster/book-on/", SUPERVISORS | {OFFICER},
          kind="page"),
        c("my-shifts/", "GET", "-", "/my-shifts/", frozenset({OFFICER}), kind="myshifts"),
        c("stats/", "GET", "-", "/stats/", SUPERVISORS | {ADMIN}, kind="page"),
        c("stats/", "GET", "AS", "/stats/?bcu=AS&csv=grades", frozenset({SUP, ADMIN}),
          kind="page"),
        c("stats/what-if/", "GET", "-", "/stats/what-if/", SUPERVISORS | {ADMIN}, kind="page"),
        # --- the public's side (issue 15; docs/public-contact.md) ---
        # The public: no sign-in, throttled per address.
        c("api/v1/public/report-categories/", "GET", "-", "/api/v1/public/report-categories/",
          frozenset(ACTORS), kind="public"),
        c("api/v1/public/reports/", "POST", "-", "/api/v1/public/reports/", frozenset(ACTORS),
          kind="public", ok={201}, body=lambda w: _public_report_body()),
        c("api/v1/public/reports/<textpath:reference>/", "GET", "-",
          "/api/v1/public/reports/{web_slug}/?token={web_token}", frozenset(ACTORS),
          kind="public"),
        c("report/", "GET", "-", "/report/", frozenset(ACTORS), kind="public"),
        c("report/", "POST", "-", "/report/", frozenset(ACTORS), kind="form",
          body=lambda w: {"danger": "no", "category": "fraud"}, ok=_redirect_not_login),
        c("report/emergency/", "GET", "-", "/report/emergency/", frozenset(ACTORS),
          kind="public"),
        c("report/status/<str:slug>/", "GET", "-", "/report/status/{web_slug}/?token={web_token}",
          frozenset(ACTORS), kind="public"),
        c("report/<slug:category>/", "GET", "-", "/report/seen_heard/", frozenset(ACTORS),
          kind="public"),
        c("report/<slug:category>/", "POST", "-", "/report/seen_heard/", frozenset(ACTORS),
          kind="form", ok=_redirect_not_login,
          body=lambda w: {"description": "noise", "lat": "51.545", "lon": "-0.16",
                          "name": "Pat", "updates_by": "none"}),
        # GOV.UK Notify's callbacks: its bearer token, never a session or a role.
        c("api/v1/public/notify/status/", "POST", "-", "/api/v1/public/notify/status/",
          frozenset(), body=lambda w: {"id": "x", "status": "delivered"}),
        c("api/v1/public/notify/inbound/", "POST", "-", "/api/v1/public/notify/inbound/",
          frozenset(), body=lambda w: {"source_number": "447700900123", "message": "STOP"}),
        # Triage: call handlers (all London), supervisors (their BCU).
        c("api/v1/online-reports/", "GET", "-", "/api/v1/online-reports/", TRIAGERS),
        c("triage/", "GET", "-", "/triage/", TRIAGERS, kind="page"),
        c("api/v1/investigations/", "GET", "-", "/api/v1/investigations/", TRIAGERS),
        c("api/v1/investigations/<int:pk>/", "POST", "-", "/api/v1/investigations/{case}/",
          TRIAGERS, body=lambda w: {"owner": None, "status": "unallocated"}),
        c("api/v1/incidents/<int:pk>/messages/", "GET", "CN",
          "/api/v1/incidents/{inc_CN}/messages/", INCIDENT_READERS),
    ]
    for bcu in ("CN", "AS"):
        who = TRIAGERS if bcu == "CN" else TRIAGERS - {SUP_CN}
        rows += [
            c("api/v1/online-reports/<int:pk>/", "GET", bcu,
              f"/api/v1/online-reports/{{web_{bcu}}}/", who),
            c("api/v1/online-reports/<int:pk>/triage/", "POST", bcu,
              f"/api/v1/online-reports/{{web_{bcu}}}/triage/", who,
              body=lambda w: {"decision": "close", "reason": "advice given"}),
            c("triage/<int:pk>/", "GET", bcu, f"/triage/{{web_{bcu}}}/", who, kind="page"),
            c("triage/<int:pk>/", "POST", bcu, f"/triage/{{web_{bcu}}}/", who, kind="form",
              body=lambda w: {"decision": "close", "reason": "advice given"}),
        ]
    rows += _officer_cells()
    # fmt: on
    return rows


def _public_report_body() -> dict:
    return {"category": "seen_heard", "description": "a van every night",
            "location": {"lat": 51.545, "lon": -0.16}, "reporter": {"name": "Pat"}}  # fmt: skip


def _redirect_not_login(response) -> bool:
    return response.status_code == 302 and not _to_login(response)


def _on_a_job(users, ids):
    """Setup: the officer (rostered_CN) booked on to CN04 and CN04 sent to inc_CN."""
    _crew("CN")(users, ids)
    _assign("inc_CN", "offduty_CN")(users, ids)


def _officer_cells() -> list[Cell]:
    """The officers' phones (docs/officer-app.md): the `officer` role linked to a roster
    officer, about the unit they are booked on to and its job; nobody else, no other job."""
    c = Cell
    me = frozenset({OFFICER})
    ack = "api/v1/me/incidents/<int:pk>/acknowledge/"
    cb = "api/v1/me/incidents/<int:pk>/callback/"
    # fmt: off
    return [
        c("m/", "GET", "-", "/m/", me, kind="page"),
        # The worker and the manifest hold no data; a signed-out phone must still update them.
        c("m/sw.js", "GET", "-", "/m/sw.js", frozenset(ACTORS), kind="public"),
        c("m/manifest.webmanifest", "GET", "-", "/m/manifest.webmanifest", frozenset(ACTORS),
          kind="public"),
        c("api/v1/me/", "GET", "-", "/api/v1/me/", me),
        c("api/v1/me/job/", "GET", "CN", "/api/v1/me/job/", me, setup=_on_a_job),
        c("api/v1/me/jobs/", "GET", "CN", "/api/v1/me/jobs/", me, setup=_on_a_job),
        c("api/v1/me/status/", "POST", "CN", "/api/v1/me/status/", me, setup=_crew("CN"),
          body=lambda w: {"status": "unavailable", "reason": "refuelling"}),
        c("api/v1/me/emergency/", "POST", "CN", "/api/v1/me/emergency/", me,
          setup=_crew("CN"), body=lambda w: {}),
        c("api/v1/me/request-to-speak/", "POST", "CN", "/api/v1/me/request-to-speak/", me,
          setup=_on_a_job, body=lambda w: {}),
        c(ack, "POST", "CN", "/api/v1/me/incidents/{inc_CN}/acknowledge/", me,
          setup=_on_a_job, body=lambda w: {}),
        # Another unit's job, even in the officer's own BCU: nobody's from the phone.
        c(ack, "POST", "CN other job", "/api/v1/me/incidents/{busy_inc_CN}/acknowledge/",
          frozenset(), setup=_on_a_job, body=lambda w: {}),
        c(ack, "POST", "AS", "/api/v1/me/incidents/{busy_inc_AS}/acknowledge/", frozenset(),
          setup=_on_a_job, body=lambda w: {}),
        c(cb, "GET", "CN", "/api/v1/me/incidents/{inc_CN}/callback/", me, setup=_on_a_job),
        c(cb, "GET", "CN other job", "/api/v1/me/incidents/{busy_inc_CN}/callback/",
          frozenset(), setup=_on_a_job),
        c(cb, "GET", "AS", "/api/v1/me/incidents/{busy_inc_AS}/callback/", frozenset(),
          setup=_on_a_job),
    ]
    # fmt: on


def _sup(bcu: str) -> frozenset:
    """Roster and crewing changes: supervisors of that BCU, or of all London."""
    return SUPERVISORS if bcu == "CN" else frozenset({SUP})


def _new_operation_body(bcu: str) -> dict:
    now = timezone.now()
    return {"name": "March", "bcu": bcu, "starts_at": now.isoformat(),
            "ends_at": (now + timedelta(hours=4)).isoformat(),
            "location": {"lat": 51.5, "lon": -0.12, "address": "Trafalgar Square"}}  # fmt: skip


def _new_incident_body(lat: float, lon: float) -> dict:
    return {"type": "ASB1", "summary": "shouting", "location": {"lat": lat, "lon": lon,
            "address": "1 High Street"}, "caller": {"name": "Cy", "phone": "0207"}}  # fmt: skip


# --- the Django admin -----------------------------------------------------------------------------
#
# What the `admin` role may do with each model in the admin (docs/security.md, "Admin, per
# model"), written by hand. Services own the records marked "view": the admin shows them and
# never changes them. Superusers may do everything; nobody else gets past the admin's login.
ADMIN_MODELS: dict[str, str] = {
    "auth.user": "view add change",  # accounts without admin power; never a password
    "auth.group": "",  # roles and their permissions: superusers only
    "knox.authtoken": "view delete",  # tokens are issued by sign-in only; ending one is audited
    "cad.auditevent": "view",
    "cad.bcu": "view add change delete",
    "cad.borough": "view add change delete",
    "cad.event": "view",
    "cad.loginfailure": "view",  # lifting a lockout is an action, not an edit
    "cad.station": "view add change delete",
    "cad.userscope": "view add change delete",
    "duties.crewing": "",
    "duties.officer": "view add change delete",
    "duties.shift": "view add change",
    "duties.shiftassignment": "",
    "duties.team": "view add change delete",
    "incidents.call": "",
    "incidents.closingcode": "view add change delete",
    "incidents.gazetteerentry": "",
    "incidents.gradechange": "",
    "incidents.incident": "view",
    "incidents.incidentlogentry": "",
    "incidents.incidenttype": "view add change delete",
    "incidents.messagetemplate": "view change",  # the words of texts to the public (issue 15)
    "incidents.qualifier": "view add change delete",
    "incidents.warningmarker": "view add change delete",
    "radio.radiomessage": "view",
    "radio.statuscodemapping": "view add change delete",
    "resources.assignment": "view",
    "resources.skill": "view add change delete",
    "resources.unit": "view add change delete",
    "resources.unitstatuschange": "",
    "resources.unittype": "view add change delete",
    # Issue 18: partner agencies and crime classifications are maintained here; deliveries and
    # crime reports are written by services.
    "resources.partneragency": "view add change delete",
    "resources.partnerdelivery": "view",
    "incidents.crimeclassification": "view add change delete",
    "incidents.crimereport": "view",
}
# Written only by services (logs, the trail, events, assignments, crews): nobody adds, changes or
# deletes them in the admin, superusers included.
SERVICE_OWNED = {
    "cad.auditevent", "cad.event", "duties.crewing", "duties.shiftassignment", "incidents.call",
    "incidents.gradechange", "incidents.incident", "incidents.incidentlogentry",
    "radio.radiomessage", "resources.assignment", "resources.unitstatuschange",
    "resources.partnerdelivery", "incidents.crimereport",
}  # fmt: skip
# Records a superuser may only partly touch: a token is issued by sign-in alone (it may be ended);
# a failed sign-in is evidence, and a lockout is lifted by an action, not by editing the row.
ROOT_LIMITED = {"knox.authtoken": {"view", "delete"}, "cad.loginfailure": {"view"}}
# The admin site's own views, by URL name: who gets through (besides superusers).
ADMIN_SITE = {
    "index": ("GET", frozenset({ADMIN}), None),
    "logout": ("POST", frozenset({ADMIN}), _signed_out),
    "password_change": ("GET", frozenset({ADMIN}), None),
    "password_change_done": ("GET", frozenset({ADMIN}), None),
    "jsi18n": ("GET", frozenset({ADMIN}), None),
    "app_list": ("GET", frozenset({ADMIN}), None),
    # No model admin uses autocomplete: the view refuses every request (403).
    "autocomplete": ("GET", frozenset(), None),
    # "View on site": no model here has a public URL, so it is a real 404 for staff.
    "view_on_site": ("GET", frozenset({ADMIN}), {404}),
    # Any other admin path: a real 404 for staff, the login page for everyone else.
    "catch_all": ("GET", frozenset({ADMIN}), {404}),
}


def _admin_site_routes() -> dict[str, str]:
    """URL name → route string as the resolver prints it (under `admin/`)."""
    routes = {}
    for p in admin.site.get_urls():
        if isinstance(p, URLPattern):
            routes[p.name or "catch_all"] = "admin/" + str(p.pattern)
    return routes


def _root_may(label: str) -> set[str]:
    """What a superuser may do with a model in the admin."""
    if label in SERVICE_OWNED:
        return {"view"}
    return ROOT_LIMITED.get(label, {"view", "add", "change", "delete"})


def _shown(may: set[str]) -> str:
    """A superuser's column in docs/security.md."""
    if may == {"view", "add", "change", "delete"}:
        return "all"
    return " ".join(action for action in ("view", "add", "change", "delete") if action in may)


def _admin_cells() -> list[Cell]:
    c = Cell
    rows = []
    site = _admin_site_routes()
    paths = {"index": "/admin/", "logout": "/admin/logout/",
             "password_change": "/admin/password_change/",
             "password_change_done": "/admin/password_change/done/", "jsi18n": "/admin/jsi18n/",
             "app_list": "/admin/cad/", "autocomplete": "/admin/autocomplete/?term=a",
             "view_on_site": "/admin/r/{ct_bcu}/{obj_cad_bcu}/",
             "catch_all": "/admin/no-such-page/"}  # fmt: skip
    for name, (method, allowed, ok) in ADMIN_SITE.items():
        everyone = allowed | ({ROOT} if allowed else set())  # superusers: where anyone may
        rows.append(c(site[name], method, "site", paths[name], everyone, kind="admin", ok=ok))
    rows.append(c("admin/password_change/", "POST", "site", "/admin/password_change/",
                  frozenset({ADMIN, ROOT}), kind="admin", body=lambda w: {}))  # fmt: skip
    for model in admin.site._registry:
        label = model._meta.label_lower
        app, name = label.split(".")
        may = set(ADMIN_MODELS.get(label, "").split())
        base = f"admin/{app}/{name}/"
        one = f"/admin/{app}/{name}/{{obj_{app}_{name}}}/"

        root = _root_may(label)

        def who(*needs: str, may=may, root=root) -> frozenset:
            return frozenset(
                ({ROOT} if set(needs) <= root else set())
                | ({ADMIN} if set(needs) <= may else set())
            )

        rows += [
            c(base, "GET", label, f"/{base}", who("view"), kind="admin"),
            c(f"{base}add/", "GET", label, f"/{base}add/", who("add"), kind="admin"),
            # An empty form: let through, it answers with the form's errors.
            c(
                f"{base}add/",
                "POST",
                label,
                f"/{base}add/",
                who("add"),
                kind="admin",
                body=lambda w: {},
            ),
            c(
                f"{base}<path:object_id>/change/",
                "GET",
                label,
                f"{one}change/",
                who("view"),
                kind="admin",
            ),
            c(
                f"{base}<path:object_id>/change/",
                "POST",
                label,
                f"{one}change/",
                who("change"),
                kind="admin",
                body=lambda w: {},
            ),
            c(
                f"{base}<path:object_id>/delete/",
                "GET",
                label,
                f"{one}delete/",
                who("delete"),
                kind="admin",
            ),
            c(
                f"{base}<path:object_id>/delete/",
                "POST",
                label,
                f"{one}delete/",
                who("delete"),
                kind="admin",
                body=lambda w: {"post": "yes"},
            ),
            c(
                f"{base}<path:object_id>/history/",
                "GET",
                label,
                f"{one}history/",
                who("view"),
                kind="admin",
            ),
            # Django's old-style link: a redirect to the change view, for any staff; the change
            # view then decides (above).
            c(
                f"{base}<path:object_id>/",
                "GET",
                label,
                one,
                frozenset({ADMIN, ROOT}),
                kind="admin",
                ok=_to_change_view,
            ),
        ]
        if label == "auth.user":  # setting someone's password: superusers only
            rows += [
                c(
                    f"{base}<id>/password/",
                    "GET",
                    label,
                    f"{one}password/",
                    frozenset({ROOT}),
                    kind="admin",
                ),
                c(
                    f"{base}<id>/password/",
                    "POST",
                    label,
                    f"{one}password/",
                    frozenset({ROOT}),
                    kind="admin",
                    body=lambda w: {},
                ),
            ]
    return rows


CELLS = _cells()
ADMIN_CELLS = _admin_cells()
# Routes classified elsewhere in this file (the socket has its own tests below).
OTHER_ROUTES = {"ws/board/", "ws/officer/"}
GET_ROUTE_ALIASES = {"warning-markers GET": "api/v1/warning-markers/"}


# --- the world --------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _quick(monkeypatch):
    """Recommendation jobs are not queued: with no broker they would run in-process on commit."""
    monkeypatch.setattr(tasks.recommend_for_incident, "delay", lambda *a, **k: None)
    monkeypatch.setattr(tasks.recommend_near_unit, "delay", lambda *a, **k: None)


def build_world(geography, make_user) -> tuple[dict, dict]:
    """Users for every actor, and in each of CN and AS: incidents (open, closed, worked),
    units (free, busy, off duty, in emergency), a team, officers and shifts; one row of every
    model the admin shows."""
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
        ROOT: User.objects.create_superuser("root", "root@example.org", "a-Strong-pass-42"),
    }
    for plain in (users[NOBODY], users[OFFICER]):
        plain.groups.clear()
    # The front-line officer has the `officer` role (no control-room one) and a roster record.
    users[OFFICER].groups.add(Group.objects.get(name="officer"))
    make_closing_code("NFA")
    make_qualifier("DA")
    ids: dict[str, Any] = {}
    today = timezone.localdate()
    future = today + timedelta(days=35 - today.weekday())
    ids["future"] = future.isoformat()
    central = users[DESP]
    for bcu, where, station in (("CN", "camden", "kentish"), ("AS", "lambeth", "brixton")):
        st = geography[station]
        ids[f"inc_{bcu}"] = make_incident(users[HANDLER], where=where, grade="S").pk
        closed = make_incident(users[HANDLER], where=where, grade="S")
        incident_close(incident=closed, by=central, closing_code="NFA", source="test")
        ids[f"closed_{bcu}"] = closed.pk
        free = make_unit(st, callsign=f"{bcu}01")
        busy = make_unit(st, callsign=f"{bcu}02")
        worked = make_incident(users[HANDLER], where=where, grade="I")
        despatch.assignment_create(incident=worked, unit=busy, by=central, source="test")
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
    # An outbound despatch message, for delivery receipts.
    job = Assignment.objects.select_related("unit").get(unit__callsign=ids["busy_CN"])
    ids["outbound"] = RadioMessage.objects.create(
        direction="out", kind="despatch", issi=job.unit.issi, unit=job.unit, assignment=job,
        state="sent", by=central,
    ).pk  # fmt: skip
    # A planned operation running in each BCU (its small area away from the cells' incidents),
    # holding the BCU's busy unit; a major incident declared on the BCU's worked incident.
    for bcu, (lat, lon) in (("CN", (51.555, -0.15)), ("AS", (51.45, -0.105))):
        operation = operation_create(
            by=users[SUP], name=f"Operation {bcu}", bcu_code=bcu, lat=lat, lon=lon, radius_m=50,
            starts_at=timezone.now() - timedelta(hours=1),
            ends_at=timezone.now() + timedelta(hours=6),
        )  # fmt: skip
        ids[f"op_{bcu}"] = operation.pk
        ring_fence_add(operation=operation, unit=Unit.objects.get(callsign=ids[f"busy_{bcu}"]),
                       by=users[SUP])  # fmt: skip
        major_incident_declare(incident=Incident.objects.get(pk=ids[f"busy_inc_{bcu}"]),
                               by=users[SUP], methane=METHANE)  # fmt: skip
    _public_contact_world(users, ids)
    _rows_for_the_admin(users, ids, geography)
    # Replay's moments (issue 20): now, and an hour before; "Z", as a "+" would not survive a URL.
    ids["replay_at"] = timezone.now().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    ids["replay_from"] = (timezone.now() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return users, ids


def _public_contact_world(users, ids) -> None:
    """Issue 15: an online report in each BCU, a status link, an investigation case."""
    make_incident_type("ADMIN")
    for bcu, (lat, lon) in (("CN", (51.545, -0.16)), ("AS", LAMBETH)):
        report, token = online_report_create(data=ReportInput(
            category="seen_heard", description="a van every night", lat=lat, lon=lon,
            reporter_name="Pat"))  # fmt: skip
        ids[f"web_{bcu}"] = report.pk
    ids["web_slug"] = report.reference.replace(" ", "-").replace("/", "-")
    ids["web_token"] = token
    case_report, _ = online_report_create(data=ReportInput(
        category="seen_heard", description="parked car", lat=LAMBETH[0], lon=LAMBETH[1],
        reporter_name="Sam"))  # fmt: skip
    online_report_triage(report=case_report, by=users[HANDLER], decision="investigate",
                         reason="no attendance needed")  # fmt: skip
    ids["case"] = InvestigationCase.objects.get(report=case_report).pk


def _rows_for_the_admin(users, ids, geography) -> None:
    """At least one row of every model the admin shows, and its id for the admin's cells."""
    incident_regrade(incident=Incident.objects.get(pk=ids["inc_CN"]), by=users[DESP], grade="I",
                     reason="weapon seen", source="test")  # fmt: skip
    GazetteerEntry.objects.create(key="test-1", address="1 High Street", lat=51.5, lon=-0.12)
    make_skill("TASER")
    AuthToken.objects.create(user=users[GATEWAY])
    LoginFailure.objects.create(username="nobody", source="192.0.2.1", at=timezone.now())
    # A crewed unit, for the crewing records (its own unit: the cells' units stay as they are).
    now_as = Shift.objects.get(pk=ids["now_shift_AS"])
    ShiftAssignment.objects.create(shift=now_as, officer=_officer(ids["spare_AS"]))
    crewed = make_unit(geography["brixton"], callsign="AS05", status=UnitStatus.OFF_DUTY)
    crew_book_on(unit=crewed, shift=now_as, officers=[_officer(ids["spare_AS"])], by=users[SUP],
                 source="test")  # fmt: skip
    # Partner agencies (issue 18): one with nothing shared (so it can be deleted), one with a
    # shared incident and its delivery; a crime report.
    PartnerAgency.objects.create(code="LFB", name="London Fire Brigade", kind="fire",
                                 agency_id="lfb.example")  # fmt: skip
    las = PartnerAgency.objects.create(code="LAS", name="London Ambulance Service",
                                       kind="ambulance", agency_id="las.example")  # fmt: skip
    busy = Incident.objects.get(pk=ids["busy_inc_CN"])
    share = PartnerShare.objects.create(incident=busy, partner=las, shared_at=timezone.now())
    PartnerDelivery.objects.create(share=share, queued_at=timezone.now())
    crime_report_draft(incident=busy, by=users[HANDLER])
    # Loaded by a data migration, which a flushed (transactional) test database no longer has.
    CrimeClassification.objects.get_or_create(code="MISC", defaults={
        "name": "Miscellaneous crimes against society",
        "group": "Miscellaneous crimes against society"})  # fmt: skip
    MessageTemplate.objects.get_or_create(kind="closed", channel="sms",
                                          defaults={"body": "Closed: $reference"})  # fmt: skip
    for model, model_admin in admin.site._registry.items():
        app, name = model._meta.label_lower.split(".")
        if model is User:  # an account the admin may manage: no role, not staff
            row = users[NOBODY]
        elif model is Shift:  # one nobody is rostered on, so a superuser may delete it
            row = make_shift(geography["CN"], None, timezone.localdate() + timedelta(days=90))
        elif model is Group:
            row = Group.objects.get(name=HANDLER)
        else:
            request = _AdminRequest(users[ROOT])
            row = model_admin.get_queryset(request).order_by("pk").first()  # type: ignore[arg-type]  # a stand-in request
        assert row is not None, f"the matrix world has no {model._meta.label} to open"
        ids[f"obj_{app}_{name}"] = row.pk
    ids["ct_bcu"] = ContentType.objects.get(app_label="cad", model="bcu").pk


class _AdminRequest:
    def __init__(self, user):
        self.user = user


@pytest.fixture
def world(geography, make_user):
    return build_world(geography, make_user)


# --- the matrix -------------------------------------------------------------------------------


def _client(user, **kwargs) -> Client:
    client = Client(**kwargs)
    if user is not None:
        client.force_login(user)
    return client


def _request(cell: Cell, client: Client, ids: dict, *, body: Any = None, path: str = "",
             **extra):  # fmt: skip
    path = path or cell.path.format(**ids)
    if body is None:
        body = cell.body(ids) if cell.body else None
    if cell.method == "GET":
        return client.get(path, **extra)
    if cell.kind in {"form", "admin"} or cell.route.startswith("accounts/"):
        form = "application/x-www-form-urlencoded"
        return client.generic(cell.method, path, _urlencoded(body), form, **extra)
    return client.generic(cell.method, path, json.dumps(body if body is not None else {}),
                          content_type="application/json", **extra)  # fmt: skip


def _urlencoded(body) -> str:
    return urlencode(body if isinstance(body, dict) else {}, doseq=True)


def _to_login(response) -> bool:
    location = response.get("Location", "")
    return response.status_code == 302 and location.startswith(
        ("/admin/login/", "/accounts/login/")
    )


def _refused(cell: Cell, response, actor: str) -> bool:
    code = response.status_code
    if cell.kind == "admin":  # non-staff go to sign in; staff without the permission get 403
        # (The admin's logout sends non-staff to the admin's index, which sends them to sign in.)
        to_index = code == 302 and response["Location"] == "/admin/"
        return _to_login(response) or to_index or (actor in {ADMIN, ROOT} and code == 403)
    if (
        actor == ANON
        and cell.kind not in ("public", "monitoring")
        and not cell.path.startswith("/api/")
    ):
        return _to_login(response)
    if cell.kind == "myshifts":
        return code == 404  # the page says "no officer record", nothing else
    return code in (401, 403)


def _let_through(cell: Cell, response) -> bool:
    code = response.status_code
    if cell.kind == "monitoring" and code == 503:
        return True  # health detail saying what is down (no workers or beat in tests)
    if callable(cell.ok):
        return cell.ok(response)
    if cell.ok is not None:
        return code in cell.ok
    if cell.kind == "form":
        return code == 302 and not _to_login(response) and not _form_refused_by_state(response)
    if cell.kind in {"page", "admin"}:
        return 200 <= code < 300 or (code == 302 and not _to_login(response))
    return 200 <= code < 300


# Requests that end the session they are made in get a client of their own.
SESSION_ENDING = {"accounts/logout/", "admin/logout/"}


def _check(actor: str, cells: list[Cell], users: dict, ids: dict) -> list[str]:
    user = users.get(actor)
    client = _client(user)
    wrong = []
    for cell in cells:
        with transaction.atomic():
            if cell.setup:
                cell.setup(users, ids)
            # A form's answer is in its messages: a fresh session holds only this request's.
            fresh = cell.route in SESSION_ENDING or cell.kind == "form"
            own = _client(user) if fresh else client
            response = _request(cell, own, ids)
            transaction.set_rollback(True)
        if actor in cell.allowed:
            if not _let_through(cell, response):
                wrong.append(f"{cell.id}: expected allowed, got {response.status_code}")
        elif not _refused(cell, response, actor):
            wrong.append(f"{cell.id}: UNEXPECTED ALLOW, got {response.status_code}")
    return wrong


@pytest.mark.django_db
@pytest.mark.parametrize("actor", ACTORS)
def test_authorization_matrix(actor, world):
    """One actor against every page and API cell; all mismatches reported at once."""
    users, ids = world
    wrong = _check(actor, CELLS, users, ids)
    assert not wrong, f"{actor} ({len(wrong)} of {len(CELLS)} cells wrong): " + "; ".join(wrong)


@pytest.mark.django_db
@pytest.mark.parametrize("actor", [*ACTORS, ROOT])
def test_admin_matrix(actor, world):
    """One actor against every view of every model in the Django admin, and the site's own."""
    users, ids = world
    wrong = _check(actor, ADMIN_CELLS, users, ids)
    assert not wrong, f"{actor} ({len(wrong)} of {len(ADMIN_CELLS)} cells wrong): " + "; ".join(
        wrong
    )


# --- role before the request ----------------------------------------------------------------------

GHOST_ID = 987654321


def _ghost_ids(ids: dict) -> dict:
    """The same keys, naming nothing that exists."""
    return {k: (v if k == "future" else GHOST_ID if isinstance(v, int) else "ZZ99")
            for k, v in ids.items()}  # fmt: skip


def _users_of(cells: list[Cell]) -> dict[tuple[str, str], frozenset]:
    """Everyone who may use each route and method in some cell."""
    users: dict[tuple[str, str], frozenset] = {}
    for cell in cells:
        key = (cell.route, cell.method)
        users[key] = users.get(key, frozenset()) | cell.allowed
    return users


@pytest.mark.django_db
@pytest.mark.parametrize("actor", ACTORS)
def test_no_role_learns_nothing_from_the_answer(actor, world):
    """Someone with no role for an endpoint gets the refusal whatever they send: with ids that
    do not exist, an empty body, a body that is not even an object. A 400 or 404 would tell
    them what exists, or that they got past the gate."""
    users, ids = world
    ghost = _ghost_ids(ids)
    client = _client(users.get(actor))
    allowed = _users_of(CELLS + ADMIN_CELLS)
    seen: set[tuple[str, str]] = set()
    wrong = []
    for cell in CELLS + ADMIN_CELLS:
        key = (cell.route, cell.method)
        if actor in allowed[key] or key in seen or cell.kind == "myshifts":
            continue
        seen.add(key)
        probes = {
            "ids that do not exist": {
                "path": cell.path.format(**ghost),
                "body": cell.body(ghost) if cell.body else None,
            }
        }
        if cell.method != "GET":
            probes["an empty body"] = {"body": {}}
            probes["a body that is not an object"] = {"body": ["x", 1]}
        for what, probe in probes.items():
            with transaction.atomic():
                response = _request(cell, client, ids, **probe)
                transaction.set_rollback(True)
            if not _refused(cell, response, actor):
                wrong.append(f"{cell.method} {cell.route} with {what}: {response.status_code}")
    assert not wrong, f"{actor}: " + "; ".join(wrong)


# --- CSRF -----------------------------------------------------------------------------------------

# The one write that is not a form and needs no session: the token endpoint takes credentials
# in its body and answers with a token, not a cookie (DRF checks CSRF only for sessions).
NO_SESSION_WRITES = {("api/v1/auth/token/", "POST"),
                     # Issue 15: the public's report and Notify's callbacks carry no session.
                     ("api/v1/public/reports/", "POST"), ("api/v1/public/notify/status/", "POST"),
                     ("api/v1/public/notify/inbound/", "POST")}  # fmt: skip


def _session_writes() -> list[tuple[Cell, str]]:
    """One cell and one allowed actor for every write a browser session makes: each page form
    (the sign-in and reset forms too, as an anonymous visitor), API write and admin write."""
    picked: dict[tuple[str, str], tuple[Cell, str]] = {}
    for cell in CELLS + ADMIN_CELLS:
        key = (cell.route, cell.method)
        if cell.method == "GET" or key in NO_SESSION_WRITES or key in picked:
            continue
        if cell.kind == "public":
            picked[key] = (cell, ANON)
            continue
        actors = sorted(a for a in cell.allowed if a != ANON)
        if actors:
            picked[key] = (cell, ADMIN if ADMIN in actors else actors[0])
    return list(picked.values())


SESSION_WRITES = _session_writes()
SESSION_WRITERS = sorted({actor for _, actor in SESSION_WRITES})


def _csrf_mismatch(cell: Cell, user, users: dict, ids: dict) -> str | None:
    """What is wrong with one session write's CSRF check, or None: refused without the token,
    through with it. A client of its own, since some writes (sign-out) change the session."""
    client = _client(user, enforce_csrf_checks=True)
    token = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(32))
    client.cookies[settings.CSRF_COOKIE_NAME] = token
    with transaction.atomic():
        if cell.setup:
            cell.setup(users, ids)
        bare = _request(cell, client, ids)
        transaction.set_rollback(True)
    if bare.status_code != 403 or b"CSRF" not in bare.content:
        return f"{cell.method} {cell.route} without the token: {bare.status_code}"
    with transaction.atomic():
        if cell.setup:
            cell.setup(users, ids)
        if cell.kind in {"form", "admin"} or cell.route.startswith("accounts/"):
            body = {**(cell.body(ids) if cell.body else {}), "csrfmiddlewaretoken": token}
            signed = _request(cell, client, ids, body=body)
        else:
            signed = _request(cell, client, ids, HTTP_X_CSRFTOKEN=token)
        transaction.set_rollback(True)
    if not _let_through(cell, signed):
        return f"{cell.method} {cell.route} with the token: {signed.status_code}"
    return None


@pytest.mark.django_db
@pytest.mark.parametrize("actor", SESSION_WRITERS)
def test_session_writes_need_the_csrf_token(actor, world):
    """With CSRF checks on, as in a browser: every session write picked for this actor is
    refused without the token and let through with it; all mismatches reported at once. (One
    test an actor, not a cell: building the world costs about a second.)"""
    users, ids = world
    cells = [cell for cell, who in SESSION_WRITES if who == actor]
    wrong = [m for cell in cells if (m := _csrf_mismatch(cell, users.get(actor), users, ids))]
    assert not wrong, f"{actor} ({len(wrong)} of {len(cells)} writes wrong): " + "; ".join(wrong)


# --- the guards: every URL pattern and every method is in the table ------------------------------


def _routes(patterns, prefix: str = "") -> list[str]:
    found = []
    for p in patterns:
        route = prefix + str(p.pattern)
        if isinstance(p, URLResolver):
            found += _routes(p.url_patterns, route)
        elif isinstance(p, URLPattern):
            found.append(route)
    return found


def _classified() -> set[str]:
    return {GET_ROUTE_ALIASES.get(c.route, c.route) for c in CELLS + ADMIN_CELLS} | OTHER_ROUTES


def test_every_url_pattern_is_in_the_matrix():
    served = set(_routes(get_resolver().url_patterns)) | set(_routes(websocket_urlpatterns))
    classified = _classified()
    missing = sorted(served - classified)
    assert not missing, (
        f"classify these in tests/test_authz_matrix.py and docs/security.md: {missing}"
    )
    stale = sorted(classified - served)
    assert not stale, f"the matrix names routes that no longer exist: {stale}"
    unknown = sorted(m._meta.label_lower for m in admin.site._registry
                     if m._meta.label_lower not in ADMIN_MODELS)  # fmt: skip
    assert not unknown, f"say what the admin role may do with these in ADMIN_MODELS: {unknown}"


METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


@pytest.mark.django_db
def test_every_method_a_view_answers_is_in_the_matrix(world):
    """Each page and API route answers 405 to every method the table does not list for it, so
    no view takes a method nobody classified (a POST to a page written for GET, say)."""
    users, ids = world
    listed: dict[str, set[str]] = {}
    example: dict[str, Cell] = {}
    for cell in CELLS:
        route = GET_ROUTE_ALIASES.get(cell.route, cell.route)
        listed.setdefault(route, set()).add(cell.method)
        example.setdefault(route, cell)
    root = _client(users[SUP])  # signed in, past the second factor: reaches every view
    wrong = []
    for route, methods in sorted(listed.items()):
        cell = example[route]
        for method in sorted(set(METHODS) - methods):
            probe = Cell(route, method, cell.target, cell.path, cell.allowed, kind=cell.kind)
            own = _client(users[SUP]) if route in SESSION_ENDING else root
            with transaction.atomic():
                response = _request(probe, own, ids, body={})
                transaction.set_rollback(True)
            if response.status_code != 405:
                wrong.append(f"{method} {route}: {response.status_code}")
    assert not wrong, "unclassified methods (answer 405, or add the cell): " + "; ".join(wrong)


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
    despatch.assignment_create(
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
    connected, code = await communicator.connect(timeout=CONNECT_S)
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
    create = database_sync_to_async(make_incident)
    await create(users[HANDLER], where="lambeth", grade="I")
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
    return Unit.objects.get(callsign=callsign)


def test_the_table_mirrors_the_documented_roles():
    """The doc lists the same routes and admin models, so the doc and this table cannot drift
    silently."""
    text = (Path(__file__).resolve().parent.parent / "docs" / "security.md").read_text()
    section = text.split("## Authorization matrix", 1)[1].split("\n## ", 1)[0]
    for route in {GET_ROUTE_ALIASES.get(c.route, c.route) for c in CELLS} | OTHER_ROUTES:
        shown = "/" + route if route else "/"
        shown = shown.replace("<int:pk>", "{id}").replace("<text:callsign>", "{callsign}")
        shown = shown.replace("<int:shift_id>", "{id}").replace("<int:officer_id>", "{officer}")
        shown = shown.replace("<uidb64>/<token>", "{uid}/{token}")
        assert f"`{shown}`" in section, f"docs/security.md does not list {shown}"
    for label, may in ADMIN_MODELS.items():
        row = f"| `{label}` | {may or 'nothing'} | {_shown(_root_may(label))} |"
        assert row in section, f"docs/security.md does not say: {row}"
