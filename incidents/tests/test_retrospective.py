"""Retrospective entry after an outage (api.md "Retrospective entry"): a past `received_at`, at
most 7 days back and never in the future, and the incident keeps the real time for its
reference, its due time and the response figures; its log says who entered it and when."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from incidents.models import Call, Incident, IncidentLogEntry
from incidents.services import london_date
from resources import despatch
from resources.models import UnitStatus
from tests.factories import make_incident_type, make_unit


def _api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _body(**extra):
    location = {"lat": 51.545, "lon": -0.16, "address": "1 High Street"}
    return {"type": "ASB1", "grade": "I", "summary": "fight, taken on paper",
            "location": location, **extra}  # fmt: skip


@pytest.fixture
def world(geography, cast):
    make_incident_type("ASB1")
    return cast


def test_keeps_the_real_time_and_says_who_entered_it(world):
    received = timezone.now() - timedelta(hours=30)
    reply = _api(world.handler).post(
        "/api/v1/incidents/", _body(received_at=received.isoformat(), retrospective=True),
        format="json",
    )  # fmt: skip
    assert reply.status_code == 201, reply.content
    incident = Incident.objects.get(pk=reply.json()["id"])
    assert incident.created_at == received
    assert incident.due_at == received + timedelta(minutes=15)
    assert incident.reference_date == london_date(received)
    assert Call.objects.get(incident=incident).received_at == received
    line = IncidentLogEntry.objects.get(incident=incident, text__startswith="Entered retro")
    assert world.handler.username in line.text
    assert line.at > received + timedelta(hours=29)  # the entry's own time is now


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"received_at": "2099-01-01T00:00:00Z", "retrospective": True}, "received_at"),
        ({"received_at": "ages ago", "retrospective": True}, "received_at"),
        ({"retrospective": True}, "received_at"),
        ({"received_at": "2026-11-30T09:00:00Z"}, "retrospective"),
        ({"retrospective": "yes", "received_at": "2026-11-30T09:00:00Z"}, "retrospective"),
    ],
)
def test_bad_retrospective_entry_is_400(world, extra, field):
    reply = _api(world.handler).post("/api/v1/incidents/", _body(**extra), format="json")
    assert reply.status_code == 400, reply.content
    assert field in reply.json()
    assert not Incident.objects.exists()


def test_at_most_seven_days_back(world):
    too_old = timezone.now() - timedelta(days=7, minutes=5)
    reply = _api(world.handler).post(
        "/api/v1/incidents/", _body(received_at=too_old.isoformat(), retrospective=True),
        format="json",
    )  # fmt: skip
    assert reply.status_code == 400
    assert "7 days" in reply.json()["received_at"][0]
    ok = timezone.now() - timedelta(days=6, hours=23)
    assert _api(world.handler).post(
        "/api/v1/incidents/", _body(received_at=ok.isoformat(), retrospective=True),
        format="json",
    ).status_code == 201  # fmt: skip


def test_response_figures_run_from_the_real_time(world, geography):
    """The attendance target and the response time count from receipt, not from entry: a call
    received 3 h ago and attended 10 min later met its 15 min target."""
    received = timezone.now() - timedelta(hours=3)
    body = _api(world.handler).post(
        "/api/v1/incidents/", _body(received_at=received.isoformat(), retrospective=True),
        format="json",
    ).json()  # fmt: skip
    incident = Incident.objects.get(pk=body["id"])
    unit = make_unit(geography["kentish"], callsign="CN07")
    status_at_before = unit.status_at
    assignment = despatch.assignment_record_past(
        incident=incident, unit=unit, by=world.despatcher_all,
        assigned_at=received + timedelta(minutes=2), at_scene_at=received + timedelta(minutes=10),
        cleared_at=received + timedelta(minutes=50), source="test",
    )  # fmt: skip
    response_time = assignment.at_scene_at - incident.created_at
    assert response_time == timedelta(minutes=10)
    assert assignment.at_scene_at <= incident.due_at
    # History only: the unit's present state is untouched.
    unit.refresh_from_db()
    assert unit.status == UnitStatus.AVAILABLE
    assert unit.status_at == status_at_before
