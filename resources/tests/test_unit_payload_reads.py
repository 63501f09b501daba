"""A unit's payload (`resources.selectors.unit_details`, `current_jobs`): on PostgreSQL fixed
statements, on SQLite the ORM (decision 0032). Both must give the payload the models say, for
units with and without skills, position, emergency and a job, on an incident with or without a
BCU; and each read is one statement whatever the number of units."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from resources import despatch, selectors
from resources.models import Assignment, Unit
from tests.factories import make_incident, make_unit


def _iso(value):
    return value.isoformat() if value else None


def expected_payload(unit: Unit) -> dict:
    """What the board is told of `unit`, from its model instances (not the code under test)."""
    unit.refresh_from_db()
    job = Assignment.objects.filter(unit=unit, cleared_at__isnull=True).first()
    job_part = None
    if job is not None:
        incident = job.incident
        job_part = {
            "incident": incident.pk,
            "incident_bcu": incident.bcu.code if incident.bcu else None,
            "grade": incident.grade,
            "assigned_at": _iso(job.assigned_at),
            "en_route_at": _iso(job.en_route_at),
            "at_scene_at": _iso(job.at_scene_at),
            "acknowledged_at": _iso(job.acknowledged_at),
        }
    return {
        "callsign": unit.callsign,
        "type": unit.type.code,
        "status": unit.status,
        "status_at": _iso(unit.status_at),
        "deployable": unit.deployable,
        "position": {"lat": unit.lat, "lon": unit.lon, "at": _iso(unit.position_at)}
        if unit.lat is not None
        else None,
        "bcu": unit.bcu.code,
        "issi": unit.issi,
        "emergency": unit.emergency,
        "emergency_at": _iso(unit.emergency_at) if unit.emergency else None,
        "skills": sorted(unit.skills.values_list("code", flat=True)),
        "incident": job.incident_id if job else None,
        "job": job_part,
    }


@pytest.fixture
def units(geography, cast):
    desk = cast.despatcher_all
    busy = make_unit(geography["kentish"], callsign="CN07", skills=["TSG", "DOG", "ARV"])
    incident = make_incident(cast.handler, where="camden", grade="I")
    despatch.assignment_create(incident=incident, unit=busy, by=desk)
    Assignment.objects.filter(unit=busy).update(en_route_at=timezone.now())
    Unit.objects.filter(pk=busy.pk).update(emergency=True, emergency_at=timezone.now())

    idle = make_unit(geography["brixton"], callsign="AS02")
    Unit.objects.filter(pk=idle.pk).update(lat=None, lon=None, position_at=None)

    # An incident outside every borough has no BCU; its job's `incident_bcu` is then None.
    away = make_unit(geography["kentish"], callsign="CN03", skills=["ARV"])
    elsewhere = make_incident(cast.handler, lat=51.30, lon=0.30, grade="S")
    assert elsewhere.bcu is None
    despatch.assignment_create(incident=elsewhere, unit=away, by=desk)
    return [busy, idle, away]


def test_payloads_are_what_the_models_say_in_call_sign_order(units):
    got = selectors.unit_details(unit_ids=[u.pk for u in units])

    assert [p["callsign"] for p in got] == ["AS02", "CN03", "CN07"]
    by_callsign = {p["callsign"]: p for p in got}
    for unit in units:
        assert by_callsign[unit.callsign] == expected_payload(unit)
    assert selectors.unit_detail(unit=units[0]) == expected_payload(units[0])


def test_current_jobs_are_the_uncleared_assignments(units):
    busy, idle, away = units
    jobs = selectors.current_jobs(unit_ids=[u.pk for u in units])

    assert set(jobs) == {busy.pk, away.pk}
    job = Assignment.objects.get(unit=busy, cleared_at__isnull=True)
    assert jobs[busy.pk]["id"] == job.pk
    assert jobs[busy.pk]["incident__bcu__code"] == "CN"
    assert jobs[away.pk]["incident__bcu__code"] is None
    # Passing the jobs in gives the same payloads as reading them.
    assert selectors.unit_details(unit_ids=[u.pk for u in units], jobs=jobs) == (
        selectors.unit_details(unit_ids=[u.pk for u in units])
    )


def test_each_read_is_one_statement_for_any_number_of_units(units):
    ids = [u.pk for u in units]
    # On PostgreSQL a unit's row carries its skills; SQLite reads them apart.
    skills_apart = 0 if connection.vendor == "postgresql" else 1
    with CaptureQueriesContext(connection) as reads:
        selectors.unit_details(unit_ids=ids)
    assert len(reads) == 2 + skills_apart  # units, jobs
    with CaptureQueriesContext(connection) as reads:
        selectors.unit_details(unit_ids=ids, jobs=selectors.current_jobs(unit_ids=ids))
    assert len(reads) == 2 + skills_apart  # jobs, units
    if connection.vendor == "postgresql":
        # One array parameter, not a placeholder per unit for Django to compile.
        assert all("= ANY(" in q["sql"] and " IN (" not in q["sql"] for q in reads)


def test_a_unit_that_is_not_there_is_does_not_exist(units):
    # As the ORM's `get` said before the fixed statements; callers catch DoesNotExist.
    missing = Unit(pk=max(u.pk for u in units) + 1000, callsign="ZZ99")
    with pytest.raises(Unit.DoesNotExist):
        selectors.unit_detail(unit=missing)


def test_the_boards_unit_lists_carry_each_skill_once_on_every_desk(units, geography, cast):
    """The board's list reads a unit's skills with the unit (grouped, on PostgreSQL) while a
    BCU desk's view joins the unit's assignments: a unit with several jobs, cleared and not,
    still shows each skill once, on its own BCU's desk, the desk of its job's BCU and on all."""
    desk = cast.despatcher_all
    roving = make_unit(geography["kentish"], callsign="CN09", skills=["TSG", "DOG"])
    first = make_incident(cast.handler, where="lambeth", grade="I")
    despatch.assignment_create(incident=first, unit=roving, by=desk)
    despatch.assignment_clear(incident=first, unit=roving, by=desk)
    second = make_incident(cast.handler, where="lambeth", grade="I")
    despatch.assignment_create(incident=second, unit=roving, by=desk)
    assert Assignment.objects.filter(unit=roving).count() == 2

    for bcu in ("CN", "AS", None):
        listed = {p["callsign"]: p for p in selectors.units_for_board(bcu=bcu)}
        assert listed["CN09"] == expected_payload(roving), bcu
