"""Plane geography without a GIS extension: distances, point-in-polygon, borough and BCU lookup.

Positions are WGS84 floats; borough boundaries are GeoJSON geometries (lon/lat order, as GeoJSON
requires) in a JSON column with their bounding box in plain columns. `borough_at` filters on the
box in SQL and runs the exact polygon test in Python on the few boroughs left, so it is cheap
enough to call on every incident creation. Why not PostGIS: docs/decisions/0002.

Every function here is pure except `borough_at` and `bcu_at`, which read the Borough table.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

from django.conf import settings
from django.db import connection

from cad.kept import Kept
from cad.models import BCU, Borough
from cad.prepared import PreparedRows

EARTH_RADIUS_M = 6_371_008.8  # IUGG mean radius

Ring = Sequence[Sequence[float]]  # [[lon, lat], ...], closed or not
Geometry = dict[str, Any]  # a GeoJSON Polygon or MultiPolygon


class BBox(NamedTuple):
    min_lat: float
    max_lat: float
    min_lon: float
    max_lon: float

    def contains(self, lat: float, lon: float) -> bool:
        return self.min_lat <= lat <= self.max_lat and self.min_lon <= lon <= self.max_lon


def _finite(*values: float) -> bool:
    try:
        return all(math.isfinite(v) for v in values)
    except TypeError:
        return False


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres. Good to ~0.5 % anywhere, far better across London."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def _polygons(geometry: Geometry) -> Iterator[Sequence[Ring]]:
    """Each polygon of a geometry as [outer ring, hole, hole, ...]."""
    kind = geometry.get("type")
    coords = geometry.get("coordinates") or []
    if kind == "Polygon":
        yield coords
    elif kind == "MultiPolygon":
        yield from coords
    else:
        raise ValueError(f"expected a GeoJSON Polygon or MultiPolygon, got {kind!r}")


def point_in_ring(lat: float, lon: float, ring: Ring) -> bool:
    """Ray casting (even-odd rule). A point exactly on an edge may fall either side.

    That ambiguity only matters on a shared border, where either neighbour is a right answer.
    """
    inside = False
    n = len(ring)
    if n < 3:
        return False
    x0, y0 = ring[-1][0], ring[-1][1]
    for point in ring:
        x1, y1 = point[0], point[1]
        # Does the edge (x0,y0)-(x1,y1) straddle the horizontal line through the point, with
        # the crossing east of it? The half-open test counts a vertex on the line once.
        if (y1 > lat) != (y0 > lat) and lon < (x0 - x1) * (lat - y1) / (y0 - y1) + x1:
            inside = not inside
        x0, y0 = x1, y1
    return inside


def point_in_geometry(lat: float, lon: float, geometry: Geometry) -> bool:
    """True if the point is inside a GeoJSON Polygon/MultiPolygon and not in one of its holes."""
    if not _finite(lat, lon):
        return False
    for rings in _polygons(geometry):
        if not rings or not point_in_ring(lat, lon, rings[0]):
            continue
        if not any(point_in_ring(lat, lon, hole) for hole in rings[1:]):
            return True
    return False


def bbox_of(geometry: Geometry) -> BBox:
    """The bounding box of a geometry's outer rings (holes lie inside them)."""
    lons: list[float] = []
    lats: list[float] = []
    for rings in _polygons(geometry):
        if rings:
            lons.extend(p[0] for p in rings[0])
            lats.extend(p[1] for p in rings[0])
    if not lons:
        raise ValueError("empty geometry")
    return BBox(min(lats), max(lats), min(lons), max(lons))


def _ring_area_centroid(ring: Ring, lat0: float) -> tuple[float, float, float]:
    """Signed area and centroid of a ring in a local plane (lon scaled by cos(lat0))."""
    k = math.cos(math.radians(lat0))
    area2 = cx = cy = 0.0
    pts = list(ring)
    if pts[0] != pts[-1]:
        pts.append(pts[0])
    for (xa, ya), (xb, yb) in zip(
        ((p[0] * k, p[1]) for p in pts[:-1]), ((p[0] * k, p[1]) for p in pts[1:]), strict=True
    ):
        cross = xa * yb - xb * ya
        area2 += cross
        cx += (xa + xb) * cross
        cy += (ya + yb) * cross
    if area2 == 0:
        return 0.0, 0.0, 0.0
    return area2 / 2, cx / (3 * area2) / k, cy / (3 * area2)


def centroid_of(geometry: Geometry) -> tuple[float, float]:
    """Area-weighted centroid (lat, lon) of a polygon or multipolygon, holes subtracted.

    For an odd shape the centroid can fall outside it; callers wanting a point inside (a map
    label) should check with point_in_geometry.
    """
    box = bbox_of(geometry)
    lat0 = (box.min_lat + box.max_lat) / 2
    total = sx = sy = 0.0
    for rings in _polygons(geometry):
        for i, ring in enumerate(rings):
            if len(ring) < 3:
                continue
            area, x, y = _ring_area_centroid(ring, lat0)
            # Outer rings add area, holes take it away, whatever their winding order.
            weight = abs(area) if i == 0 else -abs(area)
            total += weight
            sx += weight * x
            sy += weight * y
    if total <= 0:
        return (box.min_lat + box.max_lat) / 2, (box.min_lon + box.max_lon) / 2
    return sy / total, sx / total


