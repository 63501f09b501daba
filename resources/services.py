"""The write path for units: status, position, crews and emergencies.

Sending units to incidents and taking them off (assign, unassign, clear on close, the despatch
message's state) is resources/despatch.py, built on the unit primitives here.

Locking rule (style guide): inside one short transaction, lock the incident first, then the
unit(s) in id order. Two despatchers sending the same unit serialise on the unit's row lock;
the loser re-reads a unit that is no longer free and gets a 409. The partial unique index
`one_active_assignment_per_unit` stands behind the locks in case any path forgets them.

The incident's rows (its log, its status) are written only through `incidents.services`.
"""

from datetime import datetime
from typing import Any, NamedTuple, cast

from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.db.models import F, Model, Q
from django.utils import timezone

from cad.audit.trail import audit_record
from cad.enqueue import enqueue
from cad.errors import Conflict
from cad.prepared import PreparedValues
from incidents.events import incident_updated
from incidents.models import Incident, IncidentLogEntry
from incidents.services import (
    incident_log_record,
    incident_response_attended,
    incident_status_follow_units,
)
from resources.events import (
    unit_emergency,
    unit_position_updated,
    unit_positions_updated,
    unit_updated,
)
from resources.models import Assignment, Unit, UnitStatus, UnitStatusChange
from resources.selectors import unit_details
from resources.tasks import recommend_near_unit

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


def unit_status_record(*, unit: Unit, to: str, at: datetime, source: str, by: User | None) -> None:
    """Record a status change on a locked unit; the caller saves it (status, status_at,
    version)."""
    UnitStatusChange.objects.create(
        unit=unit, at=at, from_status=unit.status, to_status=to, source=source, by=by
    )
    unit.status = to
    unit.status_at = at
    # The caller holds the unit's row lock, so the version it read is current: counted here
    # rather than with F(), which would cost a read back of the row after the save.
    unit.version += 1


def recommend_near_after_commit(unit: Unit) -> None:
    """A unit became free: refresh recommendations for open, unresourced incidents near it.

    `robust`: a broker that is down must not fail the committed status change.
    """
    unit_id = unit.pk
    transaction.on_commit(lambda: enqueue(recommend_near_unit, unit_id), robust=True)


# Every assign, arrival and clear asks it: one prepared statement (cad/prepared.py).
ACTIVE_ARRIVALS = PreparedValues(
    Assignment,
    lambda *, incident_id: Assignment.objects.filter(
        incident_id=incident_id, cleared_at__isnull=True
    ).values_list("at_scene_at"),
)


def incident_follow_units(incident: Incident) -> None:
    """Bring the (locked) incident's status into step with its active assignments; the rule
    and the write are the incidents app's."""
    # An incident has a handful of active assignments at most: read them rather than ask twice.
    arrivals = ACTIVE_ARRIVALS.rows("active", incident_id=incident.pk)
    incident_status_follow_units(
        incident=incident,
        assigned=bool(arrivals),
        at_scene=any(at is not None for (at,) in arrivals),
    )


def unit_lock(unit: Unit) -> Unit:
    """The unit read afresh under its row lock."""
    rows = _locked(Unit, _UNIT, [unit.pk])
    if not rows:
        raise Unit.DoesNotExist(f"no unit {unit.pk}")
    return rows[0]


def incident_jobs_lock(incident: Incident) -> tuple[list[Assignment], dict[int, Unit]]:
    """The incident's active assignments and their units, locked in the fixed order (the
    caller holds the incident's lock), each assignment given the caller's incident.

    Every unit is locked before any event is emitted: event_emit holds the event counter until
    commit, and a GPS update holding a unit row waits for that counter."""
    jobs = _locked(Assignment, _JOBS_ON, [incident.pk])
    for job in jobs:
        job.incident = incident  # locked by the caller, its BCU with it
    if not jobs:
        return [], {}  # nearly every close: the units cleared before it
    ids = sorted({job.unit_id for job in jobs})
    marks = ", ".join(["%s"] * len(ids))
    units = {u.pk: u for u in _locked(Unit, f"{_UNITS_IN} ({marks}) ORDER BY id", ids)}
    for job in jobs:
        job.unit = units[job.unit_id]
    return jobs, units


def unit_lock_with_job(unit: Unit) -> tuple[Incident | None, Unit, Assignment | None]:
    """Lock (incident, unit) in the fixed order for a unit that may be on a job.

    The unit's current job is read without a lock, its incident locked, then the unit; if the
    job changed in between (it was cleared or reassigned), start again.
    """
    for _ in range(3):
        with connection.cursor() as cursor:
            cursor.execute(_JOB_INCIDENT, [unit.pk])
            row = cursor.fetchone()
        incident_id = row[0] if row else None
        incidents = _locked(Incident, _INCIDENT, [incident_id]) if incident_id else []
        incident = incidents[0] if incidents else None
        locked = unit_lock(unit)
        jobs = _locked(Assignment, _JOB, [locked.pk])
        assignment = jobs[0] if jobs else None
        if (assignment.incident_id if assignment else None) == incident_id:
            return incident, locked, assignment
    raise Conflict("the unit's job changed while updating; try again", code="busy")


