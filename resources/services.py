"""The only write path for units: status, position, crews, emergencies and assignments.

Locking rule (style guide): inside one short transaction, lock the incident first, then the
unit(s) in id order. Two despatchers sending the same unit serialise on the unit's row lock;
the loser re-reads a unit that is no longer free and gets a 409. The partial unique index
`one_active_assignment_per_unit` stands behind the locks in case any path forgets them.
"""

from datetime import datetime

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from cad.audit.trail import audit_record
from cad.errors import Conflict
from incidents.events import incident_event
from incidents.models import Incident, IncidentLogEntry, IncidentStatus
from resources.events import unit_emergency_event, unit_event, unit_position_event
from resources.models import Assignment, Unit, UnitStatus, UnitStatusChange

S = UnitStatus
ON_JOB = {S.ASSIGNED, S.EN_ROUTE, S.AT_SCENE}

# Which status may follow which. `assigned` is reached only through assignment_create;
# en_route and at_scene need an active assignment; off_duty needs none.
ALLOWED_TRANSITIONS: dict[str, set[str]] = {
    S.OFF_DUTY: {S.AVAILABLE, S.UNAVAILABLE},
    S.AVAILABLE: {S.UNAVAILABLE, S.OFF_DUTY},
    S.ASSIGNED: {S.EN_ROUTE, S.AT_SCENE, S.AVAILABLE, S.UNAVAILABLE},
    S.EN_ROUTE: {S.AT_SCENE, S.AVAILABLE, S.UNAVAILABLE},
    S.AT_SCENE: {S.EN_ROUTE, S.AVAILABLE, S.UNAVAILABLE},
    S.UNAVAILABLE: {S.AVAILABLE, S.OFF_DUTY, S.EN_ROUTE, S.AT_SCENE},
}


def unit_is_free(unit: Unit) -> bool:
    """Could this unit be sent now? Available, or committed but deployable (code 7)."""
    if not unit.active:
        return False
    return unit.status == S.AVAILABLE or (unit.status == S.UNAVAILABLE and unit.deployable)


def _record_status(*, unit: Unit, to: str, at: datetime, source: str, by: User | None) -> None:
    UnitStatusChange.objects.create(
        unit=unit, at=at, from_status=unit.status, to_status=to, source=source, by=by
    )
    unit.status = to
    unit.status_at = at
    unit.version = F("version") + 1


def _recommend_near_after_commit(unit: Unit) -> None:
    """A unit became free: refresh recommendations for open, unresourced incidents near it.

    `robust`: a broker that is down must not fail the committed status change.
    """
    from resources.tasks import recommend_near_unit

    unit_id = unit.pk
    transaction.on_commit(lambda: recommend_near_unit.delay(unit_id), robust=True)


def _log(incident: Incident, text: str, *, kind: str, by: User | None) -> None:
    IncidentLogEntry.objects.create(incident=incident, by=by, kind=kind, text=text)


def _refresh_incident_status(incident: Incident) -> None:
    """Derive open/assigned/at_scene from the active assignments (closed stays closed)."""
    if incident.status == IncidentStatus.CLOSED:
        return
    active = Assignment.objects.filter(incident=incident, cleared_at__isnull=True)
    if active.filter(at_scene_at__isnull=False).exists():
        status = IncidentStatus.AT_SCENE
    elif active.exists():
        status = IncidentStatus.ASSIGNED
    else:
        # Everyone has cleared but nobody closed it: it is unresourced again and back in the
        # queue, which is what a despatcher needs to see.
        status = IncidentStatus.OPEN
    if status != incident.status:
        incident.status = status
        incident.version = F("version") + 1
        incident.save(update_fields=["status", "version", "updated_at"])
        incident.refresh_from_db(fields=["version"])


def _lock_unit(unit: Unit) -> Unit:
    return Unit.objects.select_for_update().get(pk=unit.pk)


