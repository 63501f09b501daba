"""Booking on: crew a unit from a shift; the unit carries the crew's skills into despatch."""

from datetime import time, timedelta

import pytest
from django.utils import timezone

from duties.models import Crewing, RosterDay, ShiftAssignment
from duties.rules import local_date
from duties.tests.conftest import make_officer, make_shift
from incidents.models import IncidentType, ResponsePlanItem
from resources.despatch import assignment_create
from resources.models import Assignment, UnitStatus
from resources.recommend.engine import load_candidates, requirements_for
from tests.factories import make_incident, make_skill, make_unit

pytestmark = pytest.mark.django_db


@pytest.fixture
def on_now(world):
    """A shift running now, with a, b and c on it, and an off-duty car."""
    now = timezone.now()
    shift = make_shift(
        world["CN"], world["team"], local_date(now), "other", start=time(0), end=time(23, 59)
    )
    shift.starts_at, shift.ends_at = now - timedelta(hours=1), now + timedelta(hours=7)
    shift.save()
    for key in "abc":
        ShiftAssignment.objects.create(shift=shift, officer=world[key])
    unit = make_unit(world["kentish"], callsign="CN11", status=UnitStatus.OFF_DUTY)
    return shift, unit


def book_on(client, unit, shift, officers):
    return client.post(
        "/api/v1/crewing/book-on/",
        {"unit": unit.callsign, "shift": shift.pk, "officers": [o.pk for o in officers]},
        content_type="application/json",
    )


def test_book_on_makes_unit_available_with_unexpired_crew_skills(client, world, on_now):
    shift, unit = on_now
    client.force_login(world["sup"])
    r = book_on(client, unit, shift, [world["a"], world["c"]])
    assert r.status_code == 200, r.json()
    assert r.json()["status"] == "available"
    assert r.json()["skills"] == ["ADV", "TASER"]  # c's Taser has expired: adds nothing
    assert {c["id"] for c in r.json()["crew"]} == {world["a"].pk, world["c"].pk}
    # The despatch board sees it.
    client.force_login(world["desp"])
    from resources.selectors import units_for_board

    [row] = [u for u in units_for_board(bcu="CN") if u["callsign"] == "CN11"]
    assert row["skills"] == ["ADV", "TASER"] and row["status"] == "available"


def test_crew_skills_decide_response_plan_eligibility(client, world, on_now):
    shift, unit = on_now
    itype = IncidentType.objects.create(code="VIOL", name="Violence", default_grade="I")
    ResponsePlanItem.objects.create(incident_type=itype, skill=make_skill("TASER"), grades="I")
    [need] = requirements_for(itype.pk, "I")
    client.force_login(world["sup"])
    assert load_candidates(51.5, -0.1, None) == []  # off duty: not a candidate at all
    book_on(client, unit, shift, [world["c"]])  # only an expired Taser
    [cand] = load_candidates(51.5, -0.1, None)
    assert not need.met_by(cand)
    book_on(client, unit, shift, [world["b"]])  # joins the crew with a valid Taser
    [cand] = load_candidates(51.5, -0.1, None)
    assert need.met_by(cand)
    r = client.post(
        "/api/v1/crewing/book-off/",
        {"unit": "CN11", "officers": [world["b"].pk]},
        content_type="application/json",
    )
    assert r.status_code == 200 and r.json()["skills"] == []
    [cand] = load_candidates(51.5, -0.1, None)
    assert not need.met_by(cand)


def test_book_off_returns_unit_to_off_duty(client, world, on_now):
    shift, unit = on_now
    client.force_login(world["sup"])
    book_on(client, unit, shift, [world["a"], world["b"]])
    r = client.post("/api/v1/crewing/book-off/", {"unit": "CN11"}, content_type="application/json")
    assert r.status_code == 200
    assert r.json() == {"unit": "CN11", "status": "off_duty", "skills": [], "crew": []}
    assert not Crewing.objects.filter(booked_off_at__isnull=True).exists()


def test_book_off_refused_while_on_a_job_and_nothing_changes(client, world, on_now):
    shift, unit = on_now
    client.force_login(world["sup"])
    book_on(client, unit, shift, [world["a"]])
    incident = make_incident(world["desp"], grade="I")
    assignment_create(incident=incident, unit=unit, by=world["desp"])
    r = client.post("/api/v1/crewing/book-off/", {"unit": "CN11"}, content_type="application/json")
    assert r.status_code == 409
    assert Crewing.objects.filter(booked_off_at__isnull=True, officer=world["a"]).exists()
    unit.refresh_from_db()
    assert unit.status == UnitStatus.ASSIGNED
    assert Assignment.objects.filter(unit=unit, cleared_at__isnull=True).exists()


def test_book_on_refusals(client, world, on_now):
    shift, unit = on_now
    other = make_unit(world["kentish"], callsign="CN12", status=UnitStatus.OFF_DUTY)
    stranger = make_officer(world["CN"], world["team"])
    client.force_login(world["sup"])
    assert book_on(client, unit, shift, [stranger]).json()["code"] == "not_on_shift"
    RosterDay.objects.create(officer=world["b"], date=local_date(shift.starts_at), kind="sick")
    assert book_on(client, unit, shift, [world["b"]]).json()["code"] == "abstracted"
    assert book_on(client, unit, shift, [world["a"]]).status_code == 200
    r = book_on(client, other, shift, [world["a"]])
    assert r.status_code == 409 and r.json()["code"] == "already_crewed"
    later = make_shift(world["CN"], world["team"], local_date(shift.starts_at) + timedelta(days=3))
    ShiftAssignment.objects.create(shift=later, officer=world["c"])
    assert book_on(client, other, later, [world["c"]]).json()["code"] == "shift_not_current"
    r = client.post(
        "/api/v1/crewing/book-on/",
        {"unit": "NOPE", "shift": shift.pk, "officers": []},
        content_type="application/json",
    )
    assert r.status_code == 400 and "officers" in r.json()
    r = book_on(client, type("U", (), {"callsign": "NOPE"}), shift, [world["b"]])
    assert r.status_code == 400 and "unit" in r.json()
    assert Crewing.objects.count() == 1


def test_officer_books_only_themselves_on(client, world, on_now, make_user):
    shift, unit = on_now
    user = make_user("despatcher", username="pc_a")  # any login; the officer link is what counts
    user.groups.clear()
    world["a"].user = user
    world["a"].save()
    client.force_login(user)
    assert book_on(client, unit, shift, [world["b"]]).status_code == 403
    assert book_on(client, unit, shift, [world["a"]]).status_code == 200
    client.force_login(world["sup_as"])
    assert book_on(client, unit, shift, [world["b"]]).status_code == 403