def in_force_area(lat: float, lon: float) -> bool:
    """Is the point inside the force's area box (settings.FORCE_AREA_BOUNDS)?"""
    if not _finite(lat, lon):
        return False
    b = settings.FORCE_AREA_BOUNDS
    return b["min_lat"] <= lat <= b["max_lat"] and b["min_lon"] <= lon <= b["max_lon"]


def borough_at(lat: float, lon: float) -> Borough | None:
    """The borough containing the point, or None (outside the MPS, e.g. the City of London).

    Boxes overlap, so the SQL box filter leaves a handful of candidates; the polygon test decides.
    On a shared border the first by name wins, so the answer is stable.
    """
    if not _finite(lat, lon):
        return None
    candidates = Borough.objects.filter(
        min_lat__lte=lat, max_lat__gte=lat, min_lon__lte=lon, max_lon__gte=lon
    ).select_related("bcu")
    for borough in candidates:
        if point_in_geometry(lat, lon, borough.boundary):
            return borough
    return None


def bcu_at(lat: float, lon: float) -> BCU | None:
    """The BCU whose borough contains the point, or None: `borough_at(...).bcu`, in one query.

    Every incident created asks this. It is one fixed statement: building the ORM's query (a
    box filter and a join) took 1.7 ms of CPU against 0.35 ms for the same rows through `raw()`
    (stop 22, docs/benchmarks.md), and on PostgreSQL it is prepared on the server and read
    without `raw()` (stop 43). There the boundaries come from this process's store, by each
    candidate's row version (below), not from the statement.
    """
    if not _finite(lat, lon):
        return None
    rows = _BCU_AT_VERSIONED if connection.vendor == "postgresql" else _BCU_AT
    for bcu in rows.instances([lat, lat, lon, lon]):
        if point_in_geometry(lat, lon, _boundary_of(bcu)):
            return bcu
    return None


# A real borough's boundary is tens of kilobytes of JSON (London's 32 are 1.1 MB together).
# Reading and parsing the candidates' boundaries was nearly all of bcu_at's time with them (CPU
# p50 2.0-2.7 ms against 0.14 ms for the polygon test; stop 30, docs/benchmarks.md), so each
# process keeps the parsed boundaries by borough and row version. PostgreSQL's `xmin` is new
# at every update of the row, so an imported boundary is a new key, seen by the next lookup in
# every process, with no TTL. One case the version cannot tell: a row created and changed in
# the same transaction keeps its `xmin`, so a save in this process also forgets them all
# (`boundaries_forget`, connected in CadConfig.ready); a bulk `update()` sends no signal.
_boundaries: Kept[Geometry] = Kept(lambda: math.inf, most=256)
_NO_BOUNDARY: Geometry = {"type": "Polygon", "coordinates": []}


def boundaries_forget(**_signal: object) -> None:
    _boundaries.forget()


def _boundary_of(row: BCU) -> Geometry:
    """The boundary of the borough in `row` (a row of _BCU_AT or _BCU_AT_VERSIONED)."""
    version = row.borough_version  # type: ignore[attr-defined]  # columns of the statement
    if version is None:
        boundary = row.borough_boundary  # type: ignore[attr-defined]
        # A JSON column read raw is text (Django's JSONField decodes it when it reads).
        return json.loads(boundary) if isinstance(boundary, str) else boundary
    pk = row.borough_id  # type: ignore[attr-defined]

    def read() -> Geometry:
        # Gone since the statement (deleted in between): contains nothing.
        found = Borough.objects.filter(pk=pk).values_list("boundary", flat=True).first()
        return found or _NO_BOUNDARY

    return _boundaries.get((pk, version), read)


def _bcu_at_rows(boundary: str, version: str) -> PreparedRows[BCU]:
    """borough_at's candidates and order (Borough's Meta.ordering, then id), each as its BCU
    with the borough's id and the given SQL for its boundary and its row version."""
    return PreparedRows(
        BCU,
        "b.min_lat <= %s AND b.max_lat >= %s AND b.min_lon <= %s AND b.max_lon >= %s "
        "ORDER BY b.name, b.id",
        source=f"{Borough._meta.db_table} b JOIN {BCU._meta.db_table} c ON c.id = b.bcu_id",
        alias="c",
        extra={"borough_id": "b.id", "borough_boundary": boundary, "borough_version": version},
    )


_BCU_AT = _bcu_at_rows("b.boundary", "NULL")  # SQLite (through raw()): no row versions
_BCU_AT_VERSIONED = _bcu_at_rows("NULL", "b.xmin::text")
