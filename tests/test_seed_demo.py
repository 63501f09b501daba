"""`manage.py seed_demo`: idempotent, deterministic London demo data with a shift on duty."""

import math
import os
import subprocess
import sys
from collections import defaultdict
from collections.abc import Set
from datetime import date, datetime, time, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.apps import apps
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError

from cad.accounts.roles import user_bcu_code, user_roles
from cad.demo import geography
from cad.demo.boundaries import _K, generated_boundaries
from cad.demo.fleet import fleet_plan
from cad.geo.geometry import haversine_m, point_in_geometry
from cad.management.commands.seed_demo import _shift_window, team_on
from cad.models import BCU, Borough, Station
from duties.models import Crewing, Officer, OfficerSkill, Shift, ShiftAssignment
from incidents.models import Incident, IncidentResponse, IncidentType, ResponsePlanItem
from resources.models import Assignment, Unit, UnitStatus

LONDON = ZoneInfo("Europe/London")
# A fixed moment, so the test does not depend on the time it runs: Monday 23 Nov 2026, 16:30
# London time, when the late shift (14-22) is on.
AT = datetime(2026, 11, 23, 16, 30, tzinfo=LONDON)


def _seed(at: datetime | None = None) -> str:
    out = StringIO()
    args = ["--at", at.isoformat()] if at else []
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def _counts() -> dict[str, int]:
    return {m._meta.label: m._default_manager.count() for m in apps.get_models()}


def _check_geography_and_reference() -> None:
    assert BCU.objects.count() == 12
    assert Borough.objects.count() == 32
    assert set(Borough.objects.values_list("name", flat=True)) == {
        b for bcu in geography.BCUS for b in bcu.boroughs
    }
    assert Borough.objects.get(name="Islington").bcu.code == "CN"
    assert 55 <= Station.objects.count() <= 70
    assert IncidentType.objects.count() >= 30
    assert set(IncidentType.objects.values_list("category", flat=True)) == {
        "public_safety", "crime", "asb", "transport", "admin",
    }  # fmt: skip
    firearms = ResponsePlanItem.objects.get(incident_type__code="FIREARMS", unit_type__code="ARV")
    assert firearms.skill is not None
    assert firearms.count == 2 and firearms.skill.code == "AFO"
    assert ResponsePlanItem.objects.filter(
        incident_type__code="VIOLENCE", skill__code="TASER", grades="I"
    ).exists()
    assert ResponsePlanItem.objects.filter(incident_type__code="ANIMAL", unit_type__code="DOG")
    assert ResponsePlanItem.objects.filter(incident_type__code="RTCINJ", unit_type__code="TRAF")


def _check_people_and_units() -> None:
    assert 380 <= Unit.objects.count() <= 450
    assert Unit.objects.values("issi").distinct().count() == Unit.objects.count()
    for unit in Unit.objects.select_related("station"):
        assert unit.bcu_id == unit.station.bcu_id
    assert Officer.objects.count() == 1500
    for bcu in BCU.objects.all():
        teams = bcu.teams.all()
        assert teams.count() == 5
        for team in teams:
            ranks = list(team.officers.values_list("rank", flat=True))
            assert sorted(set(ranks)) == ["INSP", "PC", "PS"]
    assert OfficerSkill.objects.filter(expires_on__isnull=False).exists()


def _check_shifts(today: date) -> None:
    # Yesterday to four weeks ahead, three shifts a day, one team each.
    days = 1 + 28
    assert Shift.objects.count() == 12 * 3 * days
    cn_shifts = list(Shift.objects.filter(bcu__code="CN").order_by("starts_at"))
    assert cn_shifts[0].starts_at.astimezone(LONDON).date() == today - timedelta(days=1)
    for s in cn_shifts:
        local = s.starts_at.astimezone(LONDON)
        assert (s.kind, local.time()) in {
            ("early", time(7)),
            ("late", time(14)),
            ("night", time(22)),
        }
        assert s.minimum_strength > 0 and s.required_skills.exists()
        assert s.assignments.count() == 25
    # The rota leaves at least 11 hours between an officer's shifts.
    by_officer = defaultdict(list)
    for officer_id, starts, ends in ShiftAssignment.objects.filter(
        shift__bcu__code="CN"
    ).values_list("officer_id", "shift__starts_at", "shift__ends_at"):
        by_officer[officer_id].append((starts, ends))
    for spans in by_officer.values():
        spans.sort()
        for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
            assert start - end >= timedelta(hours=11)


