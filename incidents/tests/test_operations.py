"""Planned operations: the API, tagging of incidents inside the area while it runs, the
operation's own stream, its log and the parts other apps add (issue 17)."""

from datetime import timedelta
from datetime import timezone as dt_timezone

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from cad.live.replay import board_checkpoint_create
from cad.live.retention import event_log_prune
from cad.models import AuditEvent
from incidents.models import Incident, IncidentLogEntry
from incidents.operations.models import Operation
from incidents.operations.selectors import operation_covering
from incidents.operations.services import operation_create
from resources.services import unit_set_status
from tests.factories import CAMDEN, make_incident, make_unit

STADIUM = (51.5550, -0.1084)  # Emirates Stadium, inside the test Camden square


def _api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _body(**extra):
    now = timezone.now()
    return {
        "name": "Arsenal v Spurs",
        "starts_at": (now - timedelta(hours=1)).isoformat(),
        "ends_at": (now + timedelta(hours=3)).isoformat(),
        "bcu": "CN",
        "location": {"lat": STADIUM[0], "lon": STADIUM[1], "address": "Emirates Stadium"},
        "radius_m": 800,
        "briefing": "Segregation on Drayton Park.\nAway fans via Arsenal station.",
        **extra,
    }


@pytest.fixture
def match(geography, cast):
    now = timezone.now()
    return operation_create(
        by=cast.supervisor_cn, name="Arsenal v Spurs", starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=3), bcu_code="CN", lat=STADIUM[0], lon=STADIUM[1],
        radius_m=800, briefing="Segregation on Drayton Park.",
    )  # fmt: skip


