"""Issue 22, point 5: the first search box sized from the free units around the incident, and a
sparse unit type's line asked for in the same statement as the general search."""

from datetime import UTC, datetime
from math import cos, pi, radians

import pytest

from resources.grid import CELLS_PER_DEGREE
from resources.recommend import density, engine
from resources.recommend.engine import recommend_incident
from resources.recommend.routers import EstimateRouter
from tests.factories import (
    incident_row_bypassing_services,
    make_incident_type,
    make_skill,
    make_unit,
    make_unit_type,
)

NOW = datetime(2026, 1, 20, 10, 0, tzinfo=UTC)
KM_LAT = 1 / 111.195  # degrees of latitude per km
LAT, LON = 51.5, -0.1


def square_of(lat: float, lon: float) -> tuple[int, int]:
    return int((lat + 90) * CELLS_PER_DEGREE), int((lon + 180) * CELLS_PER_DEGREE)


# --- the size of the first box ----------------------------------------------------------------


def test_the_circle_of_the_first_radius_holds_what_is_wanted_at_an_even_density():
    row, column = square_of(LAT, LON)
    counts = {(row + i, column + j): 12 for i in range(-10, 11) for j in range(-10, 11)}
    radius_m = density.first_radius_m(counts, LAT, LON, 30, least_m=100, most_m=50_000)
    # A square is 1/50 of a degree each way: 2.224 km by 2.224 km × cos(latitude).
    square_km2 = (111.195 / CELLS_PER_DEGREE) ** 2 * cos(radians(LAT))
    held = pi * (radius_m / 1000) ** 2 * 12 / square_km2
    assert held == pytest.approx(30)


def test_sparser_units_need_a_wider_box_and_the_bounds_hold():
    row, column = square_of(LAT, LON)
    dense = {(row + i, column + j): 20 for i in range(-3, 4) for j in range(-4, 5)}
    sparse = dict.fromkeys(dense, 2)
    first = density.first_radius_m
    assert first(dense, LAT, LON, 30, least_m=100, most_m=50_000) < first(
        sparse, LAT, LON, 30, least_m=100, most_m=50_000
    )
    assert first(dense, LAT, LON, 30, least_m=5_000, most_m=50_000) == 5_000
    assert first(sparse, LAT, LON, 30, least_m=100, most_m=1_000) == 1_000


def test_units_beyond_the_counted_squares_count_for_nothing():
    row, column = square_of(LAT, LON)
    far = {(row + 10, column): 500, (row, column - 10): 500}
    assert density.first_radius_m(far, LAT, LON, 30, least_m=100, most_m=4_000) == 4_000


def test_free_units_are_counted_per_square_and_type(geography):
    dog = make_unit_type("DOG", "Dog unit")
    kentish = geography["kentish"]
    make_unit(kentish, callsign="A1", lat=LAT, lon=LON)
    make_unit(kentish, callsign="A2", lat=LAT, lon=LON)
    make_unit(kentish, callsign="D1", lat=LAT, lon=LON, unit_type=dog)
    make_unit(kentish, callsign="BUSY", lat=LAT, lon=LON, status="at_scene")
    counts = engine.free_squares()
    assert sum(counts[None].values()) == 3
    assert sum(counts["DOG"].values()) == 1
    assert sum(counts["IRV"].values()) == 2


# --- in the engine ------------------------------------------------------------------------------


@pytest.fixture
def loads(monkeypatch):
    """Each candidate statement run: the radius and line type of every search in it."""
    runs: list[list[tuple]] = []
    real = engine.load_searches

    def spy(lat, lon, searches, *args):
        if len(searches) > 1:  # one search alone goes through load_candidates
            runs.append([(s.radius_m, s.line.unit_type if s.line else None) for s in searches])
        return real(lat, lon, searches, *args)

    real_one = engine.load_candidates

    def spy_one(lat, lon, radius_m, line=None, *args):
        runs.append([(radius_m, line.unit_type if line else None)])
        return real_one(lat, lon, radius_m, line, *args)

    monkeypatch.setattr(engine, "load_searches", spy)
    monkeypatch.setattr(engine, "load_candidates", spy_one)
    return runs


def test_a_dense_place_gets_a_smaller_first_box(geography, cast, settings, loads):
    settings.RECOMMEND_SEARCH_FILL = 1
    kentish = geography["kentish"]
    for n in range(120):  # 120 free units within about 1.5 km of the incident
        make_unit(kentish, callsign=f"U{n:03d}", lat=LAT + (n % 12 - 6) * 0.002,
                  lon=LON + (n // 12 - 5) * 0.003)  # fmt: skip
    incident = incident_row_bypassing_services(by=cast.despatcher_all, lat=LAT, lon=LON)
    out = recommend_incident(incident, router=EstimateRouter(), now=NOW)
    [[(radius_m, line)]] = loads
    assert radius_m < 4000 and line is None
    assert len(out.results) == 10


def test_a_sparse_types_line_comes_in_the_general_searchs_statement(
    geography, cast, settings, loads
):
    settings.RECOMMEND_SEARCH_RADIUS_M = 1000
    dog = make_unit_type("DOG", "Dog unit")
    kentish = geography["kentish"]
    for n in range(12):  # plenty of ordinary units within a kilometre
        make_unit(kentish, callsign=f"IRV{n:02d}", lat=LAT + n * 0.0005, lon=LON)
    # 3 km north: outside the first box (1 km) and the next (2.5 km).
    dogs = {
        make_unit(kentish, callsign=f"DOG{n}", unit_type=dog,
                  lat=LAT + 3 * KM_LAT + n * 0.001, lon=LON).pk
        for n in range(3)
    }  # fmt: skip
    itype = make_incident_type("DOGS", default_grade="I", plan=[(dog, None, "", 1)])
    incident = incident_row_bypassing_services(
        by=cast.despatcher_all, lat=LAT, lon=LON, itype=itype
    )
    out = recommend_incident(incident, router=EstimateRouter(), now=NOW)
    # One statement: the general search and the dog units', sized from the 3 counted near.
    [[general, (dog_radius, line)]] = loads
    assert general == (1000, None) and line == "DOG" and dog_radius > 3000
    assert {r.candidate.id for r in out.results} >= dogs
    assert out.results[0].candidate.id in dogs  # the plan's line first


def test_a_line_of_a_skill_alone_is_not_asked_ahead(geography, cast, loads):
    """Most units could have a skill: the general box is expected to hold them."""
    kentish = geography["kentish"]
    for n in range(12):
        make_unit(kentish, callsign=f"T{n:02d}", lat=LAT + n * 0.0005, lon=LON,
                  skills=["TASER"] if n % 2 else [])  # fmt: skip
    itype = make_incident_type("VIOL", default_grade="I", plan=[(None, make_skill("TASER"), "", 1)])
    incident = incident_row_bypassing_services(
        by=cast.despatcher_all, lat=LAT, lon=LON, itype=itype
    )
    recommend_incident(incident, router=EstimateRouter(), now=NOW)
    assert [[line for _, line in run] for run in loads] == [[None]]