# Every status change, assignment and emergency starts with these reads and locks, so they are
# fixed statements through `raw()` (model instances, as a queryset gives): building the ORM's
# query was a sixth of a status change's CPU (decision 0032). SQLite has no row locks (Django's
# select_for_update does nothing there either), so the lock clause is PostgreSQL's only.
_UNIT = f"SELECT * FROM {Unit._meta.db_table} WHERE id = %s"  # noqa: S608
_INCIDENT = f"SELECT * FROM {Incident._meta.db_table} WHERE id = %s"  # noqa: S608
_JOB = f"SELECT * FROM {Assignment._meta.db_table} WHERE unit_id = %s AND cleared_at IS NULL"  # noqa: S608
_JOBS_ON = (
    f"SELECT * FROM {Assignment._meta.db_table} "  # noqa: S608
    "WHERE incident_id = %s AND cleared_at IS NULL ORDER BY unit_id"
)
_UNITS_IN = f"SELECT * FROM {Unit._meta.db_table} WHERE id IN"  # noqa: S608
_JOB_INCIDENT = (
    f"SELECT incident_id FROM {Assignment._meta.db_table} "  # noqa: S608
    "WHERE unit_id = %s AND cleared_at IS NULL"
)


def _locked(model: type[Model], sql: str, params: list) -> list[Any]:
    if connection.vendor == "postgresql":
        sql += " FOR NO KEY UPDATE"
    return list(model._default_manager.raw(sql, params))


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
            unit_status_record(unit=unit, to=status, at=at, source=source, by=by)
        else:
            # Only `deployable` changes (radio code 7 after 8): still the newest report, so it
            # stamps the time too, or an older code 4 arriving later would undo it.
            unit.status_at = at
        unit.deployable = deployable if status == S.UNAVAILABLE else False
        unit.save(update_fields=["status", "status_at", "deployable", "version"])

        if assignment is not None:
            # unit_lock_with_job locked the assignment's incident with it.
            incident = cast(Incident, incident)
            _follow_assignment(unit=unit, assignment=assignment, incident=incident, at=at, by=by)
        audit_record(
            user=by, action="update", obj=unit, source=source,
            changes={"status": [before["status"], unit.status],
                     "deployable": [before["deployable"], unit.deployable], "note": note},
        )  # fmt: skip
        event = unit_updated(
            unit, extra_bcus=[incident.bcu.code] if incident and incident.bcu is not None else []
        )
        # What the desks were told, for the API to answer with: saves reading it all again.
        unit.board_payload = event.data  # type: ignore[attr-defined]  # not a field: read once
        if unit_is_free(unit) and not was_free:
            recommend_near_after_commit(unit)
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
        incident_response_attended(incident=incident, at=at)
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
    incident_log_record(incident=incident, text=text, kind=IncidentLogEntry.Kind.STATUS, by=by)
    incident_follow_units(incident)
    incident_updated(incident, extra_bcus=[unit.bcu.code])


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
            unit_position_updated(unit)
    return bool(moved)


class UnitFix(NamedTuple):
    unit_id: int
    lat: float
    lon: float
    at: datetime


def units_set_positions(*, fixes: list[UnitFix], jobs: dict[int, dict] | None = None) -> None:
    """Move many units at once (radio/positions.py: a gateway batch moves hundreds).

    The caller holds the units' row locks and has kept only fixes newer than the one each unit
    holds. Emits the same coalescible `unit.updated` as `unit_set_position`, numbered and
    published together, with the payloads of the whole batch read in two queries, or one when
    the caller passes the units' `current_jobs` (read under the same locks).
    """
    if not fixes:
        return
    if connection.vendor != "postgresql":
        moved = [Unit(pk=f.unit_id, lat=f.lat, lon=f.lon, position_at=f.at) for f in fixes]
        Unit.objects.bulk_update(moved, ["lat", "lon", "position_at"])
    else:
        # Django's bulk_update compiles a CASE per row and field: most of a batch's time in the
        # profile (bench/radio_ingest.py). One UPDATE ... FROM (VALUES ...) does it.
        table = Unit._meta.db_table
        rows = ",".join(["(%s::bigint, %s::float8, %s::float8, %s::timestamptz)"] * len(fixes))
        params = [v for f in fixes for v in (f.unit_id, f.lat, f.lon, f.at)]
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} AS u SET lat = v.lat, lon = v.lon, position_at = v.at "  # noqa: S608
                f"FROM (VALUES {rows}) AS v (id, lat, lon, at) WHERE u.id = v.id",
                params,
            )
    unit_positions_updated(unit_details(unit_ids=[f.unit_id for f in fixes], jobs=jobs))


