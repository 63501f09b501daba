"""The demand simulator (duties/simulation/, docs/simulation.md): the SF transform and the
readers on rows built by hand, a tiny day end to end against figures worked out by hand,
determinism by seed, a what-if in a world where it cannot help, and never on a live instance."""

from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from cad.errors import Conflict
from cad.models import Station
from duties.models import SimulationRun
from duties.simulation import services
from duties.simulation.selectors import comparison_rows
from duties.simulation.services import (
    Change,
    SimulationError,
    change_parse,
    simulate_day,
)
from duties.simulation.sources import (
    LFB_FILE,
    LONDON_ORIGIN,
    SF_FILE,
    SF_ORIGIN,
    SourceCall,
    SourceError,
    day_calls,
    sf_to_london,
)
from incidents.models import Incident, IncidentResponse
from resources.models import Assignment, Unit
from resources.recommend.conf import conf
from resources.recommend.geo import haversine_m
from resources.services import units_training_reset
from tests.factories import make_closing_code, make_incident_type, make_unit, make_unit_type

LONDON = ZoneInfo("Europe/London")
pytestmark = pytest.mark.django_db

SF_HEAD = "Call Number,Unit ID,Call Type,Received DtTm,Priority,Location\n"  # the columns read
LFB_HEAD = (
    "IncidentNumber,DateOfCall,TimeOfCall,IncidentGroup,StopCodeDescription,"
    "SpecialServiceType,Easting_m,Northing_m,Easting_rounded,Northing_rounded\n"
)


# --- the San Francisco transform and the readers ----------------------------------------------


def test_sf_centre_lands_on_charing_cross_and_distances_scale_by_three():
    assert sf_to_london(*SF_ORIGIN) == pytest.approx(LONDON_ORIGIN, abs=1e-6)
    # 0.009° of latitude is 1,002 m north in SF: 3,006 m north of Charing Cross.
    north = sf_to_london(SF_ORIGIN[0] + 0.009, SF_ORIGIN[1])
    assert north[1] == pytest.approx(LONDON_ORIGIN[1], abs=1e-6)
    assert haversine_m(*LONDON_ORIGIN, *north) == pytest.approx(3 * 1002.0, rel=0.002)
    # 0.0114° of longitude at SF's latitude is 1,003 m east: 3,009 m east in London.
    east = sf_to_london(SF_ORIGIN[0], SF_ORIGIN[1] + 0.0114)
    assert east[0] == pytest.approx(LONDON_ORIGIN[0], abs=1e-6)
    assert east[1] > LONDON_ORIGIN[1]
    assert haversine_m(*LONDON_ORIGIN, *east) == pytest.approx(3 * 1003.2, rel=0.002)
    # Twin Peaks (south-west of the centre) lands south-west of Charing Cross.
    twin = sf_to_london(37.7544, -122.4477)
    assert twin[0] < LONDON_ORIGIN[0] and twin[1] < LONDON_ORIGIN[1]


def test_the_sf_reader_takes_each_call_once_maps_it_and_grades_it(tmp_path):
    (tmp_path / SF_FILE).write_text(
        SF_HEAD
        + '1001,E1,Medical Incident,04/09/2020 08:15:00 AM,3,"(37.7687, -122.4238)"\n'
        + '1001,M2,Medical Incident,04/09/2020 08:15:00 AM,3,"(37.7687, -122.4238)"\n'
        + '1002,E3,Traffic Collision,04/09/2020 11:59:59 PM,2,"(37.7777, -122.4238)"\n'
        + '1003,E4,Alarms,04/10/2020 12:00:01 AM,2,"(37.7687, -122.4238)"\n'
        + "1004,E5,Alarms,04/09/2020 09:00:00 AM,2,\n"
    )
    calls = day_calls("sf", date(2020, 4, 9), data=tmp_path)
    assert [c.key for c in calls] == ["sf-1001", "sf-1002"]
    first, second = calls
    assert first.received_at == datetime(2020, 4, 9, 8, 15, tzinfo=LONDON)
    assert (first.lat, first.lon) == pytest.approx(LONDON_ORIGIN, abs=1e-6)
    assert (first.type_code, first.grade) == ("COLLAPSE", "I")
    # A priority-2 collision is a damage-only one, graded S.
    assert (second.type_code, second.grade) == ("RTCDAM", "S")
    assert second.received_at == datetime(2020, 4, 9, 23, 59, 59, tzinfo=LONDON)
    with pytest.raises(SourceError, match="no calls on 2020-04-11"):
        day_calls("sf", date(2020, 4, 11), data=tmp_path)