def unit_lock_with_job(unit: Unit) -> tuple[Incident | None, Unit, Assignment | None]:
    """Lock (incident, unit) in the fixed order for a unit that may be on a job.

    The unit's current job is read without a lock, its incident locked, then the unit; if the
    job changed in between (it was cleared or reassigned), start again.
    """
    for _ in range(3):
        incident_id = (
            Assignment.objects.filter(unit=unit, cleared_at__isnull=True)
            .values_list("incident_id", flat=True)
            .first()
        )
        incident = Incident.objects.select_for_update().get(pk=incident_id) if incident_id else None
        locked = _lock_unit(unit)
        assignment = (
            Assignment.objects.select_for_update()
            .filter(unit=locked, cleared_at__isnull=True)
            .first()
        )
        if (assignment.incident_id if assignment else None) == incident_id:
            return incident, locked, assignment
    raise Conflict("the unit's job changed while updating; try again", code="busy")


# --- status ---------------------------------------------------------------------------------


def unit_set_status(
    *,
    unit: Unit,
    status: str,
    at: datetime | None = None,
    source: str,
    by: User | None = None,
    deployable: bool = False,
    note: str = "",
) -> Unit:
    """Apply a status update from the API, the board or the radio.

    An update timed before the last one applied changes nothing (radio messages arrive late
    and out of order). Setting `available` while on a job clears the unit from it.
    """
    if status not in S.values:
        raise Conflict(f"unknown status {status!r}", code="invalid_status")
    at = at or timezone.now()
    with transaction.atomic():
        incident, unit, assignment = unit_lock_with_job(unit)
        if unit.status_at and at < unit.status_at:
            return unit  # stale: a newer update has already been applied
        if status == unit.status and deployable == unit.deployable:
            # Nothing changes, but the report is newer: remember its time, so a delayed older
            # report (a code 6 from before this code 2, say) cannot apply afterwards.
            if unit.status_at is None or at > unit.status_at:
                Unit.objects.filter(pk=unit.pk).update(status_at=at)
                unit.status_at = at
            return unit
        if status == S.ASSIGNED:
            raise Conflict(
                "a unit is assigned by sending it to an incident", code="invalid_transition"
            )
        if status != unit.status and status not in ALLOWED_TRANSITIONS[unit.status]:
            raise Conflict(
                f"{unit.callsign} cannot go from {unit.get_status_display()} to {S(status).label}",
                code="invalid_transition",
            )
        if status in {S.EN_ROUTE, S.AT_SCENE} and assignment is None:
            raise Conflict(
                f"{unit.callsign} has no incident to be {S(status).label}", code="no_assignment"
            )
        if status == S.OFF_DUTY and assignment is not None:
            raise Conflict(
                f"{unit.callsign} is still on {assignment.incident.reference}", code="on_assignment"
            )
        before = {"status": unit.status, "deployable": unit.deployable}
        was_free = unit_is_free(unit)
        if status != unit.status:
            _record_status(unit=unit, to=status, at=at, source=source, by=by)
        else:
            # Only `deployable` changes (radio code 7 after 8): still the newest report, so it
            # stamps the time too, or an older code 4 arriving later would undo it.
            unit.status_at = at
        unit.deployable = deployable if status == S.UNAVAILABLE else False
        unit.save(update_fields=["status", "status_at", "deployable", "version"])
        unit.refresh_from_db()

        if assignment is not None:
            assert incident is not None  # locked with its assignment by unit_lock_with_job
            _follow_assignment(unit=unit, assignment=assignment, incident=incident, at=at, by=by)
        audit_record(
            user=by, action="update", obj=unit, source=source,
            changes={"status": [before["status"], unit.status],
                     "deployable": [before["deployable"], unit.deployable], "note": note},
        )  # fmt: skip
        event = unit_event(
            unit, extra_bcus=[incident.bcu.code] if incident and incident.bcu is not None else []
        )
        # What the desks were told, for the API to answer with: saves reading it all again.
        unit.board_payload = event.data  # type: ignore[attr-defined]  # not a field: read once
        if unit_is_free(unit) and not was_free:
            _recommend_near_after_commit(unit)
    return unit


