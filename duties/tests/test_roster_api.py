"""Shifts, roster cells and patterns through the API: rules, overrides, scope, audit, CSV."""

from datetime import time, timedelta

import pytest
from django.utils import timezone

from cad.models import AuditEvent
from duties.models import RestDayCancellation, RosterDay, Shift, ShiftAssignment
from duties.tests.conftest import make_officer, make_shift

pytestmark = pytest.mark.django_db


def add(client, shift, officer, reason=None):
    body = {"officer": officer.pk} | ({"reason": reason} if reason is not None else {})
    return client.post(
        f"/api/v1/shifts/{shift.pk}/officers/", body, content_type="application/json"
    )


def cell(client, officer, day, kind, **extra):
    return client.post(
        "/api/v1/roster/cells/",
        {"officer": officer.pk, "date": day.isoformat(), "kind": kind, **extra},
        content_type="application/json",
    )


def test_shift_list_contract_and_strength_warnings(client, world, future):
    shift = make_shift(
        world["CN"], world["team"], future, minimum=4, needs=[("TASER", 2), ("ADV", 1)]
    )
    for key in "ac":
        ShiftAssignment.objects.create(shift=shift, officer=world[key])
    client.force_login(world["desp"])
    r = client.get(
        "/api/v1/shifts/", {"bcu": "CN", "from": future.isoformat(), "to": future.isoformat()}
    )
    assert r.status_code == 200
    [row] = r.json()
    assert set(row) >= {
        "id",
        "bcu",
        "team",
        "starts_at",
        "ends_at",
        "minimum_strength",
        "officers",
        "warnings",
    }
    assert row["officers"] == sorted([world["a"].pk, world["c"].pk])
    assert row["bcu"] == "CN" and row["team"] == "Team 1"
    # c's Taser has expired: one Taser officer, not two.
    assert row["warnings"] == ["Strength 2 of minimum 4: short by 2", "TASER: 1 of 2 required"]


def test_shift_list_bad_dates_are_400(client, world):
    client.force_login(world["sup"])
    r = client.get("/api/v1/shifts/", {"from": "2026-13-01"})
    assert r.status_code == 400 and "from" in r.json()
    r = client.get("/api/v1/shifts/", {"from": "2026-11-10", "to": "2026-11-01"})
    assert r.status_code == 400 and "to" in r.json()


def test_officers_list(client, world):
    client.force_login(world["sup"])
    rows = client.get("/api/v1/officers/", {"bcu": "CN"}).json()
    by_id = {r["id"]: r for r in rows}
    assert by_id[world["a"].pk]["skills"] == ["ADV", "TASER"]
    assert by_id[world["c"].pk]["skills"] == []  # expired
    assert set(by_id[world["a"].pk]) == {
        "id",
        "collar_number",
        "name",
        "rank",
        "bcu",
        "team",
        "skills",
    }


def test_add_and_remove_officer(client, world, future):
    shift = make_shift(world["CN"], world["team"], future)
    client.force_login(world["sup"])
    r = add(client, shift, world["a"])
    assert r.status_code == 200 and r.json()["officers"] == [world["a"].pk]
    r = client.delete(f"/api/v1/shifts/{shift.pk}/officers/{world['a'].pk}/")
    assert r.status_code == 200 and r.json()["officers"] == []
    assert AuditEvent.objects.filter(object_type="duties.shiftassignment", action="delete").exists()


def test_insufficient_rest_409_then_override_with_reason_is_logged(client, world, future):
    late = make_shift(world["CN"], world["team"], future, "late", start=time(15), end=time(23))
    early = make_shift(world["CN"], world["team"], future + timedelta(days=1))  # 8 h later
    ShiftAssignment.objects.create(shift=late, officer=world["a"])
    client.force_login(world["sup"])
    r = add(client, early, world["a"])
    assert r.status_code == 409
    assert r.json()["code"] == "insufficient_rest" and r.json()["overridable"] is True
    assert "8 h rest" in r.json()["detail"]
    assert not ShiftAssignment.objects.filter(shift=early).exists()
    r = add(client, early, world["a"], reason="Operation Bridge: mutual aid")
    assert r.status_code == 200
    assignment = ShiftAssignment.objects.get(shift=early, officer=world["a"])
    assert assignment.override_reason == "Operation Bridge: mutual aid"
    audit = AuditEvent.objects.get(action="override", object_type="duties.shiftassignment")
    assert audit.username == "sgt_cn"
    assert audit.changes["overridden"] == ["insufficient_rest"]
    assert audit.changes["reason"] == "Operation Bridge: mutual aid"


