"""Roster, print, my-shifts and booking-on pages: permissions, content, fixed query counts."""

from datetime import time, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from duties.models import Crewing, RosterDay, Shift, ShiftAssignment, Team
from duties.rules import at_local, local_date
from duties.tests.conftest import make_officer, make_shift
from resources.models import UnitStatus
from tests.factories import make_unit

pytestmark = pytest.mark.django_db


def populate(world, officers: int, start):
    """`officers` more officers in two teams, each on a shift or a mark on every day."""
    team2 = Team.objects.get_or_create(bcu=world["CN"], name="Team 2")[0]
    shifts = {}
    for i in range(28):
        for team in (world["team"], team2):
            shifts[(team.pk, i)] = Shift.objects.filter(
                team=team, starts_at=at_local(start + timedelta(days=i), time(7))
            ).first() or make_shift(
                world["CN"], team, start + timedelta(days=i), minimum=3, needs=[("TASER", 1)]
            )
    for n in range(officers):
        team = world["team"] if n % 2 else team2
        o = make_officer(world["CN"], team, skills=["TASER"] if n % 3 == 0 else [])
        for i in range(28):
            if i % 4 == 3:
                RosterDay.objects.create(officer=o, date=start + timedelta(days=i), kind="rest")
            else:
                ShiftAssignment.objects.create(shift=shifts[(team.pk, i)], officer=o)


def count_queries(client, url):
    with CaptureQueriesContext(connection) as ctx:
        r = client.get(url)
    assert r.status_code == 200
    return len(ctx.captured_queries), r


def test_roster_renders_in_a_fixed_number_of_queries(client, world, future):
    client.force_login(world["sup"])
    url = f"/roster/?from={future.isoformat()}"
    populate(world, 4, future)
    small, r = count_queries(client, url)
    assert r.content.count(b'class="c ') == 7 * 28  # 3 + 4 officers
    populate(world, 30, future)
    large, r = count_queries(client, url)
    assert r.content.count(b'class="c ') == 37 * 28
    assert small == large
    assert large <= 20


def test_shifts_api_in_a_fixed_number_of_queries(client, world, future):
    client.force_login(world["sup"])
    to = (future + timedelta(days=27)).isoformat()
    url = f"/api/v1/shifts/?bcu=CN&from={future.isoformat()}&to={to}"
    populate(world, 2, future)
    small, _ = count_queries(client, url)
    populate(world, 12, future)
    large, r = count_queries(client, url)
    assert small == large and len(r.json()) == 56


def test_roster_page_content_and_permissions(client, world, future):
    RosterDay.objects.create(officer=world["a"], date=future, kind="sick")
    make_shift(world["CN"], world["team"], future, minimum=2)
    client.force_login(world["sup"])
    r = client.get(f"/roster/?from={future.isoformat()}")
    body = r.content.decode()
    assert r.status_code == 200
    assert f'data-officer="{world["a"].pk}"' in body and 'data-kind="sick">SK<' in body
    assert 'class="s short"' in body  # 0 of 2 on the early
    assert "roster.js" in body
    client.force_login(world["desp"])
    assert client.get("/roster/").status_code == 403
    # A scoped supervisor always sees their own BCU, whatever the URL says.
    client.force_login(world["sup_as"])
    r = client.get("/roster/?bcu=CN")
    assert r.status_code == 200 and world["a"].collar_number not in r.content.decode()


def test_print_page(client, world, future):
    client.force_login(world["sup"])
    r = client.get(f"/roster/print/?from={future.isoformat()}")
    assert r.status_code == 200
    body = r.content.decode()
    assert world["a"].collar_number in body and "Key:" in body and "roster.js" not in body


def test_my_shifts_is_read_only_and_own(client, world, make_user):
    user = make_user("despatcher", username="pc_b")
    user.groups.clear()
    world["b"].user = user
    world["b"].save()
    today = timezone.localdate()
    shift = make_shift(
        world["CN"], world["team"], today + timedelta(days=2), "night", start=time(22), end=time(7)
    )
    ShiftAssignment.objects.create(shift=shift, officer=world["b"])
    ShiftAssignment.objects.create(
        shift=make_shift(world["CN"], world["team"], today + timedelta(days=3)), officer=world["a"]
    )
    RosterDay.objects.create(officer=world["b"], date=today + timedelta(days=5), kind="court")
    client.force_login(user)
    r = client.get("/my-shifts/")
    body = r.content.decode()
    assert r.status_code == 200
    assert "22:00–07:00 (next day)" in body and "Court" in body
    assert "07:00–15:00" not in body  # a's early is not b's business
    assert "<form" not in body.split("<main")[1].split("</main>")[0]
    assert client.get("/roster/").status_code == 403