def units_training_reset(*, at: datetime, by: User | None, source: str) -> list[Unit]:
    """Training only (the demand simulator, docs/simulation.md): every active unit available at
    its station as at `at`, off any job, out of emergency, never cleared. Returns the units in
    call-sign order.

    A simulated day starts from this one state each time, so two runs of one day (a what-if and
    its baseline) start alike, and `at` (the day's start, before anything an earlier run of the
    same day recorded) lets that run's timed updates apply rather than look stale. On a live
    instance it refuses: it rewrites every unit's status.
    """
    if not settings.TRAINING:
        raise Conflict("units are reset only on a training instance", code="not_training")
    with transaction.atomic():
        for job in Assignment.objects.select_for_update(no_key=True).filter(
            cleared_at__isnull=True
        ):
            job.cleared_at = max(at, job.assigned_at)
            job.save(update_fields=["cleared_at"])
        units = list(
            Unit.objects.select_for_update(no_key=True).filter(active=True).order_by("callsign")
        )
        UnitStatusChange.objects.bulk_create(
            UnitStatusChange(unit=u, at=at, from_status=u.status, to_status=S.AVAILABLE,
                             source=source, by=by)
            for u in units if u.status != S.AVAILABLE
        )  # fmt: skip
        Unit.objects.filter(pk__in=[u.pk for u in units]).update(
            status=S.AVAILABLE, status_at=at, deployable=False, emergency=False, lat=None,
            lon=None, position_at=None, last_cleared_at=None, version=F("version") + 1,
        )  # fmt: skip
        audit_record(
            user=by, action="update", object_type="resources.unit", object_id="*",
            object_repr=f"{len(units)} units", source=source,
            changes={"reset_to": "available at station", "at": at.isoformat()},
        )  # fmt: skip
        for unit in units:
            unit.refresh_from_db()
            unit_updated(unit)
    return units


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
            unit_updated(unit)
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
        unit_updated(unit)
    return unit


# --- emergencies ------------------------------------------------------------------------------


def unit_raise_emergency(
    *, unit: Unit, at: datetime | None = None, source: str, by: User | None = None
) -> Unit:
    """Status code 0: an officer needs urgent assistance. Every despatcher must see it."""
    at = at or timezone.now()
    with transaction.atomic():
        unit = unit_lock(unit)
        if unit.emergency:
            return unit
        unit.emergency = True
        unit.emergency_at = at
        unit.save(update_fields=["emergency", "emergency_at"])
        audit_record(user=by, action="update", obj=unit, source=source,
                     changes={"emergency": [False, True]})  # fmt: skip
        active = Assignment.objects.filter(unit=unit, cleared_at__isnull=True).first()
        if active:
            incident_log_record(incident=active.incident, by=by,
                                text=f"EMERGENCY raised by {unit.callsign}",
                                kind=IncidentLogEntry.Kind.STATUS)  # fmt: skip
        unit_emergency(unit)
    return unit


def unit_acknowledge_emergency(*, unit: Unit, by: User | None, source: str = "board") -> Unit:
    """A despatcher has taken the emergency: the alarm stops on every screen."""
    with transaction.atomic():
        unit = unit_lock(unit)
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
            incident_log_record(incident=active.incident, by=by,
                                text=f"EMERGENCY from {unit.callsign} acknowledged by {who}",
                                kind=IncidentLogEntry.Kind.STATUS)  # fmt: skip
        unit_emergency(unit)
    return unit


def unit_request_to_speak(*, unit: Unit, by: User | None, source: str = "phone") -> str | None:
    """The crew asks the despatcher to call them (the phone's button; radio code 12's twin).

    Like the radio's messaging codes it changes no status: the despatcher reads it in the job's
    log, so it is logged there when the unit is on a job. Returns that job's reference, or None
    when there is none (the request is then only in the audit trail, as the radio's is).
    """
    with transaction.atomic():
        incident, unit, assignment = unit_lock_with_job(unit)
        audit_record(user=by, action="update", obj=unit, source=source,
                     changes={"request_to_speak": True})  # fmt: skip
        if incident is None:
            return None
        incident_log_record(incident=incident, by=by,
                            text=f"Phone from {unit.callsign}: Request to speak",
                            kind=IncidentLogEntry.Kind.STATUS)  # fmt: skip
        bcus = [b for b in (incident.bcu.code if incident.bcu is not None else "",
                            unit.bcu.code) if b]  # fmt: skip
        incident_updated(incident, extra_bcus=bcus)
        return incident.reference