def test_double_booking_is_409_even_with_a_reason(client, world, future):
    early = make_shift(world["CN"], world["team"], future)
    other = make_shift(world["CN"], None, future, "other", start=time(9), end=time(17))
    ShiftAssignment.objects.create(shift=early, officer=world["a"])
    client.force_login(world["sup"])
    r = add(client, other, world["a"], reason="please")
    assert r.status_code == 409 and r.json()["code"] == "double_booked"
    assert r.json()["overridable"] is False
    assert not AuditEvent.objects.filter(action="override").exists()


@pytest.mark.parametrize(
    "user, method, expected",
    [
        ("sup_as", "post", 403),
        ("desp", "post", 403),
        ("handler", "get", 403),
        ("desp", "get", 200),
        ("central", "post", 200),
        ("sup", "post", 200),
    ],
)
def test_permissions_and_bcu_scope(client, world, future, user, method, expected):
    shift = make_shift(world["CN"], world["team"], future)
    client.force_login(world[user])
    if method == "post":
        r = add(client, shift, world["a"])
    else:
        r = client.get("/api/v1/shifts/", {"bcu": "CN"})
    assert r.status_code == expected
    assert ShiftAssignment.objects.filter(shift=shift).exists() is (
        method == "post" and expected == 200
    )


def test_cell_change_needs_scope(client, world, future):
    client.force_login(world["sup_as"])
    assert cell(client, world["a"], future, "early").status_code == 403
    client.force_login(world["handler"])
    assert cell(client, world["a"], future, "early").status_code == 403
    assert not ShiftAssignment.objects.exists()


def test_anonymous_gets_401_or_403(client, world):
    assert client.get("/api/v1/shifts/").status_code in (401, 403)


def test_cell_sets_shift_rest_and_abstraction_and_logs_why(client, world, future):
    client.force_login(world["sup"])
    r = cell(client, world["a"], future, "early", reason="cover for court")
    assert r.status_code == 200 and r.json()["kind"] == "early" and r.json()["previous"] == ""
    shift = Shift.objects.get(team=world["team"], kind="early")
    assert ShiftAssignment.objects.filter(shift=shift, officer=world["a"]).exists()
    r = cell(client, world["a"], future, "late")
    assert r.json()["previous"] == "early"
    assert list(
        ShiftAssignment.objects.filter(officer=world["a"]).values_list("shift__kind", flat=True)
    ) == ["late"]
    r = cell(client, world["a"], future, "leave", reason="annual leave")
    assert r.status_code == 200
    assert not ShiftAssignment.objects.filter(officer=world["a"]).exists()
    assert RosterDay.objects.get(officer=world["a"], date=future).kind == "leave"
    trail = AuditEvent.objects.filter(object_type="duties.officer", object_id=str(world["a"].pk))
    assert trail.count() == 3
    assert trail.filter(changes__reason="annual leave").exists()
    first = trail.order_by("id").first()
    assert first.username == "sgt_cn" and first.changes["roster"] == {
        future.isoformat(): ["", "early"]
    }


def test_cell_bad_input_is_400(client, world, future):
    client.force_login(world["sup"])
    assert cell(client, world["a"], future, "lunch").status_code == 400
    r = cell(client, world["a"], future, "early", override=True)
    assert r.status_code == 400 and "reason" in r.json()
    r = client.post(
        "/api/v1/roster/cells/",
        {"officer": 999999, "date": future.isoformat(), "kind": "early"},
        content_type="application/json",
    )
    assert r.status_code == 400 and "officer" in r.json()


def test_cell_rule_message_and_override_needs_flag_not_just_reason(client, world, future):
    client.force_login(world["sup"])
    assert cell(client, world["a"], future, "late").status_code == 200
    r = cell(client, world["a"], future + timedelta(days=1), "early", reason="short of staff")
    assert r.status_code == 409 and r.json()["code"] == "insufficient_rest"
    assert "9 h rest" in r.json()["detail"]
    r = cell(
        client,
        world["a"],
        future + timedelta(days=1),
        "early",
        reason="short of staff",
        override=True,
    )
    assert r.status_code == 200 and r.json()["overridden"] == ["insufficient_rest"]
    assert AuditEvent.objects.filter(action="override", object_type="duties.officer").count() == 1


