"""The unit endpoints of api.md: list, detail, status, position, emergency and acknowledge."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from cad.models import AuditEvent
from incidents.models import IncidentLogEntry
from resources import despatch
from resources.models import UnitStatus
from tests.factories import make_incident, make_unit

S = UnitStatus


@pytest.fixture
def world(geography, cast, make_user):
    return {
        # Named: the incident log's "acknowledged by dora" is asserted below.
        "desk": make_user("despatcher", username="dora"),
        "gateway": cast.gateway,
        "cn": make_unit(geography["kentish"], callsign="CN01", skills=["TASER"]),
        "as": make_unit(geography["brixton"], callsign="AS01", status=S.OFF_DUTY),
        "geo": geography,
    }


def _api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_list_shape_and_filters(world, make_user):
    client = _api(make_user("call_handler"))
    body = client.get("/api/v1/units/").json()
    assert [u["callsign"] for u in body] == ["AS01", "CN01"]
    cn01 = body[1]
    assert {"callsign", "type", "status", "position", "bcu", "skills", "incident", "issi"} <= set(
        cn01
    )
    assert cn01["skills"] == ["TASER"] and cn01["bcu"] == "CN" and cn01["incident"] is None
    assert set(cn01["position"]) == {"lat", "lon", "at"}
    assert [u["callsign"] for u in client.get("/api/v1/units/?status=available").json()] == ["CN01"]
    assert [u["callsign"] for u in client.get("/api/v1/units/?bcu=AS").json()] == ["AS01"]
    bad = client.get("/api/v1/units/?status=flying")
    assert bad.status_code == 400 and "status" in bad.json()


def test_list_query_count_does_not_grow(world, django_assert_max_num_queries):
    for _ in range(20):
        make_unit(world["geo"]["kentish"], skills=["DOG"])
    client = _api(world["desk"])
    client.get("/api/v1/units/")  # warm auth caches
    with django_assert_max_num_queries(8):
        assert len(client.get("/api/v1/units/").json()) == 22


def test_detail_and_404(world):
    client = _api(world["desk"])
    assert client.get("/api/v1/units/CN01/").json()["callsign"] == "CN01"
    assert client.get("/api/v1/units/ZZ99/").status_code == 404


def test_anonymous_refused(world):
    assert APIClient().get("/api/v1/units/").status_code in (401, 403)


def test_status_update_and_409(world):
    client = _api(world["gateway"])
    ok = client.post("/api/v1/units/AS01/status/", {"status": "available"}, format="json")
    assert ok.status_code == 200 and ok.json()["status"] == "available"
    bad = client.post("/api/v1/units/AS01/status/", {"status": "en_route"}, format="json")
    assert bad.status_code == 409 and bad.json()["code"] == "invalid_transition"
    unknown = client.post("/api/v1/units/AS01/status/", {"status": "flying"}, format="json")
    assert unknown.status_code == 400 and "status" in unknown.json()


def test_status_older_than_last_applied_changes_nothing(world):
    client = _api(world["gateway"])
    now = timezone.now()
    client.post("/api/v1/units/CN01/status/", {"status": "unavailable", "at": now.isoformat()},
                format="json")  # fmt: skip
    late = client.post(
        "/api/v1/units/CN01/status/",
        {"status": "available", "at": (now - timedelta(minutes=1)).isoformat()},
        format="json",
    )
    assert late.status_code == 200
    assert late.json()["status"] == "unavailable"


def test_status_from_the_far_future_is_refused(world):
    response = _api(world["gateway"]).post(
        "/api/v1/units/CN01/status/",
        {"status": "unavailable", "at": (timezone.now() + timedelta(hours=1)).isoformat()},
        format="json",
    )
    assert response.status_code == 400 and "at" in response.json()


def test_local_desk_cannot_command_another_bcus_unit(world, make_user):
    response = _api(make_user("despatcher", bcu="CN")).post(
        "/api/v1/units/AS01/status/", {"status": "available"}, format="json"
    )
    assert response.status_code == 403
    call_handler = _api(make_user("call_handler")).post(
        "/api/v1/units/CN01/status/", {"status": "unavailable"}, format="json"
    )
    assert call_handler.status_code == 403


def test_position_update_and_bad_input(world):
    client = _api(world["gateway"])
    ok = client.post("/api/v1/units/CN01/position/", {"lat": 51.5, "lon": -0.1}, format="json")
    assert ok.status_code == 200
    assert ok.json()["position"]["lat"] == 51.5
    bad = client.post("/api/v1/units/CN01/position/", {"lat": "north", "lon": 500},
                      format="json")  # fmt: skip
    assert bad.status_code == 400 and set(bad.json()) == {"lat", "lon"}


def test_older_position_is_ignored(world):
    now = timezone.now()
    client = _api(world["gateway"])
    client.post("/api/v1/units/CN01/position/",
                {"lat": 51.51, "lon": -0.1, "at": now.isoformat()}, format="json")  # fmt: skip
    old = client.post(
        "/api/v1/units/CN01/position/",
        {"lat": 51.6, "lon": -0.2, "at": (now - timedelta(seconds=10)).isoformat()},
        format="json",
    )
    assert old.json()["position"]["lat"] == 51.51


def test_emergency_raised_then_acknowledged_and_logged(world, captured_events):
    desk = world["desk"]
    incident = make_incident(desk, grade="I")
    despatch.assignment_create(incident=incident, unit=world["cn"], by=desk)
    raised = _api(world["gateway"]).post("/api/v1/units/CN01/emergency/", {}, format="json")
    assert raised.status_code == 200 and raised.json()["emergency"] is True
    (event,) = captured_events.of("unit.emergency")
    assert set(event.bcu.split(",")) == {"AS", "CN"}  # every desk in London hears it

    call_handler_ack = _api(world["gateway"]).post("/api/v1/units/CN01/emergency/acknowledge/")
    assert call_handler_ack.status_code == 403

    ack = _api(desk).post("/api/v1/units/CN01/emergency/acknowledge/")
    assert ack.status_code == 200 and ack.json()["emergency"] is False
    assert AuditEvent.objects.filter(action="acknowledge", user=desk).exists()
    assert IncidentLogEntry.objects.filter(
        incident=incident, text__contains="acknowledged by dora"
    ).exists()
    again = _api(desk).post("/api/v1/units/CN01/emergency/acknowledge/")
    assert again.status_code == 409 and again.json()["code"] == "no_emergency"
    assert len(captured_events.of("unit.emergency")) == 2


def test_timer_flags(world):
    from resources.models import Assignment
    from resources.timers import board_timers, timer_flags

    desk = world["desk"]
    incident = make_incident(desk, grade="I")
    despatch.assignment_create(incident=incident, unit=world["cn"], by=desk)
    assert timer_flags() == []
    late = timezone.now() + timedelta(minutes=board_timers()["I"]["not_en_route"] + 1)
    assert [f["flag"] for f in timer_flags(now=late)] == ["not_en_route"]
    Assignment.objects.filter(unit=world["cn"]).update(
        en_route_at=timezone.now(), at_scene_at=timezone.now()
    )
    assert timer_flags(now=late) == []
    much_later = timezone.now() + timedelta(minutes=board_timers()["I"]["at_scene"] + 1)
    assert [f["flag"] for f in timer_flags(now=much_later)] == ["at_scene"]


def test_board_timers_follow_settings(settings):
    from resources.timers import board_timers

    settings.BOARD_TIMERS = {"I": {"not_en_route": 5}, "S": {"at_scene": None}}
    timers = board_timers()
    assert timers["I"]["not_en_route"] == 5 and timers["I"]["at_scene"] == 60
    assert timers["S"]["at_scene"] is None


@pytest.mark.parametrize("path", ["C%00N01/", "CN01%00/status/", "CN%1B01/position/"])
def test_a_call_sign_with_a_control_character_is_no_unit(world, path):
    # Found by fuzzing (issue 23): a NUL in the path reached PostgreSQL and was a 500.
    response = _api(world["gateway"]).get(f"/api/v1/units/{path}")
    assert response.status_code == 404
