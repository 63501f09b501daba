"""Reads of units, shaped for the board and the API."""

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.contrib.postgres.aggregates import ArrayAgg
from django.db import connection
from django.db.models import Q, QuerySet

from cad.models import BCU
from cad.prepared import PreparedValues
from incidents.models import Incident
from resources.models import Assignment, Skill, Unit, UnitType

UNIT_FIELDS = (
    "id", "callsign", "type__code", "status", "lat", "lon", "position_at",
    "bcu__code", "issi", "emergency", "emergency_at", "status_at", "deployable",
)  # fmt: skip
JOB_FIELDS = (
    "id", "unit_id", "incident_id", "incident__bcu__code", "incident__grade",
    "assigned_at", "en_route_at", "at_scene_at", "acknowledged_at",
)  # fmt: skip


def units_visible(*, bcu: str | None) -> QuerySet[Unit]:
    """Active units a desk sees: its BCU's own, plus any unit working one of its incidents."""
    units = Unit.objects.filter(active=True)
    if bcu:
        units = units.filter(
            Q(bcu__code=bcu)
            | Q(assignments__cleared_at__isnull=True, assignments__incident__bcu__code=bcu)
        ).distinct()
    return units


def units_for_board(
    *, bcu: str | None, status: str | None = None, scope: str | None = None
) -> list[dict]:
    """Units with skills and current job, in two queries however many there are (three on
    SQLite, which reads the skills apart).

    `scope` is the reader's BCU scope (docs/security.md): `bcu` then only narrows within it.
    """
    units = units_visible(bcu=bcu)
    if scope and scope != bcu:
        units = units.filter(pk__in=units_visible(bcu=scope).values("pk"))
    if status:
        units = units.filter(status=status)
    rows = units.values(*UNIT_FIELDS)
    if connection.vendor == "postgresql":
        # Grouped, not a subquery per unit: 5,000 subplans made the snapshot slower than the
        # separate query this replaces. DISTINCT because a BCU's view joins the assignments.
        rows = rows.annotate(skill_codes=ArrayAgg(
            "skills__code", distinct=True, filter=Q(skills__isnull=False), default=[]
        ))  # fmt: skip
    return _payloads(list(rows.order_by("callsign")))


def unit_detail(*, unit: Unit) -> dict:
    """One unit's payload; Unit.DoesNotExist, as the ORM's `get` raised, when the row is gone."""
    details = unit_details(unit_ids=[unit.pk])
    if not details:
        raise Unit.DoesNotExist(f"unit {unit.pk} does not exist")
    return details[0]


def unit_details(*, unit_ids: list[int], jobs: dict[int, dict] | None = None) -> list[dict]:
    """unit_detail for many units, in call-sign order, in two queries (radio/positions.py moves
    hundreds at once); one where the caller has already read these units' `current_jobs`
    (SQLite reads the skills apart: one more)."""
    if connection.vendor != "postgresql":
        return _payloads(list(Unit.objects.filter(pk__in=unit_ids).values(*UNIT_FIELDS)), jobs)
    return _payloads(_fetch(_UNITS_BY_ID, [list(unit_ids)]), jobs)


def current_jobs(*, unit_ids: Iterable[int]) -> dict[int, dict]:
    """The current (uncleared) assignment of each of these units that has one, by unit id, with
    JOB_FIELDS: what a unit's payload shows of its job."""
    if connection.vendor != "postgresql":
        rows = list(
            Assignment.objects.filter(unit_id__in=list(unit_ids), cleared_at__isnull=True).values(
                *JOB_FIELDS
            )
        )
    else:
        rows = _fetch(_CURRENT_JOBS, [list(unit_ids)])
    return {job["unit_id"]: job for job in rows}


def _skills(unit_ids: list[int]) -> dict[int, list[str]]:
    """The skills of these units, where their rows do not carry them (SQLite)."""
    skills: dict[int, list[str]] = defaultdict(list)
    pairs = Unit.skills.through.objects.filter(unit_id__in=unit_ids).values_list(
        "unit_id", "skill__code"
    )
    for unit_id, code in pairs:
        skills[unit_id].append(code)
    return skills


# Every unit change and every radio batch reads its units' payloads: on PostgreSQL the reads are
# fixed statements, with the same rows and keys as the ORM's `.values()` (SQLite keeps the ORM).
# Building the ORM's queries was a fifth of a status change's CPU, and an `__in` compiles a
# placeholder per unit (decision 0032).


