"""The invariants the database itself holds, whatever code path tries to break them."""

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from cad.audit.append_only import AppendOnlyError
from cad.audit.trail import audit_record
from cad.models import AuditEvent
from incidents.models import GradeChange, IncidentLogEntry
from resources.models import Assignment
from tests.factories import make_incident, make_unit


@pytest.fixture
def world(cast, geography):
    user = cast.despatcher_all
    return {"user": user, "unit": make_unit(geography["kentish"]), "a": make_incident(user),
            "b": make_incident(user)}  # fmt: skip


def test_database_refuses_second_active_assignment(world):
    now = timezone.now()
    Assignment.objects.create(incident=world["a"], unit=world["unit"], assigned_at=now)
    with pytest.raises(IntegrityError), transaction.atomic():
        Assignment.objects.create(incident=world["b"], unit=world["unit"], assigned_at=now)
    assert Assignment.objects.filter(unit=world["unit"], cleared_at__isnull=True).count() == 1


def test_cleared_assignment_frees_the_unit_for_another(world):
    now = timezone.now()
    first = Assignment.objects.create(incident=world["a"], unit=world["unit"], assigned_at=now)
    first.cleared_at = now
    first.save()
    Assignment.objects.create(incident=world["b"], unit=world["unit"], assigned_at=now)
    assert Assignment.objects.filter(unit=world["unit"]).count() == 2


@pytest.fixture
def log_entry(world):
    return IncidentLogEntry.objects.create(incident=world["a"], by=world["user"], text="first")


@pytest.fixture
def audit_row(world):
    return audit_record(user=world["user"], action="update", obj=world["unit"], source="test")


@pytest.mark.django_db
@pytest.mark.parametrize("row", ["log_entry", "audit_row"])
def test_orm_cannot_change_or_delete_append_only_rows(request, row):
    obj = request.getfixturevalue(row)
    model = type(obj)
    with pytest.raises(AppendOnlyError):
        obj.save()
    with pytest.raises(AppendOnlyError):
        obj.delete()
    with pytest.raises(AppendOnlyError):
        model.objects.filter(pk=obj.pk).update(pk=obj.pk)
    with pytest.raises(AppendOnlyError):
        model.objects.filter(pk=obj.pk).delete()
    assert model.objects.filter(pk=obj.pk).exists()


@pytest.mark.parametrize(
    "table", ["incidents_incidentlogentry", "cad_auditevent", "incidents_gradechange"]
)
def test_postgres_trigger_refuses_raw_update_and_delete(
    postgres, world, log_entry, audit_row, table
):
    """Code that bypasses the ORM is stopped by the database itself."""
    GradeChange.objects.create(
        incident=world["a"], by=world["user"], from_grade="S", to_grade="I", reason="weapon seen"
    )
    for statement in (f"UPDATE {table} SET id = id", f"DELETE FROM {table}"):
        with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)
    assert IncidentLogEntry.objects.filter(pk=log_entry.pk).exists()
    assert AuditEvent.objects.filter(pk=audit_row.pk).exists()
    assert GradeChange.objects.filter(incident=world["a"]).count() == 1
