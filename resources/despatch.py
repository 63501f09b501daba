"""Despatch: sending units to incidents and taking them off. One public function per operation.

- `assignment_create`: send a unit (assign). Its assign hooks run inside its transaction: radio
  writes the despatch message to the unit's terminal there (registered in RadioConfig.ready,
  so resources never imports radio), and it is sent after commit. A hook that fails is rolled
  back to its savepoint and the unit is sent all the same: the radio sweeper finds the active
  assignment with no despatch message and queues it (radio.services
  `despatch_messages_queue_missing`), so the message is late, never lost. Records
  `assignment.created` for after-commit reactions (texts to the caller).
- `assignment_clear`: take a unit off (unassign).
- `assignments_clear_on_close`: free every unit still on an incident that is being closed. It
  runs inside `incidents.services.incident_close`'s transaction, registered as its close hook in
  ResourcesConfig.ready (incidents sits below resources and may not import it), so an incident
  is never closed with units still on it.
- `assignment_message_state_set`: the despatch message's state, shown on its assignment (radio
  calls it as the message is queued, sent and receipted).

Locking rule (resources/services.py): the incident first, then the unit(s) in id order. The
incident's log and status are written through `incidents.services`.
"""

import logging
from datetime import datetime
from typing import Any, Protocol

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from cad.api.fields import control_characters
from cad.audit.trail import audit_record
from cad.errors import Conflict
from cad.prepared import PreparedValues
from incidents.events import incident_updated
from incidents.models import Incident, IncidentLogEntry, IncidentStatus
from incidents.operations.services import operation_log_record
from incidents.services import incident_log_record
from resources.events import assignment_created, unit_updated
from resources.models import Assignment, Unit, UnitStatus
from resources.ringfence import ring_fence_holding
from resources.services import (
    ON_JOB,
    incident_follow_units,
    incident_jobs_lock,
    recommend_near_after_commit,
    unit_is_free,
    unit_lock,
    unit_status_record,
)

S = UnitStatus
Kind = IncidentLogEntry.Kind

logger = logging.getLogger(__name__)


class AssignHook(Protocol):
    def __call__(self, *, assignment: Assignment, by: Any, source: str) -> None: ...


# Work an app above this one does inside the assign's transaction, registered from its
# AppConfig.ready: radio writes the despatch message (radio.services). In the transaction, not
# after commit: the message is saved with the assignment, and the incident's desks hear of both
# in one `incident.updated` instead of a second event and a second transaction for the message.
_assign_hooks: list[AssignHook] = []


def assignment_create_hook_register(hook: AssignHook) -> None:
    """`hook(assignment=, by=, source=)` runs while the assign holds the incident's and the
    unit's locks, after the assignment is written and before the desks are told. It must not
    tell the desks itself: `assignment_create`'s own `incident.updated` carries its change."""
    if hook not in _assign_hooks:
        _assign_hooks.append(hook)


# Asked on every assign, before the unit is sent: one prepared statement (cad/prepared.py,
# decision 0036). (id, incident id, incident reference) of the unit's job, if it has one.
CURRENT_JOB = PreparedValues(
    Assignment,
    lambda *, unit_id: Assignment.objects.filter(unit_id=unit_id, cleared_at__isnull=True)
    .order_by("id")
    .values_list("id", "incident_id", "incident__reference"),
)  # fmt: skip


def _with_bcu_of(locked: Unit, read: Unit) -> Unit:
    """The unit read under its lock, given the BCU the caller's earlier read brought (the
    desks' streams need its code), rather than reading the BCU's row again."""
    if locked.bcu_id == read.bcu_id and Unit.bcu.is_cached(read):
        locked.bcu = read.bcu
    return locked


