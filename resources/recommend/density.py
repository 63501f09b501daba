"""How far the first search box must reach, from how many free units are near the incident.

The general search loads every free unit in its box, and its cost grows with the rows: at 5,000
units a fixed 4 km box held about 125 of them and took 2–3.5 ms, a 2 km box about 33 and 1 ms
(docs/benchmarks.md, stop 39), where the shortlist needs the nearest ten. So the first box is
sized to hold about FILL times the units wanted, at the density of free units in the grid squares
(resources/grid.py) around the incident, counted per process every few seconds. A box that turns
out too small widens as before (engine._widen), so the size changes what a recommendation costs,
never what it answers.
"""

from collections.abc import Iterable, Mapping
from math import cos, floor, pi, radians, sqrt

from resources.grid import CELLS_PER_DEGREE, LAT_OFFSET, LON_OFFSET

# Squares counted each side of the incident's own: 5 × 7 squares, about 11 km north to south
# and 10 km east to west in London, so an incident near a square's edge still sees both sides.
ROWS_EACH_SIDE = 2
COLUMNS_EACH_SIDE = 3
KM_PER_DEGREE = 111.195

Squares = Mapping[tuple[int, int], int]


def squares(rows: Iterable[tuple[int, int, str, int]]) -> dict[str | None, dict]:
    """(lat square, lon square, unit type, count) rows as counts per square: under None for
    every type, under each type's code for that type alone."""
    counts: dict[str | None, dict] = {None: {}}
    for lat_cell, lon_cell, type_code, n in rows:
        key = (lat_cell, lon_cell)
        counts[None][key] = counts[None].get(key, 0) + n
        by_type = counts.setdefault(type_code, {})
        by_type[key] = by_type.get(key, 0) + n
    return counts


def first_radius_m(
    counts: Squares, lat: float, lon: float, wanted: float, *, least_m: float, most_m: float
) -> float:
    """The radius whose circle would hold `wanted` units at the density around (lat, lon),
    between `least_m` and `most_m`; `most_m` where none are near."""
    # floor, where PostgreSQL's cast rounds (resources/grid.py): there the window sits half a
    # square off centre, which a window of 5 × 7 squares hardly notices.
    row = floor((lat + LAT_OFFSET) * CELLS_PER_DEGREE)
    column = floor((lon + LON_OFFSET) * CELLS_PER_DEGREE)
    near = sum(
        counts.get((row + i, column + j), 0)
        for i in range(-ROWS_EACH_SIDE, ROWS_EACH_SIDE + 1)
        for j in range(-COLUMNS_EACH_SIDE, COLUMNS_EACH_SIDE + 1)
    )
    if near == 0:
        return most_m
    square_km = KM_PER_DEGREE / CELLS_PER_DEGREE
    area_km2 = (
        (2 * ROWS_EACH_SIDE + 1) * square_km
        * (2 * COLUMNS_EACH_SIDE + 1) * square_km * cos(radians(lat))
    )  # fmt: skip
    radius_m = 1000 * sqrt(wanted * area_km2 / (pi * near))
    return min(max(radius_m, least_m), most_m)