def _follow_assignment(
    *, unit: Unit, assignment: Assignment, incident: Incident, at: datetime, by: User | None
) -> None:
    """Stamp the job's times from the unit's new status, and keep the incident in step."""
    text = None
    if unit.status == S.EN_ROUTE and assignment.en_route_at is None:
        assignment.en_route_at = at
        text = f"{unit.callsign} en route"
    elif unit.status == S.AT_SCENE and assignment.at_scene_at is None:
        assignment.at_scene_at = at
        text = f"{unit.callsign} at scene"
    elif unit.status == S.AVAILABLE:
        # "Available" from the unit itself means it has finished here.
        assignment.cleared_at = at
        unit.last_cleared_at = at
        unit.save(update_fields=["last_cleared_at"])
        text = f"{unit.callsign} cleared"
    if text is None:
        return  # e.g. unavailable while at scene (prisoner): still on the job
    assignment.save()
    _log(incident, text, kind=IncidentLogEntry.Kind.STATUS, by=by)
    _refresh_incident_status(incident)
    incident_event(incident, type="incident.updated", extra_bcus=[unit.bcu.code])


def unit_set_position(
    *,
    unit: Unit,
    lat: float,
    lon: float,
    at: datetime | None = None,
    source: str,
    by: User | None = None,
) -> bool:
    """Move a unit. A position older than the one held is ignored. Returns whether it moved."""
    at = at or timezone.now()
    with transaction.atomic():
        # A conditional update, not a lock: GPS is frequent and must never queue behind a
        # despatcher's transaction on the same unit.
        moved = Unit.objects.filter(
            Q(position_at__isnull=True) | Q(position_at__lt=at), pk=unit.pk
        ).update(lat=lat, lon=lon, position_at=at)
        if moved:
            unit.refresh_from_db(fields=["lat", "lon", "position_at"])
            unit_position_event(unit)
    return bool(moved)


# --- booking on and off (crews come from the duty roster) -------------------------------------


def unit_set_crew_skills(
    *, unit: Unit, skill_ids: list[int], by: User | None = None, source: str
) -> Unit:
    """The crew changed (someone joined or left): the unit carries their skills; its status
    stays as it is, on a job or not."""
    with transaction.atomic():
        # Lock as unit_set_status does (incident, then unit), never the unit alone first: the
        # unit may be on a job, and a despatcher clearing it takes the incident first.
        _incident, unit, _assignment = unit_lock_with_job(unit)
        before = sorted(unit.skills.values_list("id", flat=True))
        if before != sorted(skill_ids):
            unit.skills.set(skill_ids)
            audit_record(
                user=by, action="update", obj=unit, source=source,
                changes={"skills": [before, sorted(skill_ids)]},
            )  # fmt: skip
            unit_event(unit)
    return unit


def unit_book_on(
    *,
    unit: Unit,
    skill_ids: list[int],
    by: User | None = None,
    at: datetime | None = None,
    source: str,
) -> Unit:
    """The crew is in: the unit carries their skills and becomes available."""
    at = at or timezone.now()
    with transaction.atomic():
        unit = unit_set_crew_skills(unit=unit, skill_ids=skill_ids, by=by, source=source)
        if unit.status in {S.OFF_DUTY, S.UNAVAILABLE}:
            return unit_set_status(unit=unit, status=S.AVAILABLE, at=at, source=source, by=by)
    return unit


def unit_book_off(
    *, unit: Unit, by: User | None = None, at: datetime | None = None, source: str
) -> Unit:
    """The crew has gone: no skills, off duty. Refused while the unit is on a job."""
    at = at or timezone.now()
    with transaction.atomic():
        unit = unit_set_status(unit=unit, status=S.OFF_DUTY, at=at, source=source, by=by)
        if unit.status != S.OFF_DUTY:
            raise Conflict(f"{unit.callsign} could not be booked off", code="invalid_transition")
        unit.skills.clear()
        unit_event(unit)
    return unit