def test_the_lfb_reader_places_incidents_by_grid_reference(tmp_path):
    head = LFB_HEAD
    (tmp_path / LFB_FILE).write_text(
        head
        # A row of the real extract, whose own Latitude/Longitude are 51.6305447, -0.2491580.
        + "038967-19032023,2023-03-19,14:11:51,False Alarm,False alarm - Good intent,,"
        "521277.0,193865.0,521250,193850\n"
        + "2,2023-03-19,02:00:00,Special Service,Special Service,RTC,,,530000,180000\n"
        + "3,2023-03-20,02:00:00,Fire,Primary Fire,,,,530000,180000\n"
    )
    calls = day_calls("lfb", date(2023, 3, 19), data=tmp_path)
    assert [c.key for c in calls] == ["lfb-2", "lfb-038967-19032023"]
    rtc, alarm = calls
    assert (rtc.type_code, rtc.grade) == ("RTCINJ", "I")
    assert (alarm.type_code, alarm.grade) == ("CONCERN", "S")
    assert haversine_m(alarm.lat, alarm.lon, 51.6305447, -0.2491580) < 10
    assert alarm.received_at == datetime(2023, 3, 19, 14, 11, 51, tzinfo=LONDON)


def test_what_ifs_are_checked():
    assert change_parse("fewer-units=10%") == Change("fewer-units", "10%")
    assert change_parse("move-bcu=cn:as") == Change("move-bcu", "CN:AS")
    assert change_parse("policy=nearest").label == "policy=nearest"
    for bad, why in (("fewer-units=0%", "between 1 and 99"), ("fewer-units=ten", "between"),
                     ("move-bcu=CN", "FROM:TO"), ("policy=fastest", "one of top"),
                     ("more-cars=5", "a what-if is")):  # fmt: skip
        with pytest.raises(SimulationError, match=why):
            change_parse(bad)


# --- a tiny day, end to end ---------------------------------------------------------------------

DAY = date(2023, 6, 1)


def _at(hh: int, mm: int) -> datetime:
    return datetime(2023, 6, 1, hh, mm, tzinfo=LONDON)


def _call(key: str, at: datetime, lat: float, lon: float, grade: str) -> SourceCall:
    type_code = "COLLAPSE" if grade == "I" else "ALARM"
    return SourceCall(key=key, received_at=at, lat=lat, lon=lon, type_code=type_code,
                      grade=grade, summary=f"test {key}")  # fmt: skip


@pytest.fixture
def sim_world(geography, cast):
    make_incident_type("COLLAPSE", default_grade="I")
    make_incident_type("ALARM", default_grade="S")
    make_closing_code("NFA")
    return cast.supervisor_all


@pytest.fixture
def no_noise(monkeypatch):
    """Fixed handling (90 s for I, 300 s for S), travel exactly the ETA, 20 minutes at scene."""
    monkeypatch.setattr(services, "HANDLING_S", {"I": (90.0, 90.0), "S": (300.0, 300.0)})
    monkeypatch.setattr(services, "TRAVEL_SIGMA", 0.0)
    monkeypatch.setattr(services, "DWELL_SIGMA", 0.0)
    monkeypatch.setattr(services, "DWELL_MEDIAN_S", {"I": 1200.0, "S": 1200.0})


def _eta(a: tuple[float, float], b: tuple[float, float], *, blue: bool) -> float:
    """The estimate router's time, worked from its documented formula."""
    speed_kmh = 45.0 if blue else 30.0  # the IRV's blue-light and urban speeds
    return float(conf("MOBILISE_S")) + haversine_m(*a, *b) * float(conf("DETOUR_FACTOR")) / (
        speed_kmh / 3.6
    )