def test_my_shifts_without_officer_record(client, world):
    client.force_login(world["sup"])
    r = client.get("/my-shifts/")
    assert r.status_code == 404 and b"not linked to an officer" in r.content


def test_book_on_page_round_trip(client, world):
    now = timezone.now()
    shift = make_shift(world["CN"], world["team"], local_date(now), "other")
    shift.starts_at, shift.ends_at = now - timedelta(minutes=30), now + timedelta(hours=8)
    shift.save()
    ShiftAssignment.objects.create(shift=shift, officer=world["a"])
    unit = make_unit(world["kentish"], callsign="CN21", status=UnitStatus.OFF_DUTY)
    client.force_login(world["sup"])
    r = client.get(f"/roster/book-on/?shift={shift.pk}")
    assert (
        r.status_code == 200
        and b"CN21" in r.content
        and world["a"].collar_number.encode() in r.content
    )
    r = client.post(
        "/roster/book-on/",
        {"shift": shift.pk, "unit": "CN21", "officers": [world["a"].pk], "action": "book_on"},
        follow=True,
    )
    assert b"CN21 booked on and available" in r.content
    unit.refresh_from_db()
    assert unit.status == UnitStatus.AVAILABLE
    assert sorted(unit.skills.values_list("code", flat=True)) == ["ADV", "TASER"]
    r = client.post(
        "/roster/book-on/", {"shift": shift.pk, "unit": "CN21", "action": "book_off"}, follow=True
    )
    assert b"Booked off CN21" in r.content
    unit.refresh_from_db()
    assert (
        unit.status == UnitStatus.OFF_DUTY
        and not Crewing.objects.filter(booked_off_at=None).exists()
    )
    client.force_login(world["handler"])
    assert client.get("/roster/book-on/").status_code == 403


def test_book_on_page_enforces_bcu_scope_as_the_api_does(client, world):
    """A supervisor of AS cannot book CN's unit off (or on) through the page by naming a shift
    of their own BCU: the page applies the API's check, on the unit's BCU as well."""
    now = timezone.now()
    shifts = {}
    for bcu in ("CN", "AS"):
        team = world["team"] if bcu == "CN" else Team.objects.create(bcu=world[bcu], name="AS 1")
        shifts[bcu] = make_shift(world[bcu], team, local_date(now), "other")
        shifts[bcu].starts_at, shifts[bcu].ends_at = (
            now - timedelta(hours=1),
            now + timedelta(hours=6),
        )
        shifts[bcu].save()
    ShiftAssignment.objects.create(shift=shifts["CN"], officer=world["a"])
    ShiftAssignment.objects.create(shift=shifts["CN"], officer=world["b"])
    crewed = make_unit(world["kentish"], callsign="CN21", status=UnitStatus.OFF_DUTY)
    spare = make_unit(world["kentish"], callsign="CN22", status=UnitStatus.OFF_DUTY)
    client.force_login(world["sup"])
    client.post("/roster/book-on/", {"shift": shifts["CN"].pk, "unit": "CN21",
                                     "officers": [world["a"].pk], "action": "book_on"})  # fmt: skip
    assert Crewing.objects.filter(unit=crewed, booked_off_at=None).count() == 1
    client.force_login(world["sup_as"])
    off = {"shift": shifts["AS"].pk, "unit": "CN21", "action": "book_off"}
    assert client.post("/roster/book-on/", off).status_code == 403
    on = {"shift": shifts["AS"].pk, "unit": "CN22", "officers": [world["b"].pk],
          "action": "book_on"}  # fmt: skip
    assert client.post("/roster/book-on/", on).status_code == 403
    crewed.refresh_from_db()
    spare.refresh_from_db()
    assert crewed.status == UnitStatus.AVAILABLE and spare.status == UnitStatus.OFF_DUTY
    assert Crewing.objects.filter(unit=crewed, booked_off_at=None).count() == 1
    # The API gives the same answers to the same requests.
    api = client.post(
        "/api/v1/crewing/book-off/", {"unit": "CN21"}, content_type="application/json"
    )
    assert api.status_code == 403
    api = client.post("/api/v1/crewing/book-on/", {"unit": "CN22", "shift": shifts["AS"].pk,
                      "officers": [world["b"].pk]}, content_type="application/json")  # fmt: skip
    assert api.status_code == 403