def test_abstracted_officer_does_not_count_towards_strength(client, world, future):
    shift = make_shift(world["CN"], world["team"], future, minimum=2, needs=[("TASER", 1)])
    client.force_login(world["sup"])
    add(client, shift, world["a"])
    add(client, shift, world["b"])
    assert client.get(f"/api/v1/shifts/{shift.pk}/").json()["warnings"] == []
    assert cell(client, world["b"], future, "sick", reason="reported sick 06:10").status_code == 200
    row = client.get(f"/api/v1/shifts/{shift.pk}/").json()
    assert row["strength"] == 1 and row["officers"] == [world["a"].pk]
    assert row["warnings"] == ["Strength 1 of minimum 2: short by 1"]
    # An officer on sick leave cannot simply be put back on the shift.
    r = add(client, shift, world["b"])
    assert r.status_code == 409 and r.json()["code"] == "abstracted"


def test_abstraction_marks_left_behind_still_do_not_count(client, world, future):
    """Even if an assignment and an abstraction coexist (data loaded from elsewhere)."""
    shift = make_shift(world["CN"], world["team"], future, minimum=1)
    ShiftAssignment.objects.create(shift=shift, officer=world["a"])
    RosterDay.objects.create(officer=world["a"], date=future, kind="court")
    client.force_login(world["sup"])
    row = client.get(f"/api/v1/shifts/{shift.pk}/").json()
    assert row["strength"] == 0 and row["warnings"] == ["Strength 0 of minimum 1: short by 1"]


@pytest.mark.parametrize("ahead, owed", [(15, False), (14, True), (8, True)])
def test_cancelled_rest_day_compensation(client, world, ahead, owed):
    day = timezone.localdate() + timedelta(days=ahead)
    RosterDay.objects.create(officer=world["a"], date=day, kind="rest")
    client.force_login(world["sup"])
    r = cell(client, world["a"], day, "early")
    assert r.status_code == 200
    assert r.json()["rest_day_cancelled"] == {"notice_days": ahead, "compensation_owed": owed}
    record = RestDayCancellation.objects.get(officer=world["a"], date=day)
    assert record.compensation_owed is owed and record.cancelled_by == world["sup"]


def test_rest_day_under_eight_days_needs_a_reason(client, world):
    day = timezone.localdate() + timedelta(days=7)
    RosterDay.objects.create(officer=world["a"], date=day, kind="rest")
    client.force_login(world["sup"])
    r = cell(client, world["a"], day, "court")
    assert r.status_code == 409 and r.json()["code"] == "rest_day_reason_required"
    assert RosterDay.objects.get(officer=world["a"], date=day).kind == "rest"
    r = cell(client, world["a"], day, "court", reason="Crown Court witness, R v Smith")
    assert r.status_code == 200
    assert RestDayCancellation.objects.get(date=day).reason == "Crown Court witness, R v Smith"


def test_rest_day_cancelled_through_the_shifts_endpoint_too(client, world):
    day = timezone.localdate() + timedelta(days=3)
    RosterDay.objects.create(officer=world["a"], date=day, kind="rest")
    shift = make_shift(world["CN"], world["team"], day)
    client.force_login(world["sup"])
    assert add(client, shift, world["a"]).json()["code"] == "rest_day_reason_required"
    assert add(client, shift, world["a"], reason="disorder expected").status_code == 200
    assert not RosterDay.objects.filter(officer=world["a"], date=day).exists()


def test_pattern_applies_to_the_team_and_keeps_abstractions(client, world, future):
    RosterDay.objects.create(officer=world["b"], date=future + timedelta(days=2), kind="leave")
    client.force_login(world["sup"])
    r = client.post(
        "/api/v1/roster/patterns/",
        {
            "team": world["team"].pk,
            "start": future.isoformat(),
            "days": 28,
            "pattern": "EELLNNRRRR",
        },
        content_type="application/json",
    )
    assert r.status_code == 200, r.json()
    assert r.json()["officers"] == 3 and r.json()["kept_abstractions"] == 1
    # 28 days of EELLNNRRRR: two full cycles and EELLNNRR: 18 working days, 10 rest days.
    assert ShiftAssignment.objects.filter(officer=world["a"]).count() == 18
    assert RosterDay.objects.filter(officer=world["a"], kind="rest").count() == 10
    assert ShiftAssignment.objects.filter(officer=world["b"]).count() == 17
    assert (
        RosterDay.objects.get(officer=world["b"], date=future + timedelta(days=2)).kind == "leave"
    )
    assert AuditEvent.objects.filter(object_type="duties.officer").count() == 3
    assert AuditEvent.objects.filter(
        object_type="duties.team", changes__pattern="EELLNNRRRR"
    ).exists()
    # Applying it again changes nothing.
    r = client.post(
        "/api/v1/roster/patterns/",
        {
            "team": world["team"].pk,
            "start": future.isoformat(),
            "days": 28,
            "pattern": "EELLNNRRRR",
        },
        content_type="application/json",
    )
    assert r.json()["changed"] == 0