def assignment_create(
    *,
    incident: Incident,
    unit: Unit,
    by,
    source: str = "board",
    at: datetime | None = None,
    override_reason: str = "",
) -> Assignment:
    """Send a unit to an incident. Exactly one of many simultaneous senders wins.

    A unit ring-fenced for a running operation goes to an incident outside it only with an
    `override_reason` (409 `ring_fenced` without one); the reason is logged on the incident and
    the operation and audited as an override.
    """
    at = at or timezone.now()
    override_reason = _clean_reason(override_reason)
    with transaction.atomic():
        # Its BCU (for the desks' streams) and type (for radio's despatch text) come with it.
        incident = (
            Incident.objects.select_for_update(no_key=True, of=("self",))
            .select_related("bcu", "type")
            .get(pk=incident.pk)
        )
        unit = _with_bcu_of(unit_lock(unit), unit)
        if incident.status == IncidentStatus.CLOSED:
            raise Conflict(f"{incident.reference} is closed", code="incident_closed")
        current = CURRENT_JOB.rows("job", unit_id=unit.pk)
        if current and current[0][1] == incident.pk:
            # A repeated press (or a retried request): nothing more to do.
            return Assignment.objects.get(pk=current[0][0])
        if not unit_is_free(unit):
            where = f" on {current[0][2]}" if current else ""
            raise Conflict(
                f"{unit.callsign} is not free to go: {unit.get_status_display()}{where}",
                code="unit_unavailable",
            )
        fence = ring_fence_holding(unit=unit, at=at, operation_id=incident.operation_id)
        if fence is not None and not override_reason:
            raise Conflict(
                f"{unit.callsign} is ring-fenced for operation {fence.operation.name}; "
                "give an override_reason to send it elsewhere",
                code="ring_fenced",
            )
        try:
            with transaction.atomic():
                # The origin is the unit's GPS fix; without one, training takes its station.
                assignment = Assignment.objects.create(
                    incident=incident, unit=unit, assigned_at=at, assigned_by=by,
                    origin_lat=unit.lat, origin_lon=unit.lon,
                )  # fmt: skip
        except IntegrityError as exc:  # the index caught what the lock should have
            raise Conflict(
                f"{unit.callsign} is already on another incident", code="unit_unavailable"
            ) from exc
        unit_status_record(unit=unit, to=S.ASSIGNED, at=max(at, unit.status_at or at),
                           source=source, by=by)  # fmt: skip
        unit.deployable = False
        unit.save(update_fields=["status", "status_at", "deployable", "version"])
        incident_log_record(incident=incident, text=f"{unit.callsign} assigned",
                            kind=Kind.ASSIGNMENT, by=by)  # fmt: skip
        if fence is not None:
            _override_record(fence.operation, incident=incident, unit=unit, by=by,
                             reason=override_reason, source=source)  # fmt: skip
        incident_follow_units(incident)
        audit_record(user=by, action="create", obj=assignment, source=source,
                     changes={"incident": incident.reference, "unit": unit.callsign})  # fmt: skip
        _assign_hooks_run(assignment, by=by, source=source)
        bcus = [
            b for b in (incident.bcu.code if incident.bcu is not None else "", unit.bcu.code) if b
        ]
        unit_updated(unit, extra_bcus=bcus)
        incident_updated(incident, extra_bcus=bcus)
        assignment_created(assignment)
    return assignment


def _assign_hooks_run(assignment: Assignment, *, by, source: str) -> None:
    for hook in _assign_hooks:
        try:
            with transaction.atomic():  # a savepoint: a failed hook leaves nothing half-written
                hook(assignment=assignment, by=by, source=source)
        except Exception:  # noqa: BLE001  (the unit is sent; the hook's sweeper catches up)
            logger.exception("assign hook %s failed for assignment %s", hook, assignment.pk)


def _clean_reason(reason: str) -> str:
    if (
        not isinstance(reason, str)
        or len(reason.strip()) > 1000
        or control_characters(reason, multiline=True)
    ):
        raise ValidationError({"override_reason": ["At most 1000 characters of text."]})
    return reason.strip()


