"""Coverage: per BCU, how many units are available and how long the worst-placed point waits.

For every BCU, points are sampled over its boroughs (a grid inside each boundary plus the
boundary's own vertices, where the extremes lie). Each point's time is the fastest estimated
blue-light time from any available unit, from any BCU (PCD 72); the BCU's figure is its worst
point. The estimate router's constants apply (docs/decisions/0005-recommendation.md): this is
a screen for gaps, not a promise, and it needs no road server however many points it has.

A second check names every open I-grade incident that no available unit could reach within the
15-minute target.
"""

from collections import defaultdict
from dataclasses import dataclass
from math import cos, radians

from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from cad.kept import Kept
from cad.models import BCU, Borough
from incidents.models import Incident, IncidentStatus
from resources.models import Unit, UnitStatus
from resources.recommend.conf import conf
from resources.recommend.geo import haversine_m, point_in_geometry, polygons_of
from resources.recommend.routers import Origin, speed_kmh

CELL_DEG = 0.01  # bucket size for the nearest-unit search (~1.1 km north-south)
MAX_VERTICES = 200  # per polygon: boundaries have thousands; the extremes survive thinning
# Boundaries change a few times a decade; the key names the boroughs, so one added or removed
# is seen at once. Only the newest key is worth keeping.
POINTS_TTL_S = 600
_points: "Kept[dict[str, list[tuple[float, float]]]]" = Kept(lambda: POINTS_TTL_S, most=1)


@dataclass
class FastUnit:
    lat: float
    lon: float
    speed_ms: float  # blue-light speed