def test_pattern_breach_refuses_everything_unless_overridden(client, world, future):
    before = make_shift(
        world["CN"], world["team"], future - timedelta(days=1), "late", start=time(15), end=time(23)
    )
    ShiftAssignment.objects.create(shift=before, officer=world["c"])
    client.force_login(world["sup"])
    body = {
        "team": world["team"].pk,
        "start": future.isoformat(),
        "days": 14,
        "pattern": "EELLNNRRRR",
    }
    r = client.post("/api/v1/roster/patterns/", body, content_type="application/json")
    assert r.status_code == 409 and r.json()["code"] == "pattern_breaches"
    assert r.json()["breaches"][0]["code"] == "insufficient_rest"
    assert ShiftAssignment.objects.count() == 1 and not RosterDay.objects.exists()
    r = client.post(
        "/api/v1/roster/patterns/",
        body | {"override": True, "reason": "new rota"},
        content_type="application/json",
    )
    assert r.status_code == 200 and r.json()["overridden"] == ["insufficient_rest"]
    assert AuditEvent.objects.filter(action="override", object_type="duties.officer").count() == 3


def test_pattern_bad_input_and_scope(client, world, future):
    client.force_login(world["sup"])
    r = client.post(
        "/api/v1/roster/patterns/",
        {"team": world["team"].pk, "start": future.isoformat(), "pattern": "EEXQ"},
        content_type="application/json",
    )
    assert r.status_code == 400 and "pattern" in r.json()
    client.force_login(world["sup_as"])
    r = client.post(
        "/api/v1/roster/patterns/",
        {"team": world["team"].pk, "start": future.isoformat(), "pattern": "EEL"},
        content_type="application/json",
    )
    assert r.status_code == 403 and not ShiftAssignment.objects.exists()


def test_roster_csv_export(client, world, future):
    client.force_login(world["sup"])
    cell(client, world["a"], future, "night")
    cell(client, world["b"], future + timedelta(days=1), "sick")
    r = client.get("/api/v1/roster/csv/", {"bcu": "CN", "from": future.isoformat(), "days": 7})
    assert r.status_code == 200 and r["Content-Type"].startswith("text/csv")
    lines = r.content.decode().splitlines()
    assert lines[0].split(",")[:6] == [
        "collar_number",
        "name",
        "rank",
        "team",
        "skills",
        future.isoformat(),
    ]
    rows = {line.split(",")[0]: line.split(",") for line in lines[1:]}
    assert rows[world["a"].collar_number][5] == "night"
    assert rows[world["b"].collar_number][6] == "sick"
    assert len(lines) == 4


def test_csv_neutralises_formulas(client, world, future):
    officer = make_officer(world["CN"], world["team"])
    officer.first_name = "=HYPERLINK(1)"
    officer.save()
    client.force_login(world["sup"])
    body = client.get(
        "/api/v1/roster/csv/", {"bcu": "CN", "from": future.isoformat()}
    ).content.decode()
    assert "'=HYPERLINK(1)" in body
    assert ",=" not in body


def test_officers_list_refuses_a_bcu_that_is_not_text(client, world, cast):
    # Found by fuzzing (issue 23): read by hand, a NUL in `bcu` reached PostgreSQL: 500.
    client.force_login(cast.supervisor_all)
    response = client.get("/api/v1/officers/", {"bcu": "C\x00N"})
    assert response.status_code == 400 and list(response.json()) == ["bcu"]


def test_remove_officer_refuses_a_reason_that_is_not_text(client, world, future):
    # Read by hand, a NUL in `reason` went into the audit row's JSON, which PostgreSQL refused.
    shift = make_shift(world["CN"], world["team"], future)
    client.force_login(world["sup"])
    assert add(client, shift, world["a"]).status_code == 200
    url = f"/api/v1/shifts/{shift.pk}/officers/{world['a'].pk}/?reason=sick%00"
    r = client.delete(url)
    assert r.status_code == 400 and list(r.json()) == ["reason"]
    r = client.delete(url.replace("%00", ""))
    assert r.status_code == 200 and r.json()["officers"] == []