def _override_record(operation, *, incident: Incident, unit: Unit, by, reason: str,
                     source: str) -> None:  # fmt: skip
    text = (f"{unit.callsign} (ring-fenced for operation {operation.name}) sent to "
            f"{incident.reference} on override: {reason}")  # fmt: skip
    incident_log_record(incident=incident, text=text, kind=Kind.ASSIGNMENT, by=by)
    operation_log_record(operation=operation, text=text, by=by)
    audit_record(user=by, action="override", obj=unit, source=source,
                 changes={"ring_fence": operation.pk, "incident": incident.reference,
                          "reason": reason})  # fmt: skip


def assignment_record_past(
    *,
    incident: Incident,
    unit: Unit,
    by,
    assigned_at: datetime,
    at_scene_at: datetime | None,
    cleared_at: datetime,
    source: str,
) -> Assignment:
    """A unit's attendance taken while the CAD was down, entered afterwards (import_fallback).

    History only: the assignment is recorded already cleared, with its real times (the
    response figures read them), and the unit's present status is not touched, since it has
    moved on since. The incident's log says so.
    """
    if not (incident.created_at <= assigned_at <= cleared_at <= timezone.now()):
        raise ValidationError({"units": [
            f"{unit.callsign}: times must run received ≤ sent ≤ cleared ≤ now."]})  # fmt: skip
    if at_scene_at is not None and not (assigned_at <= at_scene_at <= cleared_at):
        raise ValidationError({"units": [
            f"{unit.callsign}: at scene must lie between sent and cleared."]})  # fmt: skip
    with transaction.atomic():
        incident = Incident.objects.select_for_update(no_key=True).get(pk=incident.pk)
        assignment = Assignment.objects.create(
            incident=incident, unit=unit, assigned_at=assigned_at, assigned_by=by,
            en_route_at=assigned_at, at_scene_at=at_scene_at, cleared_at=cleared_at,
        )  # fmt: skip
        times = f"sent {assigned_at:%H:%M}" + (
            f", at scene {at_scene_at:%H:%M}" if at_scene_at else "") + (
            f", cleared {cleared_at:%H:%M} (UTC), from the fallback log")  # fmt: skip
        incident_log_record(incident=incident, text=f"{unit.callsign} {times}",
                            kind=Kind.ASSIGNMENT, by=by)  # fmt: skip
        changes = {
            "incident": incident.reference, "unit": unit.callsign,
            "assigned_at": assigned_at.isoformat(),
            "at_scene_at": at_scene_at.isoformat() if at_scene_at else None,
            "cleared_at": cleared_at.isoformat(), "retrospective": True,
        }  # fmt: skip
        audit_record(user=by, action="create", obj=assignment, source=source, changes=changes)
        incident_updated(incident)
    return assignment


def assignment_clear(
    *, incident: Incident, unit: Unit, by, source: str = "board", at: datetime | None = None
) -> Assignment:
    """Take a unit off an incident (unassign). The unit becomes available again."""
    at = at or timezone.now()
    with transaction.atomic():
        incident = Incident.objects.select_for_update(no_key=True).get(pk=incident.pk)
        unit = unit_lock(unit)
        assignment = (
            Assignment.objects.select_for_update(no_key=True)
            .filter(incident=incident, unit=unit, cleared_at__isnull=True)
            .first()
        )
        if assignment is None:
            raise Conflict(f"{unit.callsign} is not on {incident.reference}", code="not_assigned")
        _clear(assignment=assignment, unit=unit, at=at, by=by, source=source)
        incident_log_record(incident=incident, text=f"{unit.callsign} unassigned",
                            kind=Kind.ASSIGNMENT, by=by)  # fmt: skip
        incident_follow_units(incident)
        incident_updated(incident, extra_bcus=[unit.bcu.code])
    return assignment


