"""The audit trail: the six DPA 2018 s.62 operations, searching it, exporting it, its scope."""

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from cad.audit.api import MomentField
from cad.models import AuditEvent
from incidents.models import Incident
from incidents.retention import incidents_erase_personal_expired
from incidents.services import incident_close, incident_regrade
from resources.despatch import assignment_create
from tests.factories import (
    CAMDEN,
    LAMBETH,
    make_closing_code,
    make_incident,
    make_incident_type,
    make_unit,
)

pytestmark = pytest.mark.django_db
API = "/api/v1/audit/"
CSV = "/api/v1/audit/csv/"


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def page_client(client, user):
    """A browser session past sign-in (the root conftest counts the second factor as done)."""
    client.force_login(user)
    return client


@pytest.fixture
def world(geography, cast):
    make_incident_type("VIOL", default_grade="I")
    make_closing_code("NFA")
    world = {
        "handler": cast.handler,
        "handler_as": cast.handler_as,
        "despatcher": cast.despatcher_all,
        "sup_cn": cast.supervisor_cn,
        "sup_all": cast.supervisor_all,
        "admin": cast.admin,
        "cn_staff": cast.despatcher_cn,
        "geo": geography,
    }
    world["cn"] = make_incident(world["cn_staff"], caller_name="Ann Caller")
    world["as"] = make_incident(
        world["handler_as"], lat=LAMBETH[0], lon=LAMBETH[1], caller_name="Bob Caller"
    )
    return world


def rows_of(response) -> list[dict]:
    assert response.status_code == 200, response.content
    return response.json()["results"]


# --- the six operations ----------------------------------------------------------------------


def test_each_of_the_six_operations_leaves_a_row(world, client):
    handler, sup = world["handler"], world["sup_all"]
    checker = api(handler)

    # collection: a call with caller details
    created = checker.post(
        "/api/v1/incidents/",
        json.dumps({"type": "VIOL", "location": {"lat": CAMDEN[0], "lon": CAMDEN[1]},
                    "caller": {"name": "Cy Caller", "phone": "07700 900456"}}),
        content_type="application/json",
    )  # fmt: skip
    assert created.status_code == 201, created.content
    incident = Incident.objects.get(pk=created.json()["id"])
    collected = AuditEvent.objects.get(
        action="create", object_type="incidents.incident", object_id=str(incident.pk)
    )
    assert collected.changes["caller_details"] is True
    assert "Cy Caller" not in json.dumps(collected.changes)

    # combination: the new incident was put beside the earlier one at the same place
    combined = AuditEvent.objects.get(action="combine", object_id=str(incident.pk))
    assert combined.changes["possible_duplicates"] == [world["cn"].reference]
    checker.get("/api/v1/incidents/check/", {"lat": CAMDEN[0], "lon": CAMDEN[1]})
    check_row = AuditEvent.objects.filter(action="combine", changes__via="location check").get()
    assert check_row.user == handler and world["cn"].reference in json.dumps(check_row.changes)

    # consultation: the caller's details read
    assert checker.get(f"/api/v1/incidents/{incident.pk}/calls/").status_code == 200
    assert AuditEvent.objects.filter(
        action="read_personal", object_id=str(incident.pk), user=handler
    ).exists()

    # alteration
    incident_regrade(incident=incident, by=sup, grade="S", reason="calmer now", source="test")
    assert AuditEvent.objects.filter(action="update", object_id=str(incident.pk)).exists()

    # erasure: closed long ago, then the retention job
    incident_close(incident=incident, by=sup, closing_code="NFA")
    Incident.objects.filter(pk=incident.pk).update(closed_at=timezone.now() - timedelta(days=3000))
    assert incidents_erase_personal_expired() == 1
    erased = AuditEvent.objects.get(action="erase", object_id=str(incident.pk))
    assert erased.changes["fields"] == ["caller_name", "caller_phone"]

    # disclosure: an export of the trail
    response = api(sup).get(CSV, {"incident": incident.reference})
    b"".join(response.streaming_content)
    disclosed = AuditEvent.objects.get(action="disclose")
    assert disclosed.user == sup
    assert disclosed.changes["filters"]["incident"] == incident.reference

    # every operation is attributable: who, when, what, from where
    for row in (collected, combined, erased, disclosed):
        assert row.at and row.object_type and row.source
    assert {"create", "update", "read_personal", "combine", "erase", "disclose"} <= set(
        AuditEvent.objects.values_list("action", flat=True)
    )


