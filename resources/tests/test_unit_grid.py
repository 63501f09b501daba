"""Units' grid squares (resources/grid.py): the database's square for a position always lies in
the squares a box around it searches, and a GPS fix within its square stays a HOT update."""

import random
from datetime import timedelta

from django.db import connection
from django.utils import timezone

from resources.grid import CELLS_PER_DEGREE, cell_range
from resources.models import Unit
from resources.recommend.engine import Requirement, load_candidates
from resources.recommend.geo import box_around
from resources.services import UnitFix, units_set_positions
from tests.factories import make_unit, make_unit_type

# Positions the casts treat differently: either side of the meridian, on a square's edge and
# half-way across one (where rounding and truncating disagree), and London at large.
EDGE = 1 / CELLS_PER_DEGREE
AWKWARD = [
    (51.5, 0.0), (51.5, -0.0001), (51.5, 0.0001), (51.5 + EDGE / 2, -EDGE / 2),
    (51.5 - EDGE / 2, -3 * EDGE / 2), (-33.9, 151.2), (0.0, -179.99), (89.99, 179.99),
    (51.52, -0.1 + EDGE * 0.4999), (51.52, -0.1 + EDGE * 0.5001),
]  # fmt: skip


def _cells(unit: Unit) -> tuple[int, int]:
    return Unit.objects.values_list("lat_cell", "lon_cell").get(pk=unit.pk)


def test_a_box_searches_the_square_the_database_gives_every_point_in_it(geography):
    rng = random.Random(7)
    station = geography["kentish"]
    points = AWKWARD + [(rng.uniform(51.28, 51.70), rng.uniform(-0.51, 0.33)) for _ in range(60)]
    for n, (lat, lon) in enumerate(points):
        unit = make_unit(station, callsign=f"G{n:03d}", lat=lat, lon=lon)
        lat_cell, lon_cell = _cells(unit)
        # Boxes with the point anywhere inside them, on their edges, or as the whole box.
        for below, above in [(0.0, 0.0), (0.0, 1e-3), (1e-3, 0.0), (0.05, 0.07), (EDGE, EDGE)]:
            low, high = cell_range(lat - below, lat + above, 90.0)
            assert low <= lat_cell <= high, (lat, lon, below, above)
            low, high = cell_range(lon - below, lon + above, 180.0)
            assert low <= lon_cell <= high, (lat, lon, below, above)


def test_a_unit_without_a_position_has_no_square_and_is_found_at_its_station(geography):
    station = geography["kentish"]
    unit = make_unit(station, callsign="NOFIX")
    Unit.objects.filter(pk=unit.pk).update(lat=None, lon=None, position_at=None)
    assert _cells(unit) == (None, None)
    found = load_candidates(station.lat, station.lon, 2_000)
    assert [c.callsign for c in found if c.id == unit.pk] == ["NOFIX"]
    assert load_candidates(station.lat + 0.2, station.lon, 2_000) == []


def test_a_unit_just_inside_the_box_is_found_and_one_just_outside_is_not(geography):
    station = geography["kentish"]
    # 0.0179 degrees of latitude is just under 2 km; 0.0181 just over.
    inside = make_unit(station, callsign="IN", lat=station.lat + 0.0179, lon=station.lon)
    make_unit(station, callsign="OUT", lat=station.lat + 0.0181, lon=station.lon)
    found = load_candidates(station.lat, station.lon, 2_000)
    assert [c.callsign for c in found] == [inside.callsign]


