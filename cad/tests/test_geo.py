"""cad/geo/geometry.py: distances, point-in-polygon with holes and multipolygons, borough, BCU."""

import math

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from cad.geo import geometry as geo
from cad.models import BCU, Borough
from tests.factories import make_borough, square

# A 2 × 2 square with a 1 × 1 hole in its north-east corner, and a separate island.
OUTER = [[0.0, 50.0], [2.0, 50.0], [2.0, 52.0], [0.0, 52.0], [0.0, 50.0]]
HOLE = [[1.0, 51.0], [1.0, 51.8], [1.8, 51.8], [1.8, 51.0], [1.0, 51.0]]  # clockwise on purpose
ISLAND = [[3.0, 50.0], [4.0, 50.0], [4.0, 51.0], [3.0, 51.0], [3.0, 50.0]]
WITH_HOLE = {"type": "Polygon", "coordinates": [OUTER, HOLE]}
MULTI = {"type": "MultiPolygon", "coordinates": [[OUTER, HOLE], [ISLAND]]}


def test_haversine_matches_known_distances():
    # One degree along a meridian is R·π/180 with the mean Earth radius.
    assert geo.haversine_m(51.0, -0.1, 52.0, -0.1) == pytest.approx(111_195, rel=1e-4)
    # Charing Cross to Brixton police stations: over 5 km the flat-earth formula agrees.
    dy = (51.5097 - 51.4635) * 111_195
    dx = (0.0099) * 111_195 * math.cos(math.radians(51.4866))
    flat = math.hypot(dx, dy)
    assert geo.haversine_m(51.5097, -0.1244, 51.4635, -0.1145) == pytest.approx(flat, rel=1e-3)
    assert geo.haversine_m(51.5, -0.1, 51.5, -0.1) == 0.0
    a = geo.haversine_m(51.5, -0.1, 51.4, 0.2)
    assert a == pytest.approx(geo.haversine_m(51.4, 0.2, 51.5, -0.1))
    # A degree of longitude at London's latitude is shorter than at the equator.
    assert geo.haversine_m(51.5, 0, 51.5, 1) == pytest.approx(
        111_195 * math.cos(math.radians(51.5)), rel=1e-3
    )


def test_point_in_polygon_respects_holes():
    assert geo.point_in_geometry(50.5, 0.5, WITH_HOLE)
    assert geo.point_in_geometry(51.9, 1.9, WITH_HOLE)  # between the hole and the edge
    assert not geo.point_in_geometry(51.4, 1.4, WITH_HOLE)  # in the hole
    assert not geo.point_in_geometry(52.5, 0.5, WITH_HOLE)  # north of it
    assert not geo.point_in_geometry(50.5, -0.5, WITH_HOLE)  # west of it


def test_point_in_multipolygon_checks_every_part():
    assert geo.point_in_geometry(50.5, 3.5, MULTI)  # the island
    assert geo.point_in_geometry(50.5, 0.5, MULTI)
    assert not geo.point_in_geometry(51.4, 1.4, MULTI)  # the hole of the first part
    assert not geo.point_in_geometry(50.5, 2.5, MULTI)  # the water between


def test_point_in_concave_polygon():
    # A "U": the notch between the arms is outside.
    u = [[0, 0], [3, 0], [3, 3], [2, 3], [2, 1], [1, 1], [1, 3], [0, 3], [0, 0]]
    geometry = {"type": "Polygon", "coordinates": [u]}
    assert geo.point_in_geometry(2.0, 0.5, geometry)  # left arm
    assert geo.point_in_geometry(2.0, 2.5, geometry)  # right arm
    assert not geo.point_in_geometry(2.0, 1.5, geometry)  # the notch
    assert geo.point_in_geometry(0.5, 1.5, geometry)  # the base


def test_bad_points_and_geometries():
    assert not geo.point_in_geometry(float("nan"), 0.5, WITH_HOLE)
    assert not geo.point_in_geometry(50.5, float("inf"), WITH_HOLE)
    with pytest.raises(ValueError):
        geo.point_in_geometry(50.5, 0.5, {"type": "Point", "coordinates": [0.5, 50.5]})


def test_bbox_of_covers_all_parts():
    assert geo.bbox_of(MULTI) == geo.BBox(50.0, 52.0, 0.0, 4.0)
    assert geo.bbox_of(WITH_HOLE).contains(51.0, 1.0)
    assert not geo.bbox_of(WITH_HOLE).contains(51.0, 2.5)


def test_centroid_of_square_hole_and_multipolygon():
    lat, lon = geo.centroid_of(square(51.5, -0.1, 0.02))
    assert (lat, lon) == (pytest.approx(51.5), pytest.approx(-0.1))
    # The hole is north-east, so the centroid moves south-west of the square's centre.
    lat, lon = geo.centroid_of(WITH_HOLE)
    assert lat < 51.0 and lon < 1.0
    # Two equal squares: the centroid is half-way between them.
    two = {
        "type": "MultiPolygon",
        "coordinates": [
            square(51.5, -0.2, 0.01)["coordinates"],
            square(51.5, 0.0, 0.01)["coordinates"],
        ],
    }
    lat, lon = geo.centroid_of(two)
    assert (lat, lon) == (pytest.approx(51.5), pytest.approx(-0.1, abs=1e-9))