@override_settings(TRAINING=True)
def test_a_tiny_day_plays_through_the_services_to_figures_worked_by_hand(
    sim_world, geography, no_noise
):
    unit = make_unit(geography["kentish"], callsign="CN01")
    station = (geography["kentish"].lat, geography["kentish"].lon)
    a, b, c = (51.545, -0.16), (51.548, -0.15), (51.54, -0.155)
    calls = [
        _call("a", _at(10, 0), *a, "I"),
        _call("b", _at(10, 5), *b, "I"),  # CN01 is at A: B waits for it
        _call("c", _at(10, 10), *c, "S"),  # and C waits behind B (I before S)
        _call("d", _at(11, 0), *c, "R"),  # never despatched; closed after 30 minutes
    ]
    result = simulate_day(calls=calls, seed=7, by=sim_world)

    # A: sent at 10:01:30 from the station; at scene after its ETA; clear 20 minutes later.
    arrive_a = _at(10, 1) + timedelta(seconds=30 + _eta(station, a, blue=True))
    clear_a = arrive_a + timedelta(minutes=20)
    # B: sent when A clears, from A's scene. C: sent when B clears (S: no blue lights).
    arrive_b = clear_a + timedelta(seconds=_eta(a, b, blue=True))
    clear_b = arrive_b + timedelta(minutes=20)
    arrive_c = clear_b + timedelta(seconds=_eta(b, c, blue=False))
    r_a = int((arrive_a - _at(10, 0)).total_seconds())
    r_b = int((arrive_b - _at(10, 5)).total_seconds())
    r_c = int((arrive_c - _at(10, 10)).total_seconds())
    assert r_a <= 900 < r_b and r_c <= 3600  # one I within 15 minutes, one not; C within 60

    i, s = result.figures["I"], result.figures["S"]
    assert (i["incidents"], i["attended"], i["within_target"], i["pct_within_target"]) == (
        2, 2, 1, 50.0)  # fmt: skip
    assert i["p50_seconds"] == pytest.approx((r_a + r_b) / 2, abs=0.06)
    assert i["p90_seconds"] == pytest.approx(r_a + 0.9 * (r_b - r_a), abs=0.06)
    assert (s["incidents"], s["attended"], s["within_target"]) == (1, 1, 1)
    assert s["p50_seconds"] == pytest.approx(r_c, abs=0.06)
    assert (result.calls, result.despatched) == (4, 3)

    # All of it is in the (training) database through the services: incidents closed, the
    # unit's job times stamped, the unit free again at C's scene.
    assert set(Incident.objects.values_list("status", flat=True)) == {"closed"}
    jobs = list(Assignment.objects.order_by("assigned_at"))
    assert [j.incident.summary for j in jobs] == ["test a", "test b", "test c"]
    assert jobs[1].assigned_at == clear_a and abs(jobs[1].at_scene_at - arrive_b) < timedelta(
        milliseconds=1)  # fmt: skip
    unit.refresh_from_db()
    assert unit.status == "available" and (unit.lat, unit.lon) == c
    d = Incident.objects.get(summary="test d")
    assert d.closed_at == _at(11, 30) and not d.assignments.exists()


def _busy_day(n: int = 24) -> list[SourceCall]:
    """n calls over two hours around two stations, every third one S."""
    return [
        _call(f"k{k}", _at(8, 0) + timedelta(minutes=5 * k), 51.53 + 0.002 * (k % 7),
              -0.17 + 0.006 * (k % 5), "S" if k % 3 == 2 else "I")
        for k in range(n)
    ]  # fmt: skip


def _fleet(geography, n: int = 6) -> None:
    for k in range(n):
        make_unit(geography["kentish" if k % 2 else "brixton"], callsign=f"U{k:02d}")


