"""Ranking on constructed cases: skills, stale positions, cross-BCU, ties, router failure."""

from datetime import timedelta

import pytest
from django.utils import timezone

from resources.models import Unit, UnitStatus
from resources.recommend import engine
from resources.recommend.engine import load_candidates, recommend_incident
from resources.recommend.routers import EstimateRouter, Leg, RouterError
from tests.factories import (
    incident_row_bypassing_services,
    make_incident_type,
    make_skill,
    make_unit,
    make_unit_type,
    unit_position_bypassing_services,
)

# Around Camden (CN): the incident, and points due east of it at growing distance.
INC = (51.545, -0.16)


def east(km: float) -> tuple[float, float]:
    return INC[0], INC[1] + km / 69.2  # ~69.2 km per degree of longitude at 51.5°N


def units_of(rec) -> list[str]:
    return [r.candidate.callsign for r in rec.results]


@pytest.fixture
def desk(cast):
    return cast.despatcher_all


@pytest.fixture
def incident(geography, desk):
    return incident_row_bypassing_services(by=desk, lat=INC[0], lon=INC[1], bcu=geography["CN"])


def unit_at(geography, km, *, station="kentish", **kwargs) -> Unit:
    lat, lon = east(km)
    return make_unit(geography[station], lat=lat, lon=lon, **kwargs)


def test_nearest_available_first_with_reasons(geography, incident):
    far = unit_at(geography, 3.0, callsign="CN3")
    near = unit_at(geography, 1.0, callsign="CN1")
    out = recommend_incident(incident)
    assert units_of(out) == [near.callsign, far.callsign]
    top = out.results[0]
    reasons = top.reasons
    assert reasons[0].endswith("min by road (estimated)")
    assert reasons[1] == "1.0 km"
    assert "same BCU" in reasons
    # Estimate: 1 km × detour 1.4 at the IRV's blue-light 45 km/h ≈ 112 s.
    assert top.eta_s == pytest.approx(1000 * 1.4 / (45 / 3.6), rel=0.02)
    assert top.as_dict()["distance_m"] == pytest.approx(1000, rel=0.02)


def test_only_units_that_could_go_now(geography, incident):
    ok = unit_at(geography, 2.0, callsign="OK")
    for n, status in enumerate(
        [
            UnitStatus.ASSIGNED,
            UnitStatus.EN_ROUTE,
            UnitStatus.AT_SCENE,
            UnitStatus.OFF_DUTY,
            UnitStatus.UNAVAILABLE,
        ]  # fmt: skip
    ):
        unit_at(geography, 0.2 + n / 10, status=status)
    unit_at(geography, 0.1, callsign="INACTIVE")
    Unit.objects.filter(callsign="INACTIVE").update(active=False)
    unit_at(geography, 0.1, callsign="SOS")
    Unit.objects.filter(callsign="SOS").update(emergency=True)
    assert units_of(recommend_incident(incident)) == [ok.callsign]


def test_committed_but_deployable_ranked_after_and_said_so(geography, incident):
    committed = unit_at(geography, 0.5, callsign="CMT", status=UnitStatus.UNAVAILABLE)
    Unit.objects.filter(pk=committed.pk).update(deployable=True)
    free = unit_at(geography, 4.0, callsign="FREE")
    out = recommend_incident(incident)
    assert units_of(out) == [free.callsign, committed.callsign]
    assert any("committed but deployable" in r for r in out.results[1].reasons)
    assert out.results[1].as_dict()["deployable"] is True


def test_cross_bcu_unit_nearer_wins_and_says_where_from(geography, incident):
    own = unit_at(geography, 3.0, callsign="CN9")
    other = unit_at(geography, 1.0, station="brixton", callsign="AS1")
    out = recommend_incident(incident)
    assert units_of(out) == [other.callsign, own.callsign]
    assert "from AS BCU" in out.results[0].reasons
    assert "same BCU" in out.results[1].reasons


def test_skill_required_for_i_grade_ranks_unskilled_after(geography, desk):
    taser = make_skill("TASER", "Taser")
    itype = make_incident_type("VIOL", default_grade="I", plan=[(None, taser, "I", 1)])
    plain = unit_at(geography, 0.5, callsign="PLAIN")
    trained = unit_at(geography, 3.0, callsign="TASER1", skills=["TASER"])
    inc = incident_row_bypassing_services(by=desk, lat=INC[0], lon=INC[1], itype=itype, grade="I")
    out = recommend_incident(inc)
    assert units_of(out) == [trained.callsign, plain.callsign]
    assert "Taser crew" in out.results[0].reasons
    assert out.results[0].suitable and not out.results[1].suitable
    assert "not suggested: no Taser" in out.results[1].reasons
    assert out.plan == [{"need": "Taser crew", "count": 1, "units": ["TASER1"]}]

    # The same type at S grade: the Taser line does not apply, so nearest first.
    s_inc = incident_row_bypassing_services(by=desk, lat=INC[0], lon=INC[1], itype=itype, grade="S")
    assert units_of(recommend_incident(s_inc)) == [plain.callsign, trained.callsign]