def test_supervisor_plans_an_operation(geography, cast, captured_events):
    response = _api(cast.supervisor_cn).post("/api/v1/operations/", _body(), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    op = Operation.objects.get(pk=body["id"])
    assert (op.name, op.bcu.code, op.radius_m) == ("Arsenal v Spurs", "CN", 800)
    assert body["location"] == {"lat": STADIUM[0], "lon": STADIUM[1], "address": "Emirates Stadium"}
    assert body["log"][0]["text"].startswith("Operation planned")
    assert AuditEvent.objects.filter(object_type="incidents.operation", action="create").exists()
    assert captured_events.types() == ["operation.updated"]
    assert captured_events.last().data["operation"] == op.pk
    listed = _api(cast.despatcher_cn).get("/api/v1/operations/").json()
    assert [o["id"] for o in listed] == [op.pk]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"ends_at": "2020-01-01T00:00:00Z"}, "ends_at"),
        ({"bcu": "ZZ"}, "bcu"),
        ({"name": ""}, "name"),
        ({"location": {"address": "nowhere"}}, "location"),
        ({"polygon": {"type": "Point", "coordinates": [0, 0]}}, "polygon"),
        ({"radius_m": 5}, "radius_m"),
    ],
)
def test_bad_operation_is_400_naming_the_field_and_saves_nothing(geography, cast, change, field):
    response = _api(cast.supervisor_all).post("/api/v1/operations/", _body(**change), format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert not Operation.objects.exists()


def test_only_supervisors_of_its_bcu_plan_it(geography, cast):
    assert (
        _api(cast.despatcher_cn).post("/api/v1/operations/", _body(), format="json").status_code
        == 403
    )
    assert (
        _api(cast.supervisor_as).post("/api/v1/operations/", _body(), format="json").status_code
        == 403
    )
    assert not Operation.objects.exists()


def test_incidents_inside_the_area_during_the_operation_are_tagged(match, cast, captured_events):
    inside = make_incident(cast.handler, lat=STADIUM[0] + 0.003, lon=STADIUM[1])  # ~330 m
    outside = make_incident(cast.handler, lat=CAMDEN[0], lon=CAMDEN[1])  # ~2 km away
    assert inside.operation_id == match.pk
    assert outside.operation_id is None
    created = captured_events.of("incident.created")
    assert [e.data["operation"] for e in created] == [match.pk, None]
    assert IncidentLogEntry.objects.filter(
        incident=inside, text__contains="Arsenal v Spurs"
    ).exists()


def test_incidents_outside_the_time_are_not_tagged(geography, cast):
    now = timezone.now()
    operation_create(by=cast.supervisor_all, name="Tomorrow's march", bcu_code="CN",
                     starts_at=now + timedelta(days=1), ends_at=now + timedelta(days=1, hours=4),
                     lat=STADIUM[0], lon=STADIUM[1])  # fmt: skip
    assert make_incident(cast.handler, lat=STADIUM[0], lon=STADIUM[1]).operation_id is None


def test_the_covering_operation_runs_from_its_start_to_its_end_and_the_smallest_wins(
    geography, cast
):
    start = timezone.now().replace(microsecond=0) - timedelta(hours=1)
    end = start + timedelta(hours=2, microseconds=500)
    city = operation_create(by=cast.supervisor_all, name="City-wide", bcu_code="CN",
                            starts_at=start, ends_at=end, lat=STADIUM[0], lon=STADIUM[1],
                            radius_m=5000)  # fmt: skip
    march = operation_create(by=cast.supervisor_all, name="March", bcu_code="CN",
                             starts_at=start, ends_at=end, lat=STADIUM[0], lon=STADIUM[1],
                             radius_m=300)  # fmt: skip
    tick = timedelta(microseconds=1)

    def covering(at, lat=STADIUM[0]):
        found = operation_covering(lat=lat, lon=STADIUM[1], at=at)
        return found.name if found else None

    assert [covering(start - tick), covering(start), covering(end), covering(end + tick)] == [
        None, "March", "March", None,
    ]  # fmt: skip
    assert covering(start, lat=STADIUM[0] + 0.01) == "City-wide"  # ~1.1 km: outside the march
    paris = dt_timezone(timedelta(hours=1))  # the same moments, given in another zone
    assert [covering((start - tick).astimezone(paris)), covering(end.astimezone(paris))] == [
        None, "March",
    ]  # fmt: skip
    found = operation_covering(lat=STADIUM[0], lon=STADIUM[1], at=end)
    assert found is not None and found.bcu.code == "CN"  # its BCU is there to read
    assert {city.pk, march.pk} == set(Operation.objects.values_list("pk", flat=True))


def test_a_drawn_polygon_is_the_area(geography, cast):
    now = timezone.now()
    lat, lon = STADIUM
    ring = [[lon - 0.01, lat - 0.001], [lon + 0.01, lat - 0.001], [lon + 0.01, lat + 0.001],
            [lon - 0.01, lat + 0.001], [lon - 0.01, lat - 0.001]]  # fmt: skip
    op = operation_create(by=cast.supervisor_all, name="March route", bcu_code="CN",
                          starts_at=now - timedelta(hours=1), ends_at=now + timedelta(hours=1),
                          polygon={"type": "Polygon", "coordinates": [ring]})  # fmt: skip
    # 0.008° east is ~550 m: inside the thin strip; 0.003° north (~330 m) is outside it.
    assert make_incident(cast.handler, lat=lat, lon=lon + 0.008).operation_id == op.pk
    assert make_incident(cast.handler, lat=lat + 0.003, lon=lon).operation_id is None


def test_incidents_already_recorded_in_the_window_are_tagged_when_it_is_planned(geography, cast):
    earlier = make_incident(cast.handler, lat=STADIUM[0], lon=STADIUM[1])
    elsewhere = make_incident(cast.handler, where="lambeth")
    now = timezone.now()
    op = operation_create(by=cast.supervisor_all, name="Late-planned", bcu_code="CN",
                          starts_at=now - timedelta(hours=2), ends_at=now + timedelta(hours=2),
                          lat=STADIUM[0], lon=STADIUM[1])  # fmt: skip
    assert Incident.objects.get(pk=earlier.pk).operation_id == op.pk
    assert Incident.objects.get(pk=elsewhere.pk).operation_id is None


def test_the_operation_stream_carries_its_own_events_only(match, geography, cast):
    unit = make_unit(geography["kentish"], callsign="CN50")
    other = make_unit(geography["kentish"], callsign="CN51")
    before = _api(cast.despatcher_all).get(f"/api/v1/operations/{match.pk}/events/").json()
    since = before["events"][-1]["seq"]
    tagged = make_incident(cast.handler, lat=STADIUM[0], lon=STADIUM[1])
    make_incident(cast.handler, where="lambeth")  # not the operation's
    supervisor = _api(cast.supervisor_cn)
    assert supervisor.post(f"/api/v1/operations/{match.pk}/units/", {"unit": "CN50"},
                           format="json").status_code == 200  # fmt: skip
    unit_set_status(unit=unit, status="unavailable", source="test", by=cast.despatcher_all)
    unit_set_status(unit=other, status="unavailable", source="test", by=cast.despatcher_all)
    stream = _api(cast.despatcher_all).get(
        f"/api/v1/operations/{match.pk}/events/?since={since}").json()  # fmt: skip
    seen = [(e["type"], e["data"].get("reference") or e["data"].get("callsign")
             or e["data"].get("change")) for e in stream["events"]]  # fmt: skip
    assert seen == [
        ("incident.created", tagged.reference),
        ("operation.updated", "CN50 ring-fenced for the operation."),
        ("unit.updated", "CN50"),
    ]
    seqs = [e["seq"] for e in stream["events"]]
    assert seqs == sorted(seqs) and seqs[0] > since


def test_the_operation_stream_says_when_its_start_was_pruned(match, cast):
    tagged = make_incident(cast.handler, lat=STADIUM[0], lon=STADIUM[1])
    client = _api(cast.despatcher_all)
    whole = client.get(f"/api/v1/operations/{match.pk}/events/").json()
    assert whole["truncated"] is False and whole["pruned_through"] == 0
    assert tagged.reference in [e["data"].get("reference") for e in whole["events"]]
    base = board_checkpoint_create()
    assert event_log_prune(older_than=timezone.now()) > 0
    # A poller that last saw seq 0 missed events that are now gone: the answer must say so.
    behind = client.get(f"/api/v1/operations/{match.pk}/events/?since=0").json()
    assert behind["truncated"] is True and behind["pruned_through"] == base.seq
    assert tagged.reference not in [e["data"].get("reference") for e in behind["events"]]
    caught_up = client.get(f"/api/v1/operations/{match.pk}/events/?since={base.seq}").json()
    assert caught_up["truncated"] is False


def test_operation_log_and_detail(match, cast):
    client = _api(cast.supervisor_cn)
    response = client.post(f"/api/v1/operations/{match.pk}/log/",
                           {"text": "Kick-off delayed 15 min"}, format="json")  # fmt: skip
    assert response.status_code == 201, response.content
    assert client.post(f"/api/v1/operations/{match.pk}/log/", {"text": "  "},
                       format="json").status_code == 400  # fmt: skip
    assert _api(cast.supervisor_as).post(f"/api/v1/operations/{match.pk}/log/", {"text": "x"},
                                         format="json").status_code == 403  # fmt: skip
    detail = _api(cast.handler).get(f"/api/v1/operations/{match.pk}/").json()
    assert [e["text"] for e in detail["log"]][-1] == "Kick-off delayed 15 min"
    assert detail["units"] == [] and detail["officers"] == []
    assert detail["briefing"] == "Segregation on Drayton Park."
