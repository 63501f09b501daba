"""Ring-fenced units (planned operations, issue 17): left out of recommendations for other
incidents while the operation runs, and sent elsewhere only with an override reason, logged."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from cad.models import AuditEvent
from incidents.models import IncidentLogEntry
from incidents.operations.models import OperationLogEntry
from incidents.operations.services import operation_create
from resources import despatch, ringfence
from resources.models import Assignment, UnitStatus
from resources.recommend.engine import recommend_incident
from tests.factories import make_incident, make_unit

STADIUM = (51.5550, -0.1084)
NEAR_STADIUM = (51.5560, -0.1090)


def _api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def scene(geography, cast):
    now = timezone.now()
    op = operation_create(
        by=cast.supervisor_cn, name="Arsenal v Spurs", starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=3), bcu_code="CN", lat=STADIUM[0], lon=STADIUM[1],
        radius_m=800,
    )  # fmt: skip
    # The fenced unit is the nearest to everything here: without the fence it would come first.
    fenced = make_unit(geography["kentish"], callsign="CN90", lat=51.546, lon=-0.160)
    free = make_unit(geography["kentish"], callsign="CN91", lat=51.550, lon=-0.150)
    ringfence.ring_fence_add(operation=op, unit=fenced, by=cast.supervisor_cn)
    elsewhere = make_incident(cast.handler, where="camden", grade="I")
    at_match = make_incident(cast.handler, lat=NEAR_STADIUM[0], lon=NEAR_STADIUM[1], grade="I")
    return {"op": op, "fenced": fenced, "free": free, "elsewhere": elsewhere,
            "at_match": at_match, "desk": cast.despatcher_cn}  # fmt: skip


def test_ring_fenced_unit_is_not_recommended_for_other_incidents(scene):
    units = [r.candidate.callsign for r in recommend_incident(scene["elsewhere"]).results]
    assert units == ["CN91"]


def test_ring_fenced_unit_is_recommended_for_its_own_operation(scene):
    assert scene["at_match"].operation_id == scene["op"].pk
    units = [r.candidate.callsign for r in recommend_incident(scene["at_match"]).results]
    assert "CN90" in units


def test_recommendation_api_leaves_it_out_too(scene):
    body = _api(scene["desk"]).get(
        f"/api/v1/incidents/{scene['elsewhere'].pk}/recommendations/").json()  # fmt: skip
    assert [r["unit"] for r in body["results"]] == ["CN91"]


def test_fence_ends_with_the_operation(scene):
    op = scene["op"]
    type(op).objects.filter(pk=op.pk).update(
        starts_at=timezone.now() - timedelta(hours=5), ends_at=timezone.now() - timedelta(hours=1)
    )
    units = [r.candidate.callsign for r in recommend_incident(scene["elsewhere"]).results]
    assert units[0] == "CN90"


def test_assigning_elsewhere_without_reason_is_409_and_changes_nothing(scene):
    response = _api(scene["desk"]).post(
        f"/api/v1/incidents/{scene['elsewhere'].pk}/assign/", {"unit": "CN90"}, format="json"
    )
    assert response.status_code == 409, response.content
    assert response.json()["code"] == "ring_fenced"
    assert not Assignment.objects.filter(unit=scene["fenced"]).exists()
    scene["fenced"].refresh_from_db()
    assert scene["fenced"].status == UnitStatus.AVAILABLE


def test_assigning_elsewhere_with_override_reason_is_logged_and_audited(scene):
    response = _api(scene["desk"]).post(
        f"/api/v1/incidents/{scene['elsewhere'].pk}/assign/",
        {"unit": "CN90", "override_reason": "Officer down, nearest unit"}, format="json",
    )  # fmt: skip
    assert response.status_code == 200, response.content
    assert Assignment.objects.filter(unit=scene["fenced"], incident=scene["elsewhere"]).exists()
    line = IncidentLogEntry.objects.get(incident=scene["elsewhere"], text__contains="override")
    assert "Officer down, nearest unit" in line.text and "Arsenal v Spurs" in line.text
    assert OperationLogEntry.objects.filter(operation=scene["op"],
                                            text__contains="Officer down").exists()  # fmt: skip
    audit = AuditEvent.objects.get(action="override", object_type="resources.unit")
    assert audit.changes["reason"] == "Officer down, nearest unit"
    assert audit.user == scene["desk"]


def test_assigning_to_its_own_operation_needs_no_reason(scene):
    despatch.assignment_create(incident=scene["at_match"], unit=scene["fenced"], by=scene["desk"])
    assert not AuditEvent.objects.filter(action="override").exists()


def test_ring_fence_api_roles_and_release(scene, cast):
    url = f"/api/v1/operations/{scene['op'].pk}/units/"
    assert _api(cast.despatcher_cn).post(url, {"unit": "CN91"}, format="json").status_code == 403
    assert _api(cast.supervisor_as).post(url, {"unit": "CN91"}, format="json").status_code == 403
    assert _api(cast.supervisor_cn).post(url, {"unit": "NOPE"}, format="json").status_code == 400
    body = _api(cast.supervisor_cn).post(url, {"unit": "CN91"}, format="json").json()
    assert [u["unit"] for u in body["units"]] == ["CN90", "CN91"]
    released = _api(cast.supervisor_cn).delete(f"{url}CN90/")
    assert released.status_code == 200
    assert [u["unit"] for u in released.json()["units"]] == ["CN91"]
    assert _api(cast.supervisor_cn).delete(f"{url}CN90/").status_code == 409


def test_a_stored_recommendation_is_recomputed_once_its_unit_is_ring_fenced(scene, cast):
    url = f"/api/v1/incidents/{scene['elsewhere'].pk}/recommendations/"
    ringfence.ring_fence_remove(operation=scene["op"], unit=scene["fenced"], by=cast.supervisor_cn)
    first = _api(scene["desk"]).get(url).json()
    assert [r["unit"] for r in first["results"]][0] == "CN90"
    ringfence.ring_fence_add(operation=scene["op"], unit=scene["fenced"], by=cast.supervisor_cn)
    again = _api(scene["desk"]).get(url).json()
    assert [r["unit"] for r in again["results"]] == ["CN91"]


def test_which_fence_holds_a_unit_is_read_without_compiling_sql(scene, postgres, compiled_selects):
    # Asked on every assign (decision 0036): after its first run, a prepared statement only.
    at = timezone.now()
    ringfence.ring_fence_holding(unit=scene["free"], at=at, operation_id=None)
    with compiled_selects() as seen:
        assert ringfence.ring_fence_holding(unit=scene["free"], at=at, operation_id=None) is None
    assert seen == []
    # A held unit: its fence, with the operation, as before (read as models, rarely).
    held = ringfence.ring_fence_holding(unit=scene["fenced"], at=at, operation_id=None)
    assert held is not None and held.operation.name == "Arsenal v Spurs"
    assert held.operation.bcu.code == "CN"
    assert ringfence.ring_fence_holding(unit=scene["fenced"], at=at,
                                        operation_id=scene["op"].pk) is None  # fmt: skip