def test_unit_type_required_and_exclude_mode(geography, desk, settings):
    arv_type = make_unit_type("ARV", "Armed response vehicle")
    itype = make_incident_type("FIRE", default_grade="I", plan=[(arv_type, None, "", 1)])
    irv = unit_at(geography, 0.5, callsign="IRV1")
    arv = unit_at(geography, 5.0, callsign="ARV1", unit_type=arv_type)
    inc = incident_row_bypassing_services(by=desk, lat=INC[0], lon=INC[1], itype=itype)
    out = recommend_incident(inc)
    assert units_of(out) == [arv.callsign, irv.callsign]
    assert "armed response vehicle" in out.results[0].reasons
    assert "not suggested: not an armed response vehicle" in out.results[1].reasons
    settings.RECOMMEND_UNSUITABLE = "exclude"
    assert units_of(recommend_incident(inc)) == [arv.callsign]


@pytest.fixture
def dog_far_off(geography, desk, settings):
    """An incident whose plan wants a dog unit with a handler: eight other units within 1 km
    (the first search box; the shortlist is 5) and the one such dog unit 12 km away."""
    settings.RECOMMEND_SHORTLIST_K = 5
    settings.RECOMMEND_SEARCH_RADIUS_M = 1000
    dog_skill = make_skill("DOG", "dog handler")
    dog_type = make_unit_type("DOG", "Dog unit")
    itype = make_incident_type("DOGQ", default_grade="I", plan=[(dog_type, dog_skill, "", 1)])
    for i in range(8):
        unit_at(geography, 0.3 + i * 0.1)
    dog = unit_at(geography, 12.0, callsign="DOG1", unit_type=dog_type, skills=["DOG"])
    inc = incident_row_bypassing_services(by=desk, lat=INC[0], lon=INC[1], itype=itype)
    return inc, dog, dog_type


def test_rare_unit_beyond_shortlist_is_still_found(geography, dog_far_off):
    inc, dog, dog_type = dog_far_off
    no_handler = unit_at(geography, 0.2, callsign="DOG2", unit_type=dog_type)
    out = recommend_incident(inc)
    assert units_of(out)[0] == dog.callsign
    assert out.results[0].reasons[2] == "dog unit with dog handler crew"
    lacking = next(r for r in out.results if r.candidate.callsign == no_handler.callsign)
    assert "not suggested: no dog handler" in lacking.reasons


def test_a_rare_units_search_starts_beyond_the_general_one(
    geography, dog_far_off, settings, monkeypatch
):
    # The general search read every free unit within 1 km and no dog unit with a handler was
    # among them: searching 1 km again for one would be a wasted query.
    inc, dog, dog_type = dog_far_off
    settings.RECOMMEND_PLAN_SHORTLIST_K = 1
    # A dog unit near (without a handler), and boxes sized to hold next to nothing: the count of
    # free units says the general box will do for the dog unit too, so it is not asked ahead.
    unit_at(geography, 0.2, callsign="DOG2", unit_type=dog_type)
    settings.RECOMMEND_SEARCH_FILL = 0.01
    settings.RECOMMEND_SEARCH_RADIUS_MIN_M = 1000
    radii = []

    def recording(lat, lon, radius_m, line=None, *args, **kwargs):
        radii.append((radius_m, line.unit_type if line else None))
        return load_candidates(lat, lon, radius_m, line, *args, **kwargs)

    monkeypatch.setattr(engine, "load_candidates", recording)
    out = recommend_incident(inc)
    assert units_of(out)[0] == dog.callsign
    # 1 km holds 9 units (K = 5); the dog unit's search goes 2.5 km, 6.25 km, then 15.625 km,
    # whose circle holds the dog unit at 12 km.
    assert radii == [(1000, None), (2500, "DOG"), (6250, "DOG"), (15625, "DOG")]


def test_stale_position_penalised_and_explained(geography, incident, settings):
    settings.RECOMMEND_STALE_POSITION_S = 600
    settings.RECOMMEND_STALE_PENALTY_S = 120
    stale = unit_position_bypassing_services(
        unit_at(geography, 1.0, callsign="STALE"), *east(1.0), age_s=1800
    )
    # 1.5 km fresh: ~56 s more than the stale unit's 1 km, less than the 120 s penalty.
    fresh = unit_at(geography, 1.5, callsign="FRESH")
    out = recommend_incident(incident)
    assert units_of(out) == [fresh.callsign, stale.callsign]
    stale_result = out.results[1]
    assert "last position 30 min old" in stale_result.reasons
    assert stale_result.score == pytest.approx(stale_result.eta_s + 120)
    # Far enough away, the fresh unit loses to the stale one despite the penalty.
    unit_position_bypassing_services(fresh, *east(5.0))
    assert units_of(recommend_incident(incident)) == [stale.callsign, fresh.callsign]