# --- emergencies ------------------------------------------------------------------------------


def unit_raise_emergency(
    *, unit: Unit, at: datetime | None = None, source: str, by: User | None = None
) -> Unit:
    """Status code 0: an officer needs urgent assistance. Every despatcher must see it."""
    at = at or timezone.now()
    with transaction.atomic():
        unit = _lock_unit(unit)
        if unit.emergency:
            return unit
        unit.emergency = True
        unit.emergency_at = at
        unit.save(update_fields=["emergency", "emergency_at"])
        audit_record(user=by, action="update", obj=unit, source=source,
                     changes={"emergency": [False, True]})  # fmt: skip
        active = Assignment.objects.filter(unit=unit, cleared_at__isnull=True).first()
        if active:
            _log(active.incident, f"EMERGENCY raised by {unit.callsign}",
                 kind=IncidentLogEntry.Kind.STATUS, by=by)  # fmt: skip
        unit_emergency_event(unit)
    return unit


def unit_acknowledge_emergency(*, unit: Unit, by: User | None, source: str = "board") -> Unit:
    """A despatcher has taken the emergency: the alarm stops on every screen."""
    with transaction.atomic():
        unit = _lock_unit(unit)
        if not unit.emergency:
            raise Conflict(f"{unit.callsign} has no emergency to acknowledge", code="no_emergency")
        raised_at = unit.emergency_at
        unit.emergency = False
        unit.save(update_fields=["emergency"])
        audit_record(
            user=by, action="acknowledge", obj=unit, source=source,
            changes={"emergency": [True, False], "raised_at": raised_at.isoformat()
                     if raised_at else None},
        )  # fmt: skip
        active = Assignment.objects.filter(unit=unit, cleared_at__isnull=True).first()
        if active:
            who = getattr(by, "username", "") or "a despatcher"
            _log(active.incident, f"EMERGENCY from {unit.callsign} acknowledged by {who}",
                 kind=IncidentLogEntry.Kind.STATUS, by=by)  # fmt: skip
        unit_emergency_event(unit)
    return unit


# --- assignments ------------------------------------------------------------------------------


def assignment_create(
    *,
    incident: Incident,
    unit: Unit,
    by: User | None,
    source: str = "board",
    at: datetime | None = None,
) -> Assignment:
    """Send a unit to an incident. Exactly one of many simultaneous senders wins."""
    at = at or timezone.now()
    with transaction.atomic():
        incident = Incident.objects.select_for_update().get(pk=incident.pk)
        unit = _lock_unit(unit)
        if incident.status == IncidentStatus.CLOSED:
            raise Conflict(f"{incident.reference} is closed", code="incident_closed")
        current = (
            Assignment.objects.filter(unit=unit, cleared_at__isnull=True)
            .select_related("incident")
            .first()
        )
        if current is not None and current.incident_id == incident.pk:
            return current  # a repeated press (or a retried request): nothing more to do
        if not unit_is_free(unit):
            where = f" on {current.incident.reference}" if current else ""
            raise Conflict(
                f"{unit.callsign} is not free to go: {unit.get_status_display()}{where}",
                code="unit_unavailable",
            )
        try:
            with transaction.atomic():
                assignment = Assignment.objects.create(
                    incident=incident, unit=unit, assigned_at=at, assigned_by=by
                )
        except IntegrityError as exc:  # the index caught what the lock should have
            raise Conflict(
                f"{unit.callsign} is already on another incident", code="unit_unavailable"
            ) from exc
        _record_status(unit=unit, to=S.ASSIGNED, at=max(at, unit.status_at or at), source=source,
                       by=by)  # fmt: skip
        unit.deployable = False
        unit.save(update_fields=["status", "status_at", "deployable", "version"])
        unit.refresh_from_db()
        _log(incident, f"{unit.callsign} assigned", kind=IncidentLogEntry.Kind.ASSIGNMENT, by=by)
        _refresh_incident_status(incident)
        audit_record(user=by, action="create", obj=assignment, source=source,
                     changes={"incident": incident.reference, "unit": unit.callsign})  # fmt: skip
        bcus = [
            b for b in (incident.bcu.code if incident.bcu is not None else "", unit.bcu.code) if b
        ]
        # The despatch message to the unit's terminal is recorded with the assignment (state
        # `queued`) and handed to the gateway after commit, so neither exists without the other.
        from radio.services import despatch_message_queue

        despatch_message_queue(assignment=assignment, by=by)
        unit_event(unit, extra_bcus=bcus)
        incident_event(incident, type="incident.updated", extra_bcus=bcus)
    return assignment


