"""The learned router: training on hand-built histories, versions, the engine's use, fallback."""

import random
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command

from cad.celery import app
from cad.models import AuditEvent
from cad.prepared import PreparedValues
from resources.models import Assignment, TravelModel, Unit, UnitStatus
from resources.recommend import engine, training
from resources.recommend.engine import load_candidates, rank, recommend_incident, target_for
from resources.recommend.learned import Attendance, LearnedModel, fit
from resources.recommend.routers import EstimateRouter
from resources.recommend.training import attendances_between, travel_model_train
from resources.tasks import train_travel_model
from tests.factories import (
    incident_row_bypassing_services,
    make_incident_type,
    make_skill,
    make_unit,
    make_unit_type,
)

# 10:00 UTC in January is 10:00 in London: the hour the history is at.
T0 = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)
NOW = datetime(2026, 1, 20, 10, 0, tzinfo=UTC)
KM_LAT = 1 / 111.195  # degrees of latitude per km, as the learner projects them


def north(lat: float, lon: float, km: float) -> tuple[float, float]:
    return lat + km * KM_LAT, lon


def test_fit_on_a_hand_built_history_gives_hand_computed_parameters():
    # Origin A: 1, 2, 3 km in 200, 300, 400 s. Origin B (5 km east): the same trips, 80 s slower.
    a, b = (51.5, -0.1), (51.5, -0.1 + 5 / 69.2)
    trips = [
        Attendance(*o, *north(*o, km), seconds=s + extra, hour=8, first=True)
        for o, extra in ((a, 0), (b, 80))
        for km, s in ((1, 200), (2, 300), (3, 400))
    ]
    p = fit(trips)
    # Least squares over all six: pace 100 s/km (both origins share it), mobilise 100 + 80/2.
    assert p["pace_s_per_km"] == pytest.approx(100, abs=0.01)
    assert p["mobilise_s"] == pytest.approx(140, abs=0.1)
    # Residuals −40 (A) and +40 (B), shrunk by 3 / (3 + 8).
    offsets = sorted(v[0] for v in p["origins"].values())
    assert offsets == pytest.approx([-40 * 3 / 11, 40 * 3 / 11], abs=0.1)
    assert sorted(v[1] for v in p["origins"].values()) == [3, 3]
    # What is left is ±29.1 s, three each way at 08:00: the hour's median is 0.
    assert p["hours"][8] == pytest.approx(0, abs=0.1)
    assert p["attendances"] == 6
    # B's 2 km trip: 140 + 200 + 10.9 + (its neighbours' median residual 29.1 × 3/7).
    model = LearnedModel(p)
    [pred] = model.predict_many([b], *north(*b, 2), hour=8)
    left = 40 - 40 * 3 / 11
    assert pred.seconds == pytest.approx(140 + 200 + 40 * 3 / 11 + left * 3 / 7, abs=1)
    assert pred.attendances == 3


def test_fit_refuses_an_empty_history():
    with pytest.raises(ValueError):
        fit([])


# --- from the force's own assignments ------------------------------------------------------------


@pytest.fixture
def learning(settings):
    settings.RECOMMEND_ROUTER = "learned"
    settings.RECOMMEND_LEARNED_MIN_ATTENDANCES = 3
    settings.RECOMMEND_LEARNED_CHECK_S = 0  # each test trains its own versions: ask every time


def attend(unit, incident, *, seconds: float, at: datetime = T0, origin=None) -> Assignment:
    """One past journey, written straight to the table as history is (seed_demo --history)."""
    return Assignment.objects.create(
        incident=incident, unit=unit, assigned_at=at, at_scene_at=at + timedelta(seconds=seconds),
        cleared_at=at + timedelta(hours=1),
        origin_lat=origin[0] if origin else None, origin_lon=origin[1] if origin else None,
    )  # fmt: skip


def history(geography, desk, unit, trips, *, at: datetime = T0, grade="I"):
    station = geography["kentish"]
    made = []
    for km, seconds in trips:
        lat, lon = north(station.lat, station.lon, km)
        incident = incident_row_bypassing_services(by=desk, lat=lat, lon=lon, grade=grade,
                                                   status="closed")  # fmt: skip
        made.append(attend(unit, incident, seconds=seconds, at=at))
    return made