def test_unit_without_position_stands_at_its_station(geography, incident):
    unit = unit_at(geography, 1.0, callsign="NOPOS")
    Unit.objects.filter(pk=unit.pk).update(lat=None, lon=None, position_at=None)
    out = recommend_incident(incident)
    result = out.results[0]
    station = geography["kentish"]
    assert (result.candidate.lat, result.candidate.lon) == (station.lat, station.lon)
    assert "no position: placed at its home station" in result.reasons


def test_ties_go_to_the_unit_idle_longest(geography, incident):
    a = unit_at(geography, 1.00, callsign="A")
    b = unit_at(geography, 1.05, callsign="B")  # ~5 s further: same 30 s window
    now = timezone.now()
    Unit.objects.filter(pk=a.pk).update(last_cleared_at=now - timedelta(minutes=2))
    Unit.objects.filter(pk=b.pk).update(last_cleared_at=now - timedelta(minutes=50))
    out = recommend_incident(incident)
    assert units_of(out) == ["B", "A"]
    assert "free for 50 min" in out.results[0].reasons
    Unit.objects.filter(pk=b.pk).update(last_cleared_at=now - timedelta(minutes=1))
    assert units_of(recommend_incident(incident)) == ["A", "B"]
    # A unit that is clearly nearer is not passed over for being busier.
    c = unit_at(geography, 0.2, callsign="C")
    Unit.objects.filter(pk=c.pk).update(last_cleared_at=now)
    assert units_of(recommend_incident(incident))[0] == "C"


class FailingRouter:
    name = "osrm"
    by_road = True

    def travel(self, origins, dest_lat, dest_lon, *, blue_lights):
        raise RouterError("connection refused")


class ReversingRouter:
    """Pretends the road network makes the furthest unit the quickest."""

    name = "fake"
    by_road = True

    def travel(self, origins, dest_lat, dest_lon, *, blue_lights):
        n = len(origins)
        legs = [Leg(seconds=100.0 * (n - i), road_m=None) for i in range(n)]
        legs[0] = None  # no route for the nearest: estimated instead
        return legs


def test_router_times_rank_and_failure_falls_back_to_straight_line(geography, incident):
    near = unit_at(geography, 1.0, callsign="N")
    mid = unit_at(geography, 2.0, callsign="M")
    far = unit_at(geography, 3.0, callsign="F")
    out = recommend_incident(incident, router=ReversingRouter())
    # Router: M 200 s, F 100 s; N has no route and is estimated (~112 s).
    assert units_of(out) == [far.callsign, near.callsign, mid.callsign]
    assert out.results[0].reasons[0] == "2 min by road"
    assert out.results[1].reasons[0].endswith("(estimated)")

    failed = recommend_incident(incident, router=FailingRouter())
    assert units_of(failed) == [near.callsign, mid.callsign, far.callsign]
    assert failed.router == "straight-line"
    assert "osrm router failed (connection refused); ranked by straight line" in failed.warnings
    assert all(r.reasons[0].endswith("(estimated)") for r in failed.results)


def test_speeds_by_unit_type_and_grade(geography, desk):
    fast = make_unit_type("AC", "Area car")
    fast.urban_speed_kmh, fast.blue_light_speed_kmh = 30.0, 70.0
    fast.save()
    slow = unit_at(geography, 1.0, callsign="SLOW")  # IRV: 30 / 45 km/h
    quick = unit_at(geography, 1.4, callsign="QUICK", unit_type=fast)
    on_blue = incident_row_bypassing_services(by=desk, lat=INC[0], lon=INC[1], grade="I")
    assert units_of(recommend_incident(on_blue)) == [quick.callsign, slow.callsign]
    # No blue lights at S grade: both at 30 km/h, so the nearer wins.
    no_blue = incident_row_bypassing_services(by=desk, lat=INC[0], lon=INC[1], grade="S")
    out = recommend_incident(no_blue)
    assert units_of(out) == [slow.callsign, quick.callsign]
    assert out.results[0].eta_s == pytest.approx(1000 * 1.4 / (30 / 3.6), rel=0.02)


def test_i_grade_warning_when_nobody_within_15_minutes(geography, incident):
    unit_at(geography, 30.0, callsign="FAR")  # 30 km × 1.4 at 45 km/h ≈ 56 min
    out = recommend_incident(incident)
    assert units_of(out) == ["FAR"]  # found although far outside the first search box
    assert any("within 15 min" in w for w in out.warnings)
    unit_at(geography, 2.0, callsign="NEAR")
    assert not any("within 15 min" in w for w in recommend_incident(incident).warnings)


def test_estimate_router_constants_are_configurable(settings):
    settings.RECOMMEND_DETOUR_FACTOR = 2.0
    settings.RECOMMEND_MOBILISE_S = 60
    from resources.recommend.routers import Origin

    leg = EstimateRouter().travel([Origin(51.5, -0.1, 36.0, 72.0)], 51.5, -0.1 + 1 / 69.9,
                                  blue_lights=True)[0]  # fmt: skip
    assert leg.seconds == pytest.approx(60 + 2000 / 20, rel=0.01)