def test_nothing_found_near_a_point_is_no_combination(world):
    api(world["handler"]).get("/api/v1/incidents/check/", {"lat": 51.53, "lon": -0.15})
    assert not AuditEvent.objects.filter(action="combine").exists()


def test_incident_page_records_the_location_history_it_shows(world, client):
    earlier = world["cn"]
    later = make_incident(world["cn_staff"], caller_name="")
    page_client(client, world["cn_staff"])
    assert client.get(f"/incidents/{later.pk}/").status_code == 200
    row = AuditEvent.objects.get(action="combine", object_id=str(later.pk))
    assert row.changes["location_history"] == [earlier.reference]
    assert row.changes["via"] == "incident page"


# --- searching ----------------------------------------------------------------------------------


def test_search_by_incident_finds_its_calls_log_and_assignments(world):
    incident, sup = world["cn"], world["sup_all"]
    unit = make_unit(world["geo"]["kentish"])
    assignment_create(incident=incident, unit=unit, by=world["cn_staff"], source="test")
    incident_close(incident=incident, by=world["cn_staff"], closing_code="NFA")
    rows = rows_of(api(sup).get(API, {"incident": str(incident.pk)}))
    kinds = {(r["action"], r["object_type"]) for r in rows}
    assert ("create", "incidents.incident") in kinds
    assert ("create", "resources.assignment") in kinds
    # the clearing row names only the assignment, and is still found
    assert any(
        r["object_type"] == "resources.assignment" and "cleared_at" in r["changes"] for r in rows
    )
    # nothing about the other incident
    assert all(world["as"].reference not in json.dumps(r) for r in rows)
    by_reference = rows_of(api(sup).get(API, {"incident": incident.reference}))
    assert [r["id"] for r in by_reference] == [r["id"] for r in rows]


def test_filters_user_action_and_time(world):
    sup = world["sup_all"]
    client = api(sup)
    rows = rows_of(client.get(API, {"user": "handler_as"}))
    assert rows and {r["user"] for r in rows} == {"handler_as"}
    rows = rows_of(client.get(API, {"action": "create", "user": "desp_cn"}))
    assert rows and {r["action"] for r in rows} == {"create"}
    old = AuditEvent.objects.get(
        object_type="incidents.incident", object_id=str(world["as"].pk), action="create"
    )
    # Days are London's; the row's own, so that a run crossing midnight reads the same day.
    day = timezone.localdate(old.at)
    tomorrow = (day + timedelta(days=1)).isoformat()
    assert rows_of(client.get(API, {"from": tomorrow})) == []
    today = day.isoformat()
    assert old.id in [r["id"] for r in rows_of(client.get(API, {"from": today, "to": today}))]
    moment = (old.at + timedelta(microseconds=1)).isoformat()
    ids = [r["id"] for r in rows_of(client.get(API, {"from": moment, "user": "handler_as"}))]
    assert old.id not in ids


@pytest.mark.parametrize(
    "given, end_of_day, expected_utc",
    [
        # A winter day is UTC's.
        ("2026-12-01", False, datetime(2026, 12, 1, 0, 0, tzinfo=UTC)),
        ("2026-12-01", True, datetime(2026, 12, 2, 0, 0, tzinfo=UTC)),
        # A summer day starts at 23:00 UTC the day before (BST is UTC+1).
        ("2026-07-01", False, datetime(2026, 6, 30, 23, 0, tzinfo=UTC)),
        ("2026-07-01", True, datetime(2026, 7, 1, 23, 0, tzinfo=UTC)),
        # 25 October 2026, when the clocks go back, is 25 hours long: 23:00 UTC on the 24th to
        # midnight UTC on the 26th.
        ("2026-10-25", False, datetime(2026, 10, 24, 23, 0, tzinfo=UTC)),
        ("2026-10-25", True, datetime(2026, 10, 26, 0, 0, tzinfo=UTC)),
        # A wall-clock time without an offset is London's; with one, as given.
        ("2026-07-01T08:00", False, datetime(2026, 7, 1, 7, 0, tzinfo=UTC)),
        ("2026-07-01T08:00Z", False, datetime(2026, 7, 1, 8, 0, tzinfo=UTC)),
        ("2026-07-01T08:00+02:00", False, datetime(2026, 7, 1, 6, 0, tzinfo=UTC)),
        ("2026-12-01T08:00", False, datetime(2026, 12, 1, 8, 0, tzinfo=UTC)),
    ],
)
def test_dates_and_wall_clock_times_are_londons(given, end_of_day, expected_utc):
    moment = MomentField(end_of_day=end_of_day).to_internal_value(given)
    assert moment == expected_utc