@pytest.fixture
def desk(cast):
    return cast.despatcher_all


def test_training_reads_assignments_to_at_scene_from_the_station(geography, desk, learning):
    old = make_unit(geography["kentish"], callsign="OLD")
    one_km = history(geography, desk, old, [(1, 200), (2, 300), (3, 400)])[0].incident
    # Not journeys to learn from: an S grade, one never at scene, one outside the window.
    history(geography, desk, old, [(2, 900)], grade="S")
    lost = incident_row_bypassing_services(by=desk, lat=51.56, lon=-0.14, status="closed")
    Assignment.objects.create(incident=lost, unit=old, assigned_at=T0, cleared_at=T0)
    history(geography, desk, old, [(2, 900)], at=NOW - timedelta(days=40))
    # A second unit at the 1 km incident, later: an attendance, not the first there.
    other = make_unit(geography["kentish"], callsign="SECOND")
    attend(other, one_km, seconds=260, origin=(51.55, -0.14))

    trips = attendances_between(NOW - timedelta(days=30), NOW)
    assert sorted((round(t.seconds), t.first) for t in trips) == [
        (200, True), (260, False), (300, True), (400, True)
    ]  # fmt: skip
    model = travel_model_train(now=NOW, days=30)
    assert model is not None and model.version == 1 and model.attendances == 4
    assert model.window_start == NOW - timedelta(days=30) and model.window_end == NOW
    p = model.parameters
    # Least squares on (km, s) = (1, 200), (1, 260), (2, 300), (3, 400): mean 1.75 km, 290 s;
    # Sxy = 67.5 + 22.5 + 2.5 + 137.5 = 230, Sxx = 2.75: pace 83.64 s/km, 290 − 146.4 = 143.6 s.
    assert p["pace_s_per_km"] == pytest.approx(83.64, abs=0.01)
    assert p["mobilise_s"] == pytest.approx(143.6, abs=0.1)
    assert AuditEvent.objects.filter(action="travel_model.trained").count() == 1


def test_engine_uses_the_learned_router_and_says_how_many_attendances(geography, desk, learning):
    unit = make_unit(geography["kentish"], callsign="KT1")
    history(geography, desk, unit, [(1, 200), (2, 300), (3, 400)])
    travel_model_train(now=NOW, days=30)
    station = geography["kentish"]
    incident = incident_row_bypassing_services(by=desk, lat=north(station.lat, station.lon, 2)[0],
                                               lon=station.lon)  # fmt: skip
    out = recommend_incident(incident, now=NOW)
    assert out.router == "learned"
    top = out.results[0]
    assert top.candidate.callsign == "KT1"
    assert top.eta_s == pytest.approx(300, abs=1)  # 100 s + 100 s/km × 2 km, nothing left over
    assert top.reasons[0] == "usually 5 min from here at this hour, from 3 past attendances"
    assert top.as_dict()["eta_seconds"] == 300


def test_untrained_or_too_little_history_keeps_the_straight_line(geography, desk, learning,
                                                                  settings):  # fmt: skip
    unit = make_unit(geography["kentish"], callsign="KT1")
    incident = incident_row_bypassing_services(by=desk, lat=51.56, lon=-0.14)
    out = recommend_incident(incident, now=NOW)
    assert out.router == "estimate"
    assert out.results[0].reasons[0].endswith("min by road (estimated)")

    history(geography, desk, unit, [(1, 200), (2, 300)])
    settings.RECOMMEND_LEARNED_MIN_ATTENDANCES = 3
    assert travel_model_train(now=NOW, days=30) is None
    assert not TravelModel.objects.exists()
    assert recommend_incident(incident, now=NOW).router == "estimate"


