"""Ring-fencing: units held for a planned operation (incidents/operations/).

Between the operation's start and end a ring-fenced unit is not recommended for incidents
outside it (`ring_fenced_elsewhere`, used by resources/recommend/engine.py), and
`resources.despatch.assignment_create` sends it to one only with an `override_reason`, which
goes into the incident's log, the operation's log and the audit trail.
"""

from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from cad.audit.trail import audit_record
from cad.errors import Conflict
from cad.prepared import PreparedValues
from incidents.operations.models import Operation
from incidents.operations.services import operation_log_record
from resources.models import RingFence, Unit


def ring_fence_add(
    *, operation: Operation, unit: Unit, by: User | None, source: str = ""
) -> RingFence:
    """Hold a unit for an operation. 409 `operation_over` once it has ended; adding it again
    changes nothing."""
    with transaction.atomic():
        operation = (
            Operation.objects.select_for_update(no_key=True)
            .select_related("bcu")
            .get(pk=operation.pk)
        )
        if operation.ends_at <= timezone.now():
            raise Conflict(f"{operation.name} has ended", code="operation_over")
        fence, created = RingFence.objects.get_or_create(
            operation=operation, unit=unit, defaults={"added_by": by}
        )
        if created:
            audit_record(user=by, action="create", obj=fence, source=source,
                         changes={"operation": operation.pk, "unit": unit.callsign})  # fmt: skip
            text = f"{unit.callsign} ring-fenced for the operation."
            operation_log_record(operation=operation, by=by, text=text)
    return fence


def ring_fence_remove(
    *, operation: Operation, unit: Unit, by: User | None, source: str = ""
) -> None:
    """Release a unit from an operation. 409 `not_ring_fenced` when it was not held for it."""
    with transaction.atomic():
        operation = (
            Operation.objects.select_for_update(no_key=True)
            .select_related("bcu")
            .get(pk=operation.pk)
        )
        fence = RingFence.objects.filter(operation=operation, unit=unit).first()
        if fence is None:
            raise Conflict(f"{unit.callsign} is not ring-fenced for {operation.name}",
                           code="not_ring_fenced")  # fmt: skip
        audit_record(user=by, action="delete", obj=fence, source=source,
                     changes={"operation": operation.pk, "unit": unit.callsign})  # fmt: skip
        fence.delete()
        operation_log_record(operation=operation, by=by,
                             text=f"{unit.callsign} released from the operation.")  # fmt: skip


def _running(at: datetime) -> Q:
    return Q(operation__starts_at__lte=at, operation__ends_at__gt=at)


def ring_fenced_elsewhere(*, at: datetime, operation_id: int | None) -> Exists:
    """For a Unit queryset: is the unit held at `at` by a running operation other than
    `operation_id` (the incident's own operation may use its own units)?"""
    fences = RingFence.objects.filter(_running(at), unit=OuterRef("pk"))
    if operation_id is not None:
        fences = fences.exclude(operation_id=operation_id)
    return Exists(fences)


def _holding_queryset(*, at: datetime, unit_id: int, operation_id: int | None = None) -> QuerySet:
    fences = RingFence.objects.filter(_running(at), unit_id=unit_id)
    if operation_id is not None:
        fences = fences.exclude(operation_id=operation_id)
    return fences.order_by("operation__starts_at", "id").values_list("id")[:1]


# Asked on every assign, and nearly always answered "none": one prepared statement
# (cad/prepared.py); only a unit that is held has its fence and operation read as models.
HOLDING = PreparedValues(RingFence, _holding_queryset)


def ring_fence_holding(*, unit: Unit, at: datetime, operation_id: int | None) -> RingFence | None:
    """The running operation's ring-fence that holds this unit away from `operation_id`."""
    values: dict[str, Any] = {"at": at, "unit_id": unit.pk}
    if operation_id is not None:
        values["operation_id"] = operation_id
    held = HOLDING.rows("holding", **values)
    if not held:
        return None
    return RingFence.objects.select_related("operation__bcu").get(pk=held[0][0])


def operation_units(operation: Operation) -> list[dict[str, Any]]:
    """The operation's ring-fenced units, for its detail (registered in ResourcesConfig)."""
    return [
        {"unit": f.unit.callsign, "status": f.unit.status, "bcu": f.unit.bcu.code,
         "added_at": f.added_at.isoformat()}
        for f in RingFence.objects.filter(operation=operation).select_related("unit__bcu")
    ]  # fmt: skip


def operation_callsigns(operation: Operation) -> list[str]:
    """Call signs for the operation's own event stream."""
    return list(
        RingFence.objects.filter(operation=operation).values_list("unit__callsign", flat=True)
    )