def _hot_updates() -> tuple[int, int]:
    """(updates, HOT updates) of the units' table in this transaction so far."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables WHERE relname = %s",
            [Unit._meta.db_table],
        )
        row = cursor.fetchone()
    return (row[0], row[1]) if row else (0, 0)


def test_a_gps_fix_within_its_square_is_a_hot_update(postgres, geography):
    """An index on the position itself would make every fix write new index entries."""
    station = geography["kentish"]
    unit = make_unit(station, callsign="MOVER", lat=51.5101, lon=-0.1301)
    at = timezone.now()
    before = _hot_updates()
    # Ten metres north, the same square: HOT.
    units_set_positions(fixes=[UnitFix(unit.pk, 51.5102, -0.1301, at + timedelta(seconds=1))])
    after_near = _hot_updates()
    assert after_near[0] - before[0] == 1
    assert after_near[1] - before[1] == 1
    # Into the next square east: an index entry changes, so not HOT (the index is live).
    east = UnitFix(unit.pk, 51.5102, -0.1301 + 1.5 * EDGE, at + timedelta(seconds=2))
    units_set_positions(fixes=[east])
    after_far = _hot_updates()
    assert after_far[0] - after_near[0] == 1
    assert after_far[1] == after_near[1]


def test_a_fix_for_every_unit_finds_room_on_its_page(postgres, geography):
    """The table leaves half of each page free (migration resources 0009): at the default
    fillfactor a page holds as many rows as fit, and each first fix on it is not HOT."""
    station = geography["kentish"]
    kind = make_unit_type("IRV")
    at = timezone.now()
    units = Unit.objects.bulk_create(
        Unit(callsign=f"F{n:03d}", type=kind, station=station, bcu=station.bcu,
             issi=f"7{n:06d}", lat=51.512, lon=-0.134, position_at=at)
        for n in range(300)
    )  # fmt: skip
    before = _hot_updates()
    # Ten metres on, in the same grid square (so no indexed value changes).
    fixes = [UnitFix(u.pk, 51.5121, -0.1341, at + timedelta(seconds=1)) for u in units]
    units_set_positions(fixes=fixes)
    updates, hot = (a - b for a, b in zip(_hot_updates(), before, strict=True))
    assert updates == 300
    assert hot >= 270, f"{hot} of 300 fixes were HOT updates"


def test_a_rare_types_search_reads_that_type_alone_under_the_generic_plan(postgres, geography):
    """A plan line's search for a rare type (dog units) in a wide box, run as the prepared
    statement PostgreSQL keeps after five runs: its generic plan cannot know the box is wide, so
    unless it has the type's id to compare and an index leading with the type, it reads every
    unit in the box (issue 22's p99; decision 0028, stop 37)."""
    station = geography["kentish"]
    rng = random.Random(3)
    cars, dogs = make_unit_type("IRV"), make_unit_type("DOG")
    now = timezone.now()
    Unit.objects.bulk_create(
        Unit(callsign=f"R{n:04d}", type=dogs if n % 30 == 0 else cars, station=station,
             bcu=station.bcu, issi=f"7{n:06d}", status="available", status_at=now,
             lat=station.lat + rng.uniform(-0.1, 0.1), lon=station.lon + rng.uniform(-0.15, 0.15),
             position_at=now)
        for n in range(3000)
    )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE resources_unit, resources_unittype")  # as production's have
    line = Requirement(count=1, unit_type="DOG", unit_type_name="Dog unit")
    runs: list[tuple[str, list]] = []

    def keep(execute, sql, params, many, context):
        runs.append((sql, params))
        return execute(sql, params, many, context)

    box = box_around(station.lat, station.lon, 8_000)
    with connection.execute_wrapper(keep):
        found = load_candidates(station.lat, station.lon, 8_000, line)
    assert sorted(c.callsign for c in found) == sorted(
        Unit.objects.filter(type=dogs, lat__range=box[:2], lon__range=box[2:]).values_list(
            "callsign", flat=True
        )
    )
    assert found
    [(sql, params)] = [(s, p) for s, p in runs if s.startswith("EXECUTE")]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "unit_type_cell_idx" in plan, plan


def test_no_index_on_units_is_the_start_of_another(postgres):
    """Every index is written on each update that is not HOT (a fix into another square): one
    whose columns begin another's serves nothing the longer one does not (migration 0011)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, i.indkey::int2[] FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = 'resources_unit'::regclass AND NOT i.indisunique "
            "AND i.indexprs IS NULL AND i.indpred IS NULL"
        )
        indexes = cursor.fetchall()
    assert len(indexes) >= 3
    for name, columns in indexes:
        longer = [
            other
            for other, cols in indexes
            if len(cols) > len(columns) and cols[: len(columns)] == columns
        ]
        assert not longer, f"{name} is the start of {longer}"