def test_each_training_is_a_new_version_and_the_newest_active_is_used(geography, desk, learning):
    unit = make_unit(geography["kentish"], callsign="KT1")
    history(geography, desk, unit, [(1, 200), (2, 300), (3, 400)])
    v1 = travel_model_train(now=NOW, days=30)
    # A slower month: the same trips take twice as long.
    history(geography, desk, unit, [(1, 400), (2, 600), (3, 800)], at=NOW + timedelta(days=1))
    v2 = travel_model_train(now=NOW + timedelta(days=2), days=1)
    assert (v1.version, v2.version) == (1, 2)
    station = geography["kentish"]
    incident = incident_row_bypassing_services(by=desk, lat=north(station.lat, station.lon, 2)[0],
                                               lon=station.lon)  # fmt: skip
    assert recommend_incident(incident, now=NOW).results[0].eta_s == pytest.approx(600, abs=1)
    TravelModel.objects.filter(pk=v2.pk).update(active=False)
    assert recommend_incident(incident, now=NOW).results[0].eta_s == pytest.approx(300, abs=1)


def test_a_unit_from_where_the_first_unit_usually_comes_is_ranked_first(geography, desk,
                                                                         learning):  # fmt: skip
    """Across a river: the nearer station's units never got there first; the other's did."""
    station = geography["kentish"]
    near_station = (station.lat + 2 * KM_LAT, station.lon + 1.5 / 69.2)  # 1.5 km from the spot
    usual = make_unit(station, callsign="USUAL")  # 2 km from the spot, at its station
    other = make_unit(station, callsign="NEARER", lat=near_station[0], lon=near_station[1])
    spot = north(station.lat, station.lon, 2)
    for n in range(6):
        incident = incident_row_bypassing_services(by=desk, lat=spot[0] + n * 1e-4, lon=spot[1],
                                                   status="closed")  # fmt: skip
        attend(usual, incident, seconds=280)
        attend(other, incident, seconds=330, origin=near_station)
    travel_model_train(now=NOW, days=30)
    incident = incident_row_bypassing_services(by=desk, lat=spot[0], lon=spot[1])
    out = recommend_incident(incident, now=NOW)
    assert [r.candidate.callsign for r in out.results] == [usual.callsign, other.callsign]
    assert "first there at 100 % of the nearest past incidents" in out.results[0].reasons
    assert not any(x.startswith("first there") for x in out.results[1].reasons)
    # The straight line would have sent the nearer one.
    straight = recommend_incident(incident, router=EstimateRouter(), now=NOW)
    assert [r.candidate.callsign for r in straight.results] == [other.callsign, usual.callsign]


def test_the_command_and_the_nightly_task_train(geography, desk, learning, capsys):
    unit = make_unit(geography["kentish"], callsign="KT1")
    now = datetime.now(UTC)
    history(geography, desk, unit, [(1, 200), (2, 300), (3, 400)], at=now - timedelta(days=1))
    call_command("train_router", "--days", "7")
    assert "travel model v1: 3 attendances" in capsys.readouterr().out
    train_travel_model()
    assert list(TravelModel.objects.values_list("version", flat=True)) == [2, 1]


# --- issue 22.5: the faster gathering answers as the whole of London would ---------------------


