"""`GET /api/v1/incidents/{id}/recommendations/`: shape, on-demand computing, roles, scope."""

import pytest
from rest_framework.test import APIClient

from resources.models import Recommendation, Unit, UnitStatus
from tests.factories import make_incident, make_unit

INC = (51.545, -0.16)


def url(incident_id: int) -> str:
    return f"/api/v1/incidents/{incident_id}/recommendations/"


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def scene(geography, make_user):
    desk = make_user("despatcher")
    make_unit(geography["kentish"], callsign="CN1", lat=51.546, lon=-0.15)
    make_unit(geography["brixton"], callsign="AS1")
    incident = make_incident(desk, lat=INC[0], lon=INC[1], grade="I")
    return desk, incident


def test_computes_on_demand_then_serves_the_stored_result(scene):
    desk, incident = scene
    assert not Recommendation.objects.exists()
    reply = client_for(desk).get(url(incident.pk))
    assert reply.status_code == 200
    body = reply.json()
    assert [r["unit"] for r in body["results"]] == ["CN1", "AS1"]
    first = body["results"][0]
    assert set(first) >= {"unit", "eta_seconds", "distance_m", "score", "reasons"}
    assert isinstance(first["eta_seconds"], int) and first["eta_seconds"] > 0
    assert first["distance_m"] == pytest.approx(696, abs=10)
    assert "same BCU" in first["reasons"]
    assert "from AS BCU" in body["results"][1]["reasons"]
    assert body["computed_at"] and body["trigger"] == "on_demand"
    again = client_for(desk).get(url(incident.pk)).json()
    assert again["computed_at"] == body["computed_at"]  # fresh: not recomputed


def test_recomputes_when_a_listed_unit_is_no_longer_free(scene):
    desk, incident = scene
    first = client_for(desk).get(url(incident.pk)).json()
    Unit.objects.filter(callsign="CN1").update(status=UnitStatus.ASSIGNED)
    second = client_for(desk).get(url(incident.pk)).json()
    assert second["computed_at"] != first["computed_at"]
    assert [r["unit"] for r in second["results"]] == ["AS1"]


def test_recomputes_after_a_regrade(scene):
    desk, incident = scene
    first = client_for(desk).get(url(incident.pk)).json()
    incident.grade = "S"
    incident.save()
    second = client_for(desk).get(url(incident.pk)).json()
    assert second["computed_at"] != first["computed_at"]
    # No blue lights at S grade: the same unit takes longer.
    assert second["results"][0]["eta_seconds"] > first["results"][0]["eta_seconds"]


def test_roles_scope_and_missing(scene, make_user):
    _, incident = scene
    assert APIClient().get(url(incident.pk)).status_code in (401, 403)
    assert client_for(make_user("call_handler")).get(url(incident.pk)).status_code == 403
    assert client_for(make_user("despatcher", bcu="AS")).get(url(incident.pk)).status_code == 403
    assert client_for(make_user("despatcher", bcu="CN")).get(url(incident.pk)).status_code == 200
    assert client_for(make_user("supervisor")).get(url(999_999)).status_code == 404
    assert not Recommendation.objects.filter(incident_id=999_999).exists()


def test_closed_incident_is_a_conflict(scene):
    desk, incident = scene
    incident.status = "closed"
    incident.save()
    reply = client_for(desk).get(url(incident.pk))
    assert reply.status_code == 409
    assert reply.json()["code"] == "incident_closed"
