"""Generated borough boundaries: Voronoi cells of known points, clipped to London.

Real boundaries come from `manage.py import_boundaries`; these exist so a fresh install has a
usable map with no download. The sites are each borough's centre, its police stations and a few
landmarks (all labelled with their borough), plus the City of London, whose cell is left out as
a gap. A borough is the MultiPolygon of its sites' cells, so every station lies in its own
borough. Each cell is the part of a convex London outline nearer to its site than to any other,
computed by clipping the outline with one half-plane per other site (Sutherland-Hodgman). The
work is done in a local plane where a degree of longitude is scaled by cos(51.5°), so bisectors
are true perpendiculars on the ground. Pure Python, deterministic: same input, same output.
"""

import math
from collections.abc import Sequence

from cad.demo.geography import BOROUGHS, CITY_OF_LONDON, LANDMARKS, LONDON_OUTLINE, STATIONS

_K = math.cos(math.radians(51.5))

Point = tuple[float, float]  # (x, y) in the local plane


def _convex_hull(points: Sequence[Point]) -> list[Point]:
    """Andrew's monotone chain; counter-clockwise, no repeated end point."""
    pts = sorted(set(points))

    def cross(o: Point, a: Point, b: Point) -> float:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list[Point] = []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    upper: list[Point] = []
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return lower[:-1] + upper[:-1]


def _clip(polygon: list[Point], site: Point, other: Point) -> list[Point]:
    """Keep the part of a convex polygon nearer to `site` than to `other`."""
    nx, ny = other[0] - site[0], other[1] - site[1]
    mx, my = (site[0] + other[0]) / 2, (site[1] + other[1]) / 2

    def side(p: Point) -> float:  # <= 0: on site's side of the bisector
        return (p[0] - mx) * nx + (p[1] - my) * ny

    out: list[Point] = []
    for i, cur in enumerate(polygon):
        prev = polygon[i - 1]
        s_cur, s_prev = side(cur), side(prev)
        if s_cur <= 0:
            if s_prev > 0:
                out.append(_intersect(prev, cur, s_prev, s_cur))
            out.append(cur)
        elif s_prev <= 0:
            out.append(_intersect(prev, cur, s_prev, s_cur))
    return out


def _intersect(a: Point, b: Point, sa: float, sb: float) -> Point:
    t = sa / (sa - sb)
    return (a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1]))


def generated_boundaries() -> dict[str, dict]:
    """{borough name: GeoJSON MultiPolygon} for the 32 boroughs (the City's cell is left out)."""
    outline = _convex_hull([(lon * _K, lat) for lon, lat in LONDON_OUTLINE])
    sites: list[tuple[str, Point]] = [(b.name, (b.lon * _K, b.lat)) for b in BOROUGHS]
    sites += [(s.borough, (s.lon * _K, s.lat)) for s in STATIONS]
    sites += [(borough, (lon * _K, lat)) for borough, lat, lon in LANDMARKS]
    sites.append((CITY_OF_LONDON.name, (CITY_OF_LONDON.lon * _K, CITY_OF_LONDON.lat)))
    result: dict[str, dict] = {
        b.name: {"type": "MultiPolygon", "coordinates": []} for b in BOROUGHS
    }
    for i, (name, site) in enumerate(sites):
        if name not in result:
            continue
        cell = list(outline)
        for j, (_, other) in enumerate(sites):
            if j != i and other != site:
                cell = _clip(cell, site, other)
        if len(cell) < 3:
            continue
        ring = [[round(x / _K, 6), round(y, 6)] for x, y in cell]
        ring.append(ring[0])  # GeoJSON rings are closed; counter-clockwise is kept from the hull
        result[name]["coordinates"].append([ring])
    return result