@pytest.mark.parametrize("radius_m", [None, 300, 1500])
def test_optimised_gathering_ranks_as_the_reference_on_a_random_world(geography, desk,
                                                                      monkeypatch, settings,
                                                                      radius_m):  # fmt: skip
    """Shortlist from widening boxes sized by density, precompiled SQL, only the plan's skills
    and sparse lines asked ahead = rank over every free unit with every skill, loaded by the ORM
    as it was, on a random world. Small first boxes make most searches widen."""

    def orm_rows(shape, **values):
        return list(engine._candidates_queryset(**values))

    if radius_m is not None:
        settings.RECOMMEND_SEARCH_RADIUS_M = radius_m
    unions = []
    real_searches = engine.SEARCHES.rows
    monkeypatch.setattr(
        engine.SEARCHES,
        "rows",
        lambda shape, **v: unions.append(shape) or real_searches(shape, **v),
    )

    rng = random.Random(22)
    arv, dog = make_unit_type("ARV", "Armed response vehicle"), make_unit_type("DOG", "Dog unit")
    types = [make_unit_type(), make_unit_type(), arv, dog]
    plans = [
        make_incident_type("ASB9", default_grade="I"),
        make_incident_type("VIOL9", default_grade="I", plan=[(None, make_skill("TASER"), "", 2)]),
        make_incident_type("FIRE9", default_grade="I",
                           plan=[(arv, make_skill("AFO"), "", 1), (dog, None, "I", 1)]),
    ]  # fmt: skip
    statuses = [UnitStatus.AVAILABLE] * 6 + [UnitStatus.UNAVAILABLE, UnitStatus.AT_SCENE]
    for n in range(150):
        unit = make_unit(
            geography["kentish" if n % 2 else "brixton"], callsign=f"R{n:03d}",
            unit_type=rng.choice(types), status=rng.choice(statuses),
            lat=51.45 + rng.random() * 0.15, lon=-0.25 + rng.random() * 0.25,
            skills=[s for s in ("TASER", "AFO", "MEDIC") if rng.random() < 0.3],
        )  # fmt: skip
        if unit.status == UnitStatus.UNAVAILABLE and rng.random() < 0.5:
            Unit.objects.filter(pk=unit.pk).update(deployable=True)
    for n in range(40):
        incident = incident_row_bypassing_services(
            by=desk, lat=51.45 + rng.random() * 0.15, lon=-0.25 + rng.random() * 0.25,
            grade=rng.choice("ISE"), itype=rng.choice(plans),
        )  # fmt: skip
        router = EstimateRouter()
        fast = recommend_incident(incident, router=router, now=NOW)
        target = target_for(incident)
        with monkeypatch.context() as m:
            m.setattr(engine.CANDIDATES, "rows", orm_rows)
            everyone = load_candidates(target.lat, target.lon, None)
        reference = rank(target, everyone, router=router, now=NOW)
        assert fast.as_dict() | {"considered": 0} == reference.as_dict() | {"considered": 0}, n
    assert unions  # the lines asked ahead were part of what was compared


def test_a_prepared_query_answers_with_each_runs_values(geography):
    """Compiled once, run with other values: the same rows as the queryset itself."""
    for n, lat in enumerate((51.50, 51.52, 51.54)):
        make_unit(geography["kentish"], callsign=f"P{n}", lat=lat, lon=-0.1)

    def build(*, south: float, callsign: str, at: datetime):
        return (
            Unit.objects.filter(lat__gte=south, position_at__lte=at, status="available")
            .exclude(callsign=callsign)
            .order_by("callsign")
            .values_list("callsign", "lat", "position_at")
        )

    prepared = PreparedValues(Unit, build)
    later = datetime.now(UTC) + timedelta(minutes=1)
    for values in ({"south": 51.51, "callsign": "P2", "at": later},
                   {"south": 51.49, "callsign": "P0", "at": later},
                   {"south": 51.49, "callsign": "P0", "at": T0}):  # fmt: skip
        assert prepared.rows("one", **values) == list(build(**values)), values
    assert [r[0] for r in prepared.rows("one", south=51.49, callsign="P0", at=later)] == [
        "P1", "P2"
    ]  # fmt: skip


def test_the_newest_version_is_asked_for_at_most_every_check_interval(
    geography, desk, learning, settings
):
    settings.RECOMMEND_LEARNED_CHECK_S = 3600
    unit = make_unit(geography["kentish"], callsign="KT1")
    history(geography, desk, unit, [(1, 200), (2, 300), (3, 400)])
    travel_model_train(now=NOW, days=30)
    router = training.learned_router(now=NOW)
    assert router is not None and router.version == 1
    travel_model_train(now=NOW, days=30)
    cached = training.learned_router(now=NOW)
    assert cached is not None and cached.version == 1  # within the hour: not asked again
    settings.RECOMMEND_LEARNED_CHECK_S = 0
    fresh = training.learned_router(now=NOW)
    assert fresh is not None and fresh.version == 2


def test_beat_trains_nightly_on_the_default_queue(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["train-travel-model"]
    assert entry["task"] == train_travel_model.name
    # Not on the recommend queue, where minutes of training would hold a worker.
    assert app.amqp.router.route({}, train_travel_model.name)["queue"].name == "default"
    assert app.amqp.router.route({}, "resources.tasks.recommend_for_incident")["queue"].name == (
        "recommend"
    )