def _fetch(sql: str, params: list) -> list[dict[str, Any]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


# A unit's skills come in its own row, as an array: one round trip fewer for every unit change,
# every radio batch and the board's snapshot than reading them apart.
_UNIT_SKILLS = (
    f"ARRAY(SELECT s.code FROM {Unit.skills.through._meta.db_table} us "  # noqa: S608
    f"JOIN {Skill._meta.db_table} s ON s.id = us.skill_id WHERE us.unit_id = u.id) AS skill_codes"
)
_UNITS_BY_ID = (
    'SELECT u.id, u.callsign, t.code AS "type__code", u.status, u.lat, u.lon, u.position_at, '  # noqa: S608
    'b.code AS "bcu__code", u.issi, u.emergency, u.emergency_at, u.status_at, u.deployable, '
    f"{_UNIT_SKILLS} "
    f"FROM {Unit._meta.db_table} u JOIN {UnitType._meta.db_table} t ON t.id = u.type_id "
    f"JOIN {BCU._meta.db_table} b ON b.id = u.bcu_id "
    "WHERE u.id = ANY(%s) ORDER BY u.callsign"
)
_CURRENT_JOBS = (
    'SELECT a.id, a.unit_id, a.incident_id, b.code AS "incident__bcu__code", '  # noqa: S608
    'i.grade AS "incident__grade", a.assigned_at, a.en_route_at, a.at_scene_at, '
    f"a.acknowledged_at FROM {Assignment._meta.db_table} a "
    f"JOIN {Incident._meta.db_table} i ON i.id = a.incident_id "
    f"LEFT JOIN {BCU._meta.db_table} b ON b.id = i.bcu_id "
    "WHERE a.unit_id = ANY(%s) AND a.cleared_at IS NULL"
)


def _payloads(rows: list[dict], jobs: dict[int, dict] | None = None) -> list[dict]:
    ids = [r["id"] for r in rows]
    # PostgreSQL's rows carry their skills (_UNIT_SKILLS); SQLite's are read here.
    carried = bool(rows) and "skill_codes" in rows[0]
    skills = {r["id"]: r["skill_codes"] for r in rows} if carried else _skills(ids)
    if jobs is None:
        jobs = current_jobs(unit_ids=ids)
    return [unit_payload(r, skills.get(r["id"], []), jobs.get(r["id"])) for r in rows]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def unit_payload(row: dict, skills: list[str], job: dict[str, Any] | None) -> dict:
    """The one shape of a unit: API list/detail, board snapshot and `unit.updated` events."""
    position = None
    if row["lat"] is not None:
        position = {"lat": row["lat"], "lon": row["lon"], "at": _iso(row["position_at"])}
    return {
        "callsign": row["callsign"],
        "type": row["type__code"],
        "status": row["status"],
        "status_at": _iso(row["status_at"]),
        "deployable": row["deployable"],
        "position": position,
        "bcu": row["bcu__code"],
        "issi": row["issi"],
        "emergency": row["emergency"],
        "emergency_at": _iso(row["emergency_at"]) if row["emergency"] else None,
        "skills": sorted(skills),
        "incident": job["incident_id"] if job else None,
        # The job's clock, so the board can flag a unit slow to go or long at scene
        # (resources/timers.py) without another request.
        "job": {
            "incident": job["incident_id"],
            "incident_bcu": job["incident__bcu__code"],
            "grade": job["incident__grade"],
            "assigned_at": _iso(job["assigned_at"]),
            "en_route_at": _iso(job["en_route_at"]),
            "at_scene_at": _iso(job["at_scene_at"]),
            "acknowledged_at": _iso(job["acknowledged_at"]),
        }
        if job
        else None,
    }


def assignment_audit_rows(incident_pk: int) -> Q | None:
    """Audit rows of the incident's assignments: their later changes name only themselves."""
    ids = [
        str(i)
        for i in Assignment.objects.filter(incident_id=incident_pk).values_list("id", flat=True)
    ]
    return Q(object_type="resources.assignment", object_id__in=ids) if ids else None


def _assignment_status(
    *, cleared_at: datetime | None, at_scene_at: datetime | None, en_route_at: datetime | None
) -> str:
    if cleared_at:
        return "cleared"
    if at_scene_at:
        return "at_scene"
    if en_route_at:
        return "en_route"
    return "assigned"


# Read for every incident detail (the assign's and the close's answer too): compiled once and
# prepared on the server (cad/prepared.py, decision 0036).
ASSIGNMENTS = PreparedValues(
    Assignment,
    lambda *, incident_id: Assignment.objects.filter(incident_id=incident_id)
    .order_by("assigned_at")
    .values_list("unit__callsign", "assigned_at", "cleared_at", "en_route_at", "at_scene_at",
                 "message_state", "acknowledged_at"),
)  # fmt: skip


def incident_assignments(incident: Incident) -> list[dict[str, Any]]:
    """The units sent to an incident, oldest first: the "assignments" of its detail
    (registered with `incidents.selectors.register_incident_detail_part` in ResourcesConfig)."""
    assignments = []
    for (
        callsign,
        assigned_at,
        cleared_at,
        en_route_at,
        at_scene_at,
        state,
        acknowledged_at,
    ) in ASSIGNMENTS.rows("assignments", incident_id=incident.pk):
        status = _assignment_status(
            cleared_at=cleared_at, at_scene_at=at_scene_at, en_route_at=en_route_at
        )
        assignments.append({
            "unit": callsign,
            "status": status,
            "assigned_at": _iso(assigned_at),
            "cleared_at": _iso(cleared_at),
            "message_state": state,
            "acknowledged_at": _iso(acknowledged_at),
        })  # fmt: skip
    return assignments