def _check_booking(now: datetime, today: date, busy_units: Set[int] = frozenset()) -> None:
    crewings = list(
        Crewing.objects.filter(booked_off_at__isnull=True)
        .exclude(unit_id__in=busy_units)
        .select_related("unit__station", "shift")
    )
    assert crewings, "nobody is booked on"
    crews = defaultdict(list)
    for c in crewings:
        assert c.shift.starts_at <= now < c.shift.ends_at
        crews[c.unit].append(c.officer_id)
    assert len({c.unit.bcu_id for c in crewings}) == 12  # every BCU has units out
    for unit, officers in crews.items():
        assert len(officers) == 2
        assert unit.status == UnitStatus.AVAILABLE
        assert unit.status_at == now and unit.position_at == now
        assert unit.lat is not None and unit.lon is not None
        assert haversine_m(unit.lat, unit.lon, unit.station.lat, unit.station.lon) < 1600
        expected = {
            code
            for code, expires in OfficerSkill.objects.filter(officer_id__in=officers).values_list(
                "skill__code", "expires_on"
            )
            if expires is None or expires >= today
        }
        assert set(unit.skills.values_list("code", flat=True)) == expected
        if unit.type.code == "ARV":
            assert (
                OfficerSkill.objects.filter(officer_id__in=officers, skill__code="AFO").count() == 2
            )
    others = Unit.objects.exclude(id__in=[u.id for u in crews]).exclude(id__in=busy_units)
    assert set(others.values_list("status", flat=True)) == {UnitStatus.OFF_DUTY}
    assert not Unit.objects.filter(status=UnitStatus.OFF_DUTY, skills__isnull=False).exists()
    # A lapsed Taser ticket does not count towards a unit's skills.
    lapsed = OfficerSkill.objects.filter(skill__code="TASER", expires_on__lt=today)
    assert lapsed.exists()


def _check_users() -> None:
    expected = {
        "handler": ({"call_handler"}, None),
        "despatcher": ({"despatcher"}, None),
        "despatcher_cn": ({"despatcher"}, "CN"),
        "supervisor": ({"supervisor"}, "CN"),
        "admin": ({"admin"}, None),
        "gateway": ({"radio_gateway"}, None),
        "officer": ({"officer"}, "CN"),
    }
    for username, (roles, bcu) in expected.items():
        user = User.objects.get(username=username)
        assert user_roles(user) == roles, username
        assert user_bcu_code(user) == bcu, username
        assert user.check_password("beacon-demo-2026")
    assert User.objects.get(username="admin").is_staff
    assert not User.objects.get(username="despatcher").is_staff
    officer = Officer.objects.get(user__username="officer")
    assert officer.bcu.code == "CN"
    # Booked on now, so /m/ has a unit to show (issue 14).
    assert officer.crewings.filter(booked_off_at__isnull=True).exists()