@override_settings(TRAINING=True)
def test_the_same_seed_gives_the_same_figures_and_another_seed_others(sim_world, geography):
    _fleet(geography)
    calls = _busy_day()
    first = simulate_day(calls=calls, seed=1, by=sim_world)
    again = simulate_day(calls=calls, seed=1, by=sim_world)
    other = simulate_day(calls=calls, seed=2, by=sim_world)
    assert first.figures == again.figures
    assert first.figures["I"]["attended"] == 16  # every I call of the day was attended
    assert other.figures != first.figures
    # Three runs of the same day in one database, each counted over its own incidents.
    assert IncidentResponse.objects.count() == 3 * 24


@override_settings(TRAINING=True)
def test_fewer_units_is_no_better_where_every_unit_starts_alike(sim_world, geography):
    """Eight identical units at one station and a steady stream of calls near it: taking units
    away can only make calls wait longer."""
    for k in range(8):
        make_unit(geography["kentish"], callsign=f"K{k:02d}")
    calls = _busy_day(30)
    base = simulate_day(calls=calls, seed=3, by=sim_world)
    fewer = simulate_day(calls=calls, seed=3, by=sim_world, change=change_parse("fewer-units=50%"))
    assert Unit.objects.filter(status="off_duty").count() == 4  # half the fleet, all day
    for grade in ("I", "S"):
        b, f = base.figures[grade], fewer.figures[grade]
        assert f["p50_seconds"] >= b["p50_seconds"] and f["p90_seconds"] >= b["p90_seconds"]
        assert f["pct_within_target"] <= b["pct_within_target"]
    assert fewer.figures["I"]["p90_seconds"] > base.figures["I"]["p90_seconds"]
    rows = comparison_rows([base.figures, fewer.figures])
    p90 = next(r for r in rows if r[0] == "I 90th percentile (min)")
    assert p90[3] == pytest.approx(p90[2] - p90[1], abs=0.11) and p90[3] > 0


@override_settings(TRAINING=True)
def test_moving_a_bcus_units_starts_them_at_the_other_bcus_stations(sim_world, geography):
    cn = make_unit(geography["kentish"], callsign="CN01")
    calls = [_call("a", _at(9, 0), 51.46, -0.115, "I")]  # at Brixton station
    here = simulate_day(calls=calls, seed=1, by=sim_world)
    moved = simulate_day(calls=calls, seed=1, by=sim_world, change=change_parse("move-bcu=CN:AS"))
    # From Kentish Town it is a long run; from Brixton station none at all.
    assert moved.figures["I"]["p50_seconds"] < here.figures["I"]["p50_seconds"] - 600
    assert Assignment.objects.filter(unit=cn).count() == 2
    with pytest.raises(SimulationError, match="no BCU ZZ"):
        simulate_day(calls=calls, seed=1, by=sim_world, change=change_parse("move-bcu=CN:ZZ"))


@override_settings(TRAINING=True)
def test_a_day_needing_an_unknown_type_is_refused_before_anything_runs(sim_world, geography):
    _fleet(geography, 1)
    calls = [SourceCall(key="x", received_at=_at(9, 0), lat=51.5, lon=-0.1, type_code="NOPE",
                        grade="I", summary="x")]  # fmt: skip
    with pytest.raises(SimulationError, match="no active incident type NOPE"):
        simulate_day(calls=calls, seed=1, by=sim_world)
    assert not Incident.objects.exists()


def test_a_live_instance_refuses_to_simulate(sim_world, geography, tmp_path):
    _fleet(geography, 2)
    before = list(Unit.objects.order_by("pk").values())
    with pytest.raises(SimulationError, match="training instance"):
        simulate_day(calls=_busy_day(3), seed=1, by=sim_world)
    with pytest.raises(Conflict, match="training instance"):
        units_training_reset(at=_at(0, 0), by=sim_world, source="test")
    (tmp_path / LFB_FILE).write_text(
        LFB_HEAD + "1,2023-06-01,09:00:00,Fire,Primary Fire,,,,530000,180000\n"
    )
    with pytest.raises(CommandError, match="training instance"):
        call_command("simulate_demand", "--source", "lfb", "--day", "2023-06-01",
                     "--data", str(tmp_path))  # fmt: skip
    assert not Incident.objects.exists() and not SimulationRun.objects.exists()
    assert list(Unit.objects.order_by("pk").values()) == before


