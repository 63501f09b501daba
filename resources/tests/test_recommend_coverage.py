"""Coverage per BCU and the I-grade 15-minute warning (GET /api/v1/coverage/)."""

import pytest
from rest_framework.test import APIClient

from resources.models import UnitStatus
from resources.recommend import coverage
from resources.recommend.geo import haversine_m
from tests.factories import make_borough, make_incident, make_unit

CAMDEN = (51.545, -0.16)  # centre of the test borough, a square of ±0.02°
LAMBETH = (51.46, -0.115)


def get(user, path="/api/v1/coverage/"):
    client = APIClient()
    client.force_authenticate(user)
    return client.get(path)


def expected_s(km_m: float) -> float:
    return km_m * 1.4 / (45 / 3.6)  # default detour and the IRV's blue-light speed


def test_coverage_per_bcu_with_worst_point_and_warnings(geography, make_user):
    make_unit(geography["kentish"], callsign="CN1", lat=CAMDEN[0], lon=CAMDEN[1])
    make_unit(geography["kentish"], callsign="CN2", status=UnitStatus.ASSIGNED)
    desk = make_user("despatcher")
    far = make_incident(desk, where="lambeth", grade="I")
    make_incident(desk, lat=CAMDEN[0], lon=CAMDEN[1] + 0.01, grade="I")
    make_incident(desk, where="lambeth", grade="S")

    body = get(desk).json()
    rows = {row["bcu"]: row for row in body["bcus"]}
    assert rows["CN"]["available_units"] == 1 and rows["AS"]["available_units"] == 0
    # Camden's worst point is a corner of its square, ~2.6 km from the only unit.
    corner = haversine_m(CAMDEN[0], CAMDEN[1], CAMDEN[0] + 0.02, CAMDEN[1] + 0.02)
    assert rows["CN"]["eta_to_furthest_seconds"] == pytest.approx(expected_s(corner), rel=0.02)
    assert rows["CN"]["warning"] is None
    # Lambeth is covered only from Camden: its far corner is well over 15 minutes away.
    far_corner = max(
        haversine_m(CAMDEN[0], CAMDEN[1], LAMBETH[0] + dlat, LAMBETH[1] + dlon)
        for dlat in (-0.02, 0.02)
        for dlon in (-0.02, 0.02)
    )
    assert rows["AS"]["eta_to_furthest_seconds"] == pytest.approx(expected_s(far_corner), rel=0.02)
    assert rows["AS"]["warning"] == "parts of AS are more than 15 min from any available unit"
    # Only the open I-grade incident out of reach is named.
    assert [w["incident"] for w in body["i_grade_warnings"]] == [far.pk]
    assert "within 15 min" in body["i_grade_warnings"][0]["text"]

    # A unit in Lambeth closes the gap.
    make_unit(geography["brixton"], callsign="AS1")
    body = get(desk).json()
    assert body["i_grade_warnings"] == []
    assert {r["bcu"]: r["warning"] for r in body["bcus"]}["AS"] is None


def test_no_units_at_all_is_reported_not_crashed(geography, make_user):
    desk = make_user("despatcher")
    make_incident(desk, grade="I")
    body = get(desk).json()
    assert all(r["eta_to_furthest_seconds"] is None and r["warning"] for r in body["bcus"])
    assert body["i_grade_warnings"][0]["eta_seconds"] is None


def test_scope_and_roles(geography, make_user):
    body = get(make_user("despatcher", bcu="AS")).json()
    assert [r["bcu"] for r in body["bcus"]] == ["AS"]
    assert get(make_user("call_handler")).status_code == 403
    assert get(make_user("supervisor")).status_code == 200


def test_the_sample_points_are_kept_until_a_borough_is_added(geography, monkeypatch):
    sampled: list[str] = []
    sample = coverage.sample_points

    def counted(borough, grid_m):
        sampled.append(borough.name)
        return sample(borough, grid_m)

    monkeypatch.setattr(coverage, "sample_points", counted)
    first = coverage.points_by_bcu(1000.0)
    assert coverage.points_by_bcu(1000.0) == first
    assert len(sampled) == 2  # two boroughs, sampled once for both calls
    make_borough(geography["CN"], "Islington", 51.55, -0.10)
    again = coverage.points_by_bcu(1000.0)
    assert len(sampled) == 5  # a new set of boroughs: all three sampled afresh
    assert len(again["CN"]) > len(first["CN"])