@pytest.mark.parametrize(
    "params, field",
    [
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-13-40"}, "to"),
        ({"action": "shred"}, "action"),
        ({"incident": "CAD 9999/01Jan00"}, "incident"),
        ({"incident": "9" * 30}, "incident"),
        ({"from": "2026-11-30", "to": "2026-11-29"}, "to"),
    ],
)
def test_bad_filters_are_400_with_the_field(world, params, field):
    response = api(world["sup_all"]).get(API, params)
    assert response.status_code == 400
    assert field in response.json()
    assert not AuditEvent.objects.filter(object_type="cad.auditevent").exists()


@pytest.mark.parametrize("role", ["handler", "despatcher", "cn_staff"])
def test_other_roles_are_refused(world, client, role):
    user = world[role]
    assert api(user).get(API).status_code == 403
    assert api(user).get(CSV).status_code == 403
    client.force_login(user)
    assert client.get("/audit/").status_code == 403
    assert not AuditEvent.objects.filter(object_type="cad.auditevent").exists()


def test_anonymous_is_refused(world):
    assert APIClient().get(API).status_code in (401, 403)


def test_bcu_supervisor_sees_own_bcu_only(world):
    client = api(world["sup_cn"])
    assert client.get(API, {"incident": world["as"].reference}).status_code == 403
    assert client.get(API, {"user": "handler_as"}).status_code == 403
    assert client.get(API, {"user": "nobody-at-all"}).status_code == 403
    incident = world["cn"]
    rows = rows_of(client.get(API, {"incident": incident.reference}))
    assert rows and all(
        r["object_id"] == str(incident.pk) or r["changes"].get("incident") == incident.reference
        for r in rows
    )
    # unfiltered: the trail of the BCU's own staff, nobody else's
    everything = rows_of(client.get(API))
    assert everything and {r["user"] for r in everything} <= {"desp_cn", "sup_cn"}


@pytest.mark.parametrize("who", ["admin", "sup_all"])
def test_admins_and_central_supervisors_see_every_bcu(world, who):
    client = api(world[who])
    assert rows_of(client.get(API, {"incident": world["as"].reference}))
    users = {r["user"] for r in rows_of(client.get(API))}
    assert {"handler_as", "desp_cn"} <= users


def test_each_search_is_recorded_as_a_consultation_with_its_filter(world):
    sup = world["sup_all"]
    rows = rows_of(api(sup).get(API, {"user": "handler_as", "action": "create"}))
    row = AuditEvent.objects.get(object_type="cad.auditevent")
    assert row.action == "read_personal" and row.user == sup
    assert row.changes["filters"]["user"] == "handler_as"
    assert row.changes["filters"]["action"] == "create"
    assert row.id not in [r["id"] for r in rows]


# --- CSV export -------------------------------------------------------------------------------


def _csv(response) -> list[dict]:
    assert response.status_code == 200
    assert response.streaming and response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def test_csv_streams_the_matching_rows_and_is_audited(world):
    sup = world["sup_all"]
    expected = rows_of(api(sup).get(API, {"user": "handler_as"}))
    exported = _csv(api(sup).get(CSV, {"user": "handler_as"}))
    assert [int(r["id"]) for r in exported] == [r["id"] for r in expected]
    assert {r["user"] for r in exported} == {"handler_as"}
    disclosure = AuditEvent.objects.get(action="disclose")
    assert disclosure.user == sup
    assert disclosure.changes == {
        "via": "audit csv",
        "filters": {"incident": None, "user": "handler_as", "from": None, "to": None,
                    "action": None},
    }  # fmt: skip