@pytest.mark.django_db
def test_seed_twice_gives_the_same_data_and_a_shift_on_duty(postgres):
    first_output = _seed(AT)
    first = _counts()
    _check_geography_and_reference()
    _check_people_and_units()
    _check_shifts(AT.date())
    _check_booking(AT, AT.date())
    _check_users()
    assert "despatcher_cn" in first_output and "beacon-demo-2026" in first_output

    units_before = {u.callsign: (u.status, u.lat, u.lon, u.version) for u in Unit.objects.all()}
    second_output = _seed(AT + timedelta(hours=2))  # same late shift: nothing changes
    assert _counts() == first
    assert {u.callsign: (u.status, u.lat, u.lon, u.version) for u in Unit.objects.all()} == (
        units_before
    )
    assert "nothing to do" in second_output

    # One late-shift unit is still at a job when the shift changes.
    busy = Unit.objects.filter(crewings__booked_off_at__isnull=True, type__code="IRV").first()
    incident = Incident.objects.create(
        reference="CAD 0001/23Nov26", reference_date=AT.date(), reference_number=1,
        type=IncidentType.objects.get(code="THEFT"), grade="S", lat=busy.lat, lon=busy.lon,
        created_at=AT, created_by=User.objects.get(username="handler"), status="assigned",
    )  # fmt: skip
    Assignment.objects.create(incident=incident, unit=busy, assigned_at=AT)
    Unit.objects.filter(pk=busy.pk).update(status=UnitStatus.ASSIGNED)
    busy_crew = set(busy.crewings.filter(booked_off_at__isnull=True).values_list("id", flat=True))

    # Next morning: one more day of shifts, and the early shift's crews replace the late's.
    morning = datetime(2026, 11, 24, 9, 0, tzinfo=LONDON)
    _seed(morning)
    assert Shift.objects.count() == first["duties.Shift"] + 12 * 3
    open_crews = Crewing.objects.filter(booked_off_at__isnull=True)
    assert set(open_crews.exclude(unit=busy).values_list("shift__kind", flat=True)) == {"early"}
    # The busy unit keeps its late-shift crew and its status until it clears.
    assert set(open_crews.filter(unit=busy).values_list("id", flat=True)) == busy_crew
    busy.refresh_from_db()
    assert busy.status == UnitStatus.ASSIGNED
    booked_off = Crewing.objects.filter(booked_off_at__isnull=False)
    assert booked_off.count() == first["duties.Crewing"] - 2
    assert set(booked_off.values_list("booked_off_at", flat=True)) == {
        datetime(2026, 11, 23, 22, 0, tzinfo=LONDON)
    }
    _check_booking(morning, morning.date(), busy_units={busy.id})
    _check_users()  # the officer login follows the shift change to a crew on duty


@pytest.mark.django_db
def test_seed_runs_on_the_default_database():
    """The same loader on SQLite (or whatever is configured), at the real time of the run."""
    _seed()
    assert Unit.objects.filter(status=UnitStatus.AVAILABLE).count() >= 100
    assert Officer.objects.count() == 1500
    assert User.objects.filter(username__in=["handler", "despatcher", "officer"]).count() == 3


def test_shift_windows_are_london_wall_clock_times_across_clock_changes():
    # Clocks go forward at 01:00 on 29 March 2026 and back at 02:00 on 25 October 2026.
    starts, ends = _shift_window(date(2026, 3, 28), time(22), time(7))
    assert ends - starts == timedelta(hours=8)
    starts, ends = _shift_window(date(2026, 10, 24), time(22), time(7))
    assert ends - starts == timedelta(hours=10)
    starts, ends = _shift_window(date(2026, 7, 1), time(7), time(15))
    assert starts.utcoffset() == timedelta(0) and starts.hour == 6  # 07:00 BST is 06:00 UTC
    assert ends - starts == timedelta(hours=8)


def test_rota_puts_one_team_on_each_shift_every_day():
    for offset in range(20):
        day = date(2026, 11, 1) + timedelta(days=offset)
        teams = [team_on(day, kind) for kind in ("early", "late", "night")]
        assert len(set(teams)) == 3


def test_fleet_plan_call_signs_and_issis_are_unique():
    plan = fleet_plan()
    assert len({u.callsign for u in plan}) == len(plan)
    assert len({u.issi for u in plan}) == len(plan)
    assert fleet_plan() == plan
    station_codes = {s.code for s in geography.STATIONS}
    assert len(station_codes) == len(geography.STATIONS)
    assert not station_codes & {"TJ", "DG", "RT"}


def test_generated_boundaries_are_the_voronoi_cells_of_their_sites():
    shapes = generated_boundaries()
    assert shapes == generated_boundaries()  # deterministic
    sites = [(b.name, b.lat, b.lon) for b in geography.BOROUGHS]
    sites += [(s.borough, s.lat, s.lon) for s in geography.STATIONS]
    sites += list(geography.LANDMARKS)
    city = geography.CITY_OF_LONDON
    sites.append((city.name, city.lat, city.lon))

    def nearest(lat, lon):
        return min(sites, key=lambda s: math.hypot((s[2] - lon) * _K, s[1] - lat))[0]

    # Each point of a grid over London is in exactly the borough of its nearest site (or in
    # none, for the City and outside the outline).
    checked = 0
    for i in range(40):
        for j in range(40):
            lat, lon = 51.30 + i * 0.0095, -0.49 + j * 0.0205
            inside = [name for name, g in shapes.items() if point_in_geometry(lat, lon, g)]
            assert len(inside) <= 1, (lat, lon, inside)
            if inside:
                checked += 1
                assert inside[0] == nearest(lat, lon), (lat, lon)
    assert checked > 1000
    for s in geography.STATIONS:
        assert point_in_geometry(s.lat, s.lon, shapes[s.borough]), s.name
    assert not any(point_in_geometry(city.lat, city.lon, g) for g in shapes.values())