def test_in_force_area(settings):
    settings.FORCE_AREA_BOUNDS = {
        "min_lat": 51.25,
        "max_lat": 51.72,
        "min_lon": -0.56,
        "max_lon": 0.34,
    }
    assert geo.in_force_area(51.5074, -0.1278)  # Charing Cross
    assert not geo.in_force_area(52.2053, 0.1218)  # Cambridge
    assert not geo.in_force_area(51.5, -0.6)  # just west of the box
    assert not geo.in_force_area(float("nan"), 0.0)


@pytest.mark.django_db
def test_borough_at_and_bcu_at(geography):
    cn, camden = geography["CN"], geography["camden"]
    # Camden is a square of ±0.02° around (51.545, -0.16); the factories' Lambeth is far south.
    assert geo.borough_at(51.545, -0.16) == camden
    assert geo.bcu_at(51.545, -0.16) == cn
    assert geo.borough_at(51.46, -0.115) == geography["lambeth"]
    assert geo.borough_at(51.60, -0.16) is None
    assert geo.bcu_at(51.60, -0.16) is None
    assert geo.borough_at(float("nan"), -0.16) is None


@pytest.mark.django_db
def test_borough_at_uses_the_polygon_not_just_the_box(geography):
    cn = geography["CN"]
    # A triangle whose box contains points the triangle does not.
    triangle = [[-0.30, 51.40], [-0.20, 51.40], [-0.30, 51.50], [-0.30, 51.40]]
    Borough.objects.create(
        name="Triangle", bcu=cn, boundary={"type": "Polygon", "coordinates": [triangle]},
        min_lat=51.40, max_lat=51.50, min_lon=-0.30, max_lon=-0.20,
        centre_lat=51.43, centre_lon=-0.27,
    )  # fmt: skip
    assert geo.borough_at(51.42, -0.28).name == "Triangle"
    assert geo.borough_at(51.48, -0.22) is None  # inside the box, outside the triangle


@pytest.mark.django_db
def test_borough_at_leaves_a_hole_to_its_neighbour():
    # A ring-shaped borough round a smaller one, like a county around a city.
    outer_bcu = BCU.objects.create(code="XA", name="Outer")
    inner_bcu = BCU.objects.create(code="XB", name="Inner")
    ring_out = square(51.5, -0.1, 0.05)["coordinates"][0]
    ring_in = square(51.5, -0.1, 0.01)["coordinates"][0]
    Borough.objects.create(
        name="Doughnut", bcu=outer_bcu,
        boundary={"type": "Polygon", "coordinates": [ring_out, ring_in]},
        min_lat=51.45, max_lat=51.55, min_lon=-0.15, max_lon=-0.05,
        centre_lat=51.46, centre_lon=-0.1,
    )  # fmt: skip
    make_borough(inner_bcu, "Jam", 51.5, -0.1, half=0.01)
    assert geo.borough_at(51.5, -0.1).name == "Jam"
    assert geo.bcu_at(51.5, -0.1) == inner_bcu
    assert geo.borough_at(51.53, -0.1).name == "Doughnut"
    assert geo.bcu_at(51.53, -0.1) == outer_bcu


def _boundary_reads(run) -> int:
    """How many statements `run()` made that read a boundary column."""
    with CaptureQueriesContext(connection) as queries:
        run()
    return sum('"boundary"' in q["sql"] or "b.boundary" in q["sql"] for q in queries)


@pytest.mark.django_db
def test_bcu_at_reads_a_boundary_once_per_version(postgres, geography):
    camden, cn = geography["camden"], geography["CN"]
    found: list = []
    assert _boundary_reads(lambda: found.extend(geo.bcu_at(51.545, -0.16) for _ in range(3))) == 1
    assert found == [cn, cn, cn]  # read once, then kept
    # Moved away (as an import would): the next lookup sees it at once, in this process by the
    # save's signal and in any other by the row's new version.
    camden.boundary = {"type": "Polygon", "coordinates": [
        [[-0.10, 51.60], [-0.09, 51.60], [-0.09, 51.61], [-0.10, 51.60]]
    ]}  # fmt: skip
    camden.save(update_fields=["boundary"])
    assert _boundary_reads(lambda: found.append(geo.bcu_at(51.545, -0.16))) == 1
    assert found[-1] is None


@pytest.mark.django_db(transaction=True)
def test_another_processs_boundary_change_is_seen_by_its_row_version(postgres):
    # Committed rows, and a change that sends this process no signal (a bulk update, as
    # another process's save would be to this one): the row's xmin moves all the same.
    from tests.factories import make_geography

    with transaction.atomic():
        geography = make_geography()
    assert geo.bcu_at(51.545, -0.16) == geography["CN"]
    far = {"type": "Polygon", "coordinates": [[[-0.10, 51.60], [-0.09, 51.60], [-0.09, 51.61]]]}
    Borough.objects.filter(pk=geography["camden"].pk).update(boundary=far)
    assert geo.bcu_at(51.545, -0.16) is None