def test_csv_streams_asynchronously_under_asgi(world):
    """Under daphne a plain generator would be read whole before the first byte is sent."""
    from asgiref.sync import async_to_sync
    from django.test import AsyncClient

    client = AsyncClient()
    client.force_login(world["admin"])
    response = async_to_sync(client.get)(CSV, {"user": "handler_as"})
    assert response.status_code == 200 and response.is_async

    async def collect():
        return "".join([part.decode() async for part in response.streaming_content])

    exported = list(csv.DictReader(io.StringIO(async_to_sync(collect)())))
    assert exported and {r["user"] for r in exported} == {"handler_as"}
    assert AuditEvent.objects.filter(action="disclose", user=world["admin"]).count() == 1


def test_csv_covers_more_rows_than_a_page(world):
    from cad.audit.trail import audit_record

    for n in range(120):
        audit_record(user=world["handler"], action="update", object_type="test.row",
                     object_id=str(n), source="test")  # fmt: skip
    exported = _csv(api(world["admin"]).get(CSV, {"user": "handler", "action": "update"}))
    assert len(exported) == 120


def test_csv_neutralises_formulas(world):
    from cad.audit.trail import audit_record

    audit_record(user=world["handler"], action="update", object_type="test.row",
                 changes={"x": 1}, source="=HYPERLINK(\"http://evil\")")  # fmt: skip
    exported = _csv(api(world["admin"]).get(CSV, {"user": "handler", "action": "update"}))
    assert exported[0]["source"].startswith("'=")


def test_csv_respects_bcu_scope(world):
    assert api(world["sup_cn"]).get(CSV, {"incident": world["as"].reference}).status_code == 403
    assert not AuditEvent.objects.filter(action="disclose").exists()


# --- the page -------------------------------------------------------------------------------


def test_page_lists_filters_and_links_the_export(world, client):
    page_client(client, world["sup_cn"])
    response = client.get("/audit/", {"incident": world["cn"].reference})
    assert response.status_code == 200
    html = response.content.decode()
    assert world["cn"].reference in html
    assert "/api/v1/audit/csv/?incident=" in html
    # a strict Content-Security-Policy is coming: no inline script or style
    main = html.split("<main", 1)[1].split("</main>", 1)[0]
    assert "<script" not in main and " style=" not in main
    row = AuditEvent.objects.get(object_type="cad.auditevent")
    assert row.changes["via"] == "audit page" and row.user == world["sup_cn"]


def test_page_refuses_another_bcu_and_reports_bad_input(world, client):
    page_client(client, world["sup_cn"])
    assert client.get("/audit/", {"incident": world["as"].reference}).status_code == 403
    bad = client.get("/audit/", {"from": "not a date"})
    assert bad.status_code == 400 and "from" in bad.content.decode()


def test_page_is_paged(world, client):
    from cad.audit.trail import audit_record

    for n in range(60):
        audit_record(user=world["handler"], action="update", object_type="test.row",
                     object_id=str(n), source="test")  # fmt: skip
    page_client(client, world["admin"])
    first = client.get("/audit/", {"user": "handler", "action": "update"})
    assert first.status_code == 200 and "Page 1 of 2" in first.content.decode()
    second = client.get("/audit/", {"user": "handler", "action": "update", "page": 2})
    assert second.content.decode().count("test.row") == 10


def test_page_shows_each_row_on_londons_clock_with_its_zone(world, client, monkeypatch):
    from cad.audit.trail import audit_record

    for moment, n in ((datetime(2026, 7, 1, 11, 30, tzinfo=UTC), "summer"),
                      (datetime(2026, 12, 1, 11, 30, tzinfo=UTC), "winter")):  # fmt: skip
        with monkeypatch.context() as clock:
            clock.setattr(timezone, "now", lambda moment=moment: moment)  # auto_now_add's
            audit_record(user=world["handler"], action="update", object_type="test.row",
                         object_id=n, source="test")  # fmt: skip
    page_client(client, world["admin"])
    html = client.get("/audit/", {"action": "update", "user": "handler"}).content.decode()
    assert "When (London)" in html
    # 11:30 UTC is 12:30 in British Summer Time and 11:30 in winter; the UTC instant stays
    # in the cell's datetime attribute.
    assert '<time datetime="2026-07-01T11:30:00+00:00">2026-07-01 12:30:00 BST</time>' in html
    assert '<time datetime="2026-12-01T11:30:00+00:00">2026-12-01 11:30:00 GMT</time>' in html