def assignment_clear(
    *,
    incident: Incident,
    unit: Unit,
    by: User | None,
    source: str = "board",
    at: datetime | None = None,
) -> Assignment:
    """Take a unit off an incident (unassign). The unit becomes available again."""
    at = at or timezone.now()
    with transaction.atomic():
        incident = Incident.objects.select_for_update().get(pk=incident.pk)
        unit = _lock_unit(unit)
        assignment = (
            Assignment.objects.select_for_update()
            .filter(incident=incident, unit=unit, cleared_at__isnull=True)
            .first()
        )
        if assignment is None:
            raise Conflict(f"{unit.callsign} is not on {incident.reference}", code="not_assigned")
        _clear(assignment=assignment, unit=unit, at=at, by=by, source=source)
        _log(incident, f"{unit.callsign} unassigned", kind=IncidentLogEntry.Kind.ASSIGNMENT,
             by=by)  # fmt: skip
        _refresh_incident_status(incident)
        incident_event(incident, type="incident.updated", extra_bcus=[unit.bcu.code])
    return assignment


def _clear(
    *, assignment: Assignment, unit: Unit, at: datetime, by: User | None, source: str
) -> None:
    assignment.cleared_at = at
    assignment.save(update_fields=["cleared_at"])
    if unit.status in ON_JOB:
        _record_status(unit=unit, to=S.AVAILABLE, at=max(at, unit.status_at or at),
                       source=source, by=by)  # fmt: skip
    unit.last_cleared_at = at
    unit.save(update_fields=["status", "status_at", "last_cleared_at", "version"])
    unit.refresh_from_db()
    audit_record(user=by, action="update", obj=assignment, source=source,
                 changes={"cleared_at": [None, at.isoformat()]})  # fmt: skip
    unit_event(unit, extra_bcus=[assignment.incident.bcu.code]
               if assignment.incident.bcu is not None else [])  # fmt: skip
    if unit_is_free(unit):
        _recommend_near_after_commit(unit)


def assignments_clear_for_incident(
    *, incident: Incident, by: User | None, source: str, at: datetime | None = None
) -> list[Assignment]:
    """Clear every active assignment of an incident that the caller has already locked.

    Used when an incident is closed: its units become available again.
    """
    at = at or timezone.now()
    cleared = []
    with transaction.atomic():
        active = list(
            # of=self: the incident's BCU is an outer join, which PostgreSQL cannot lock.
            Assignment.objects.select_for_update(of=("self",))
            .filter(incident=incident, cleared_at__isnull=True)
            .select_related("incident__bcu", "unit")
            .order_by("unit_id")
        )
        # Every unit is locked before any event is emitted: event_emit holds the event counter
        # until commit, and a GPS update holding a unit row waits for that counter.
        units = {u.pk: u for u in Unit.objects.select_for_update().filter(
            pk__in=[a.unit_id for a in active]).order_by("pk")}  # fmt: skip
        for assignment in active:
            unit = units[assignment.unit_id]
            _clear(assignment=assignment, unit=unit, at=at, by=by, source=source)
            cleared.append(assignment)
    return cleared