def sample_points(borough: Borough, grid_m: float) -> list[tuple[float, float]]:
    """Grid points inside the boundary, plus thinned boundary vertices."""
    points: list[tuple[float, float]] = []
    for rings in polygons_of(borough.boundary):
        outer = rings[0] if rings else []
        step = max(1, len(outer) // MAX_VERTICES)
        points.extend((lat, lon) for lon, lat in outer[::step])
    dlat = grid_m / 111_195.0
    dlon = grid_m / (111_195.0 * cos(radians((borough.min_lat + borough.max_lat) / 2)))
    lat = borough.min_lat + dlat / 2
    while lat < borough.max_lat:
        lon = borough.min_lon + dlon / 2
        while lon < borough.max_lon:
            if point_in_geometry(lat, lon, borough.boundary):
                points.append((lat, lon))
            lon += dlon
        lat += dlat
    return points


def points_by_bcu(grid_m: float) -> dict[str, list[tuple[float, float]]]:
    """Sample points per BCU code, cached: boundaries change a few times a decade."""
    key = (grid_m, tuple(Borough.objects.order_by("id").values_list("id", flat=True)))

    def read() -> dict[str, list[tuple[float, float]]]:
        result: dict[str, list] = defaultdict(list)
        for borough in Borough.objects.select_related("bcu"):
            result[borough.bcu.code].extend(sample_points(borough, grid_m))
        return dict(result)

    return _points.get(key, read)


class NearestIndex:
    """Buckets available units on a lat/lon grid to find the fastest to a point quickly."""

    def __init__(self, units: list[FastUnit], detour: float, mobilise_s: float):
        self.detour, self.mobilise_s = detour, mobilise_s
        self.cells: dict[tuple[int, int], list[FastUnit]] = defaultdict(list)
        for u in units:
            self.cells[self._cell(u.lat, u.lon)].append(u)
        self.max_speed = max((u.speed_ms for u in units), default=1.0)
        self.empty = not units
        # ~110 km each way: further than any two points of a force area can be apart.
        self.max_ring = 100

    @staticmethod
    def _cell(lat: float, lon: float) -> tuple[int, int]:
        return int(lat // CELL_DEG), int(lon // (CELL_DEG * 1.6))

    def fastest(self, lat: float, lon: float) -> float | None:
        if self.empty:
            return None
        ci, cj = self._cell(lat, lon)
        best: float | None = None
        ring = 0
        ring_m = CELL_DEG * 111_195.0  # a ring further out is at least this much further
        while ring <= self.max_ring:
            if best is not None:
                lower = self.mobilise_s + max(ring - 1, 0) * ring_m * self.detour / self.max_speed
                if lower > best:
                    break
            for i in range(ci - ring, ci + ring + 1):
                for j in range(cj - ring, cj + ring + 1):
                    if max(abs(i - ci), abs(j - cj)) != ring:
                        continue
                    for u in self.cells.get((i, j), ()):
                        t = self.mobilise_s + haversine_m(lat, lon, u.lat, u.lon) * self.detour / (
                            u.speed_ms
                        )
                        if best is None or t < best:
                            best = t
            ring += 1
        return best


def available_units() -> list[tuple[str, FastUnit]]:
    rows = (
        Unit.objects.filter(active=True, emergency=False, status=UnitStatus.AVAILABLE)
        .annotate(
            plat=Coalesce(F("lat"), F("station__lat")), plon=Coalesce(F("lon"), F("station__lon"))
        )
        .values_list(
            "bcu__code", "plat", "plon", "type__urban_speed_kmh", "type__blue_light_speed_kmh"
        )
    )
    return [
        (bcu, FastUnit(lat, lon, speed_kmh(Origin(lat, lon, urban, blue), blue_lights=True) / 3.6))
        for bcu, lat, lon, urban, blue in rows
    ]


def coverage_report(*, bcu: str | None = None) -> dict:
    """Per BCU: available units, the worst-placed point and its time; I-grade gaps."""
    target_s = float(conf("I_GRADE_TARGET_S"))
    units = available_units()
    index = NearestIndex(
        [u for _, u in units], float(conf("DETOUR_FACTOR")), float(conf("MOBILISE_S"))
    )
    counts: dict[str, int] = defaultdict(int)
    for code, _ in units:
        counts[code] += 1
    points = points_by_bcu(float(conf("COVERAGE_GRID_M")))
    rows = []
    bcus = BCU.objects.order_by("code")
    if bcu:
        bcus = bcus.filter(code=bcu)
    for b in bcus:
        worst_t, worst_p = None, None
        for lat, lon in points.get(b.code, []):
            t = index.fastest(lat, lon)
            if t is None:
                worst_t, worst_p = None, (lat, lon)
                break
            if worst_t is None or t > worst_t:
                worst_t, worst_p = t, (lat, lon)
        warning = None
        if worst_p is not None and (worst_t is None or worst_t > target_s):
            minutes = round(target_s / 60)
            warning = f"parts of {b.code} are more than {minutes} min from any available unit"
        rows.append(
            {
                "bcu": b.code,
                "name": b.name,
                "available_units": counts.get(b.code, 0),
                "furthest_point": {"lat": worst_p[0], "lon": worst_p[1]} if worst_p else None,
                "eta_to_furthest_seconds": round(worst_t) if worst_t is not None else None,
                "warning": warning,
            }
        )
    incidents = Incident.objects.filter(status=IncidentStatus.OPEN, grade="I")
    if bcu:
        incidents = incidents.filter(bcu__code=bcu)
    warnings = []
    for pk, ref, lat, lon in incidents.values_list("id", "reference", "lat", "lon"):
        t = index.fastest(lat, lon)
        if t is None or t > target_s:
            fastest = f"fastest about {round(t / 60)} min" if t is not None else "no unit available"
            warnings.append(
                {
                    "incident": pk,
                    "reference": ref,
                    "eta_seconds": round(t) if t is not None else None,
                    "text": f"{ref}: no available unit can reach it within "
                    f"{round(target_s / 60)} min ({fastest})",
                }
            )
    return {"computed_at": timezone.now().isoformat(), "bcus": rows, "i_grade_warnings": warnings}