def _clear(*, assignment: Assignment, unit: Unit, at: datetime, by, source: str) -> None:
    assignment.cleared_at = at
    assignment.save(update_fields=["cleared_at"])
    if unit.status in ON_JOB:
        unit_status_record(unit=unit, to=S.AVAILABLE, at=max(at, unit.status_at or at),
                           source=source, by=by)  # fmt: skip
    unit.last_cleared_at = at
    unit.save(update_fields=["status", "status_at", "last_cleared_at", "version"])
    audit_record(user=by, action="update", obj=assignment, source=source,
                 changes={"cleared_at": [None, at.isoformat()]})  # fmt: skip
    incident_bcu = assignment.incident.bcu
    unit_updated(unit, extra_bcus=[incident_bcu.code] if incident_bcu is not None else [])
    if unit_is_free(unit):
        recommend_near_after_commit(unit)


def assignments_clear_on_close(*, incident: Incident, by, source: str, at: datetime) -> list[str]:
    """Clear every active assignment of an incident being closed; return the units' call signs.

    The close hook of `incidents.services.incident_close`: it runs in that transaction, which
    already holds the incident's lock, and the units become available again.
    """
    cleared = []
    with transaction.atomic():
        active, units = incident_jobs_lock(incident)
        for assignment in active:
            unit = units[assignment.unit_id]
            _clear(assignment=assignment, unit=unit, at=at, by=by, source=source)
            cleared.append(unit.callsign)
    return cleared


def assignment_message_state_set(
    *, assignment_id: int, state: str, radio_message_id: int, by, source: str,
    tell_desks: bool = True,
) -> None:  # fmt: skip
    """Show the despatch message's state on its assignment and tell the incident's desks.

    Radio calls it inside its own transaction, for the assignment's latest message only (an
    older message's receipt must not overwrite a newer message's state; radio knows which is
    the latest). `tell_desks=False` from an assign hook, whose assign tells them.
    """
    if state not in Assignment.MessageState.values:
        raise Conflict(f"unknown message state {state!r}", code="invalid_state")
    Assignment.objects.filter(pk=assignment_id).update(message_state=state)
    audit_record(
        user=by, action="update", object_type="resources.assignment",
        object_id=str(assignment_id), source=source,
        changes={"message_state": state, "radio_message": radio_message_id},
    )  # fmt: skip
    if not tell_desks:
        return
    assignment = Assignment.objects.select_related("incident__bcu", "unit__bcu").get(
        pk=assignment_id
    )
    incident_updated(assignment.incident, extra_bcus=[assignment.unit.bcu.code])


def assignment_acknowledge(
    *, unit: Unit, incident_id: int, by, source: str = "phone", at: datetime | None = None
) -> Assignment:
    """The crew has seen the despatch on a phone: record it on the unit's active assignment.

    `incident_id` is the job the phone showed: if the unit has since been taken off it (or sent
    elsewhere), the press is about a job that is no longer theirs and is refused with 409
    rather than acknowledging a despatch nobody saw. A repeated press changes nothing.
    """
    at = at or timezone.now()
    with transaction.atomic():
        incident = Incident.objects.select_for_update(no_key=True).filter(pk=incident_id).first()
        unit = unit_lock(unit)
        assignment = (
            Assignment.objects.select_for_update(no_key=True)
            .filter(unit=unit, incident_id=incident_id, cleared_at__isnull=True)
            .first()
        )
        if incident is None or assignment is None:
            raise Conflict(f"{unit.callsign} is no longer on that job", code="not_assigned")
        if assignment.acknowledged_at is not None:
            return assignment
        assignment.acknowledged_at = at
        assignment.save(update_fields=["acknowledged_at"])
        incident_log_record(incident=incident, text=f"{unit.callsign} acknowledged the despatch",
                            kind=Kind.ASSIGNMENT, by=by)  # fmt: skip
        audit_record(user=by, action="update", obj=assignment, source=source,
                     changes={"acknowledged_at": [None, at.isoformat()]})  # fmt: skip
        bcus = [
            b for b in (incident.bcu.code if incident.bcu is not None else "", unit.bcu.code) if b
        ]
        unit_updated(unit, extra_bcus=bcus)
        incident_updated(incident, extra_bcus=bcus)
    return assignment
