"""A shift marked for a planned operation: its officers are drawn for it and listed on the
operation; the mark is audited and written in the operation's log (issue 17)."""

from datetime import timedelta

from rest_framework.test import APIClient

from cad.models import AuditEvent
from duties.models import Shift
from duties.services import shift_officer_add
from duties.tests.conftest import make_shift
from incidents.operations.models import OperationLogEntry
from incidents.operations.services import operation_create


def _api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _operation(world, day):
    shift_start = make_shift(world["CN"], world["team"], day).starts_at
    return operation_create(
        by=world["central"], name="Carnival", bcu_code="CN", lat=51.545, lon=-0.16,
        starts_at=shift_start + timedelta(hours=2), ends_at=shift_start + timedelta(hours=12),
    )  # fmt: skip


def test_supervisor_marks_a_shift_and_its_officers_join_the_operation(world, future):
    operation = _operation(world, future)
    shift = Shift.objects.get(starts_at__date=future, kind="early")
    shift_officer_add(shift=shift, officer=world["a"], by=world["sup"], source="test")
    url = f"/api/v1/shifts/{shift.pk}/operation/"
    assert (
        _api(world["desp"]).post(url, {"operation": operation.pk}, format="json").status_code == 403
    )
    assert (
        _api(world["sup_as"]).post(url, {"operation": operation.pk}, format="json").status_code
        == 403
    )
    reply = _api(world["sup"]).post(url, {"operation": operation.pk}, format="json")
    assert reply.status_code == 200, reply.content
    shift.refresh_from_db()
    assert shift.operation_id == operation.pk
    detail = _api(world["handler"]).get(f"/api/v1/operations/{operation.pk}/").json()
    assert [o["officer"] for o in detail["officers"]] == [world["a"].pk]
    assert OperationLogEntry.objects.filter(operation=operation,
                                            text__contains="marked for it").exists()  # fmt: skip
    assert AuditEvent.objects.filter(object_type="duties.shift", user=world["sup"]).exists()
    cleared = _api(world["sup"]).post(url, {"operation": None}, format="json")
    assert cleared.status_code == 200
    assert (
        _api(world["handler"]).get(f"/api/v1/operations/{operation.pk}/").json()["officers"] == []
    )


def test_a_shift_outside_the_operation_cannot_be_marked(world, future):
    operation = _operation(world, future)
    later = make_shift(world["CN"], world["team"], future + timedelta(days=3))
    reply = _api(world["sup"]).post(f"/api/v1/shifts/{later.pk}/operation/",
                                    {"operation": operation.pk}, format="json")  # fmt: skip
    assert reply.status_code == 409 and reply.json()["code"] == "outside_operation"
    missing = _api(world["sup"]).post(f"/api/v1/shifts/{later.pk}/operation/",
                                      {"operation": 999999}, format="json")  # fmt: skip
    assert missing.status_code == 400 and "operation" in missing.json()