@override_settings(TRAINING=True)
def test_the_command_plays_a_what_if_and_prints_both_side_by_side(
    sim_world, geography, tmp_path, capsys
):
    _fleet(geography, 4)
    make_incident_type("DAMAGE", default_grade="I")
    head = LFB_HEAD
    rows = "".join(
        f"{k},2023-06-01,{8 + k // 4:02d}:{(k % 4) * 15:02d}:00,Fire,Primary Fire,,,,"
        f"{528000 + 300 * k},{179000 + 200 * k}\n"
        for k in range(12)
    )
    (tmp_path / LFB_FILE).write_text(head + rows)
    call_command(
        "simulate_demand", "--source", "lfb", "--day", "2023-06-01", "--data", str(tmp_path),
        "--what-if", "fewer-units=50%", "--by", sim_world.username,
    )  # fmt: skip
    out = capsys.readouterr().out
    assert "lfb 2023-06-01: 12 calls, seed 1" in out
    header = next(line for line in out.splitlines() if "fewer-units=50%" in line
                  and "difference" in line)  # fmt: skip
    assert header.split() == ["as", "it", "was", "fewer-units=50%", "difference"]
    assert next(line for line in out.splitlines() if line.startswith("I incidents")).split() == [
        "I", "incidents", "12", "12", "0"]  # fmt: skip
    base, variant = SimulationRun.objects.order_by("pk")
    assert variant.baseline == base and variant.change == "fewer-units=50%"
    assert base.seed == variant.seed == 1 and base.figures["I"]["incidents"] == 12
    assert base.by == sim_world


def test_the_shared_days_are_read_where_present():
    """The real extracts, when this checkout sits beside ../shared/data."""
    sf = day_calls("sf", date(2020, 4, 9))
    assert len(sf) == 446  # distinct call numbers received that day, every one placed
    assert all(51.25 <= c.lat <= 51.72 and -0.56 <= c.lon <= 0.34 for c in sf)
    lfb = day_calls("lfb", date(2023, 9, 21))
    assert len(lfb) == 43


def test_missing_data_says_where_it_looked(tmp_path):
    with pytest.raises(SourceError, match="not found"):
        day_calls("lfb", date(2023, 6, 1), data=Path(tmp_path))


@override_settings(TRAINING=True)
def test_the_policies_pick_differently_from_one_recommendation(sim_world, geography):
    """A collision in Camden (CN) whose plan asks for a traffic car: the engine ranks the
    distant traffic car first (it meets the plan), `nearest` sends AS's car from a station a
    few metres away, `own-bcu` CN's car from Kentish Town."""
    make_incident_type("RTCINJ", default_grade="I", plan=[(make_unit_type("TRAF"), None, "", 1)])
    scene = (51.5445, -0.159)
    close_by = Station.objects.create(
        code="AX", name="Across the border", bcu=geography["AS"], borough=geography["lambeth"],
        lat=51.5446, lon=-0.1591,
    )  # fmt: skip
    traffic = make_unit(geography["brixton"], callsign="AS-TRAF", unit_type=make_unit_type("TRAF"))
    nearest = make_unit(close_by, callsign="AS-IRV")
    own = make_unit(geography["kentish"], callsign="CN-IRV")
    calls = [SourceCall(key="rtc", received_at=_at(9, 0), lat=scene[0], lon=scene[1],
                        type_code="RTCINJ", grade="I", summary="rtc")]  # fmt: skip
    sent, response = {}, {}
    for policy in ("top", "nearest", "own-bcu"):
        result = simulate_day(calls=calls, seed=1, by=sim_world, change=Change("policy", policy))
        sent[policy] = Assignment.objects.order_by("-pk").first().unit
        response[policy] = result.figures["I"]["p50_seconds"]
    assert sent == {"top": traffic, "nearest": nearest, "own-bcu": own}
    assert response["nearest"] < response["own-bcu"] < response["top"]