PRODUCTION_ENV = {
    "DJANGO_ENV": "production",
    "SECRET_KEY": "x7#kQ2!vL9@pR4$wZ8^mN1&bT6*yH3(cF5)jD0-gS2+eU7=aV4%iO9",
    "ALLOWED_HOSTS": "cad.example.org",
    "TOTP_ENCRYPTION_KEYS": "q7Jx0n2Yb3m9Zr3wWl5mX4m0oQ1aZlV1cZb3xG2sY1E=",
    "DJANGO_SETTINGS_MODULE": "cad.settings",
}
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _production(tmp_path, *args: str) -> subprocess.CompletedProcess:
    """manage.py in the production profile on a database file of its own."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "DEBUG"}}
    env.update(PRODUCTION_ENV, SQLITE_PATH=str(tmp_path / "production.sqlite3"))
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )


@pytest.mark.django_db
def test_seed_demo_refuses_to_run_in_production(settings):
    """The demo users have a published password: never in production."""
    settings.PRODUCTION = True
    with pytest.raises(CommandError, match="DJANGO_ENV=production"):
        call_command("seed_demo", stdout=StringIO())
    assert not User.objects.exists() and not BCU.objects.exists()


def test_seed_demo_exits_non_zero_in_production(tmp_path):
    done = _production(tmp_path, "seed_demo")
    assert done.returncode != 0
    assert "refuses to run with DJANGO_ENV=production" in done.stderr
    assert "beacon-demo-2026" not in done.stdout + done.stderr


def test_production_starts_with_no_users(tmp_path):
    """Migrations make roles, status codes and counters, never an account: the first users
    are the ones an operator makes with `cad_user`."""
    migrated = _production(tmp_path, "migrate", "--noinput", "-v", "0")
    assert migrated.returncode == 0, migrated.stderr
    probe = _production(
        tmp_path, "shell", "-c",
        "from django.contrib.auth.models import Group, User;"
        "print(User.objects.count(), Group.objects.count())",
    )  # fmt: skip
    assert probe.returncode == 0, probe.stderr
    users, groups = map(int, probe.stdout.strip().splitlines()[-1].split())
    assert users == 0 and groups == 7  # the seven roles: the data migrations did run


def test_history_adds_the_missing_past_days_once(postgres):
    out = StringIO()
    call_command("seed_demo", "--at", AT.isoformat(), "--history", "3", stdout=out)
    days = [AT.date() - timedelta(days=n) for n in (3, 2, 1)]
    past = Incident.objects.filter(reference_date__in=days)
    assert set(past.values_list("reference_date", flat=True)) == set(days)
    assert not Incident.objects.filter(reference_date__lt=days[0]).exists()
    # One response row per incident, on the London day of its call, with the clock stopped at
    # its unit's arrival.
    assert IncidentResponse.objects.count() == past.count()
    for row in IncidentResponse.objects.select_related("incident")[:200]:
        assert row.day == row.received_at.astimezone(LONDON).date()
        arrived = row.incident.assignments.values_list("at_scene_at", flat=True).first()
        assert row.first_at_scene_at == arrived
        if arrived is not None:
            assert row.response_seconds == int((arrived - row.received_at).total_seconds())
    # I-grade: 1-3 min to send plus an LFB attendance time (median 298 s): a median of
    # roughly 5 to 9 minutes.
    i_times = sorted(IncidentResponse.objects.filter(grade="I", response_seconds__isnull=False)
                     .values_list("response_seconds", flat=True))  # fmt: skip
    assert 300 <= i_times[len(i_times) // 2] <= 540
    before = past.count()
    call_command("seed_demo", "--at", AT.isoformat(), "--history", "5", stdout=StringIO())
    assert Incident.objects.filter(reference_date__in=days).count() == before
    assert Incident.objects.filter(reference_date=AT.date() - timedelta(days=5)).exists()
    with pytest.raises(CommandError):
        call_command("seed_demo", "--history", "-1", stdout=StringIO())
