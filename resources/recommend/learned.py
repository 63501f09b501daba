"""Travel times learned from the force's own attendances (docs/decisions/0021-learned-router.md).

An attendance is one unit's trip: where it was when it was assigned, the incident, how long from
assignment to at scene, the hour, and whether it was the first unit there. From many, `fit`
learns, each step on what the steps before it left unexplained:

1. seconds ≈ mobilise + pace × straight-line metres (least squares over all attendances);
2. per origin area (a grid cell of the unit's position; a station, for units that wait at one):
   the median residual, shrunk toward nothing by its count, so three attendances say little;
3. per hour of the day (London time): the same;
4. per pair, at prediction: past attendances from the same origin area that ended within
   LOCAL_RADIUS_M of the incident, their median residual, shrunk. This is what a straight line
   cannot see: a river with few bridges, a one-way system, a motorway;
5. a vote: of the VOTE_K past incidents nearest the new one, the share where a unit from this
   origin area arrived first. The engine takes a little off the score of a unit that usually
   gets there first (what the force really does: ground stations, local knowledge); the ETA it
   shows stays the travel-time estimate.

Medians, not means: the error that matters is the median absolute one, and a few attendances
that waited behind another job would drag a mean. Pure Python: the sums are small and numpy is
not a dependency of the project.

The parameters are one JSON document (resources.TravelModel.parameters); `LearnedModel` loads
it once and answers in microseconds per unit.
"""

from bisect import insort
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from math import cos, floor, radians, sqrt
from statistics import fmean, median

from resources.recommend.routers import Leg, Origin, speed_kmh

FORMAT = 1
M_PER_DEG = 111_195.0
# Origin areas: fine enough that two stations rarely share one (none of the LFB's 103 do),
# coarse enough that units sent from near the same corner pool their attendances.
ORIGIN_CELL_M = 400.0
# Shrinkage: a group's correction is its median residual × n / (n + SHRINK_N).
SHRINK_N = 8.0
# Pair corrections: past attendances from the same origin area ending this close to the incident.
LOCAL_RADIUS_M = 1200.0
LOCAL_SHRINK_N = 4.0
LOCAL_K = 20  # the nearest this many of them: more adds far ones, fewer adds noise
# The first-arrival vote: this many nearest past incidents, no further away than VOTE_RADIUS_M.
VOTE_K = 8
VOTE_RADIUS_M = 2000.0


@dataclass(frozen=True)
class Attendance:
    origin_lat: float
    origin_lon: float
    dest_lat: float
    dest_lon: float
    seconds: float
    hour: int  # 0..23, local time at assignment
    first: bool  # the first unit at scene of its incident


class Projection:
    """Equirectangular metres around a centre: exact enough for a city and fast."""

    def __init__(self, lat0: float, lon0: float):
        self.lat0, self.lon0 = lat0, lon0
        self.kx = M_PER_DEG * cos(radians(lat0))

    def xy(self, lat: float, lon: float) -> tuple[float, float]:
        return (lon - self.lon0) * self.kx, (lat - self.lat0) * M_PER_DEG


def _cell(x: float, y: float, size: float) -> tuple[int, int]:
    return floor(x / size), floor(y / size)


def _key(x: float, y: float) -> str:
    ix, iy = _cell(x, y, ORIGIN_CELL_M)
    return f"{ix},{iy}"


def _shrunk(values: list[float], n0: float) -> float:
    return median(values) * len(values) / (len(values) + n0) if values else 0.0


def fit(attendances: Iterable[Attendance]) -> dict:
    """The parameters learned from these attendances (see the module's docstring)."""
    rows = [a for a in attendances if a.seconds > 0]
    if len(rows) < 2:
        raise ValueError("at least two attendances are needed")
    proj = Projection(
        fmean(a.dest_lat for a in rows), fmean(a.dest_lon for a in rows)
    )  # fmt: skip
    trips = []
    for a in rows:
        ox, oy = proj.xy(a.origin_lat, a.origin_lon)
        dx, dy = proj.xy(a.dest_lat, a.dest_lon)
        trips.append((ox, oy, dx, dy, sqrt((dx - ox) ** 2 + (dy - oy) ** 2), a))
    # 1. The straight line: least squares seconds = mobilise + pace × metres.
    ds = [t[4] for t in trips]
    ts = [t[5].seconds for t in trips]
    md, mt = fmean(ds), fmean(ts)
    var = sum((d - md) ** 2 for d in ds)
    pace = sum((d - md) * (t - mt) for d, t in zip(ds, ts, strict=True)) / var if var else 0.0
    pace = max(pace, 0.0)  # never "further is faster", whatever a small sample says
    mobilise = mt - pace * md
    residual = [t - (mobilise + pace * d) for d, t in zip(ds, ts, strict=True)]
    # 2. Per origin area.
    keys = [_key(t[0], t[1]) for t in trips]
    by_origin: dict[str, list[float]] = defaultdict(list)
    for k, r in zip(keys, residual, strict=True):
        by_origin[k].append(r)
    origins = {k: [round(_shrunk(v, SHRINK_N), 1), len(v)] for k, v in by_origin.items()}
    residual = [r - origins[k][0] for k, r in zip(keys, residual, strict=True)]
    # 3. Per hour of the day.
    by_hour: dict[int, list[float]] = defaultdict(list)
    for t, r in zip(trips, residual, strict=True):
        by_hour[t[5].hour % 24].append(r)
    hours = [round(_shrunk(by_hour.get(h, []), SHRINK_N), 1) for h in range(24)]
    residual = [r - hours[t[5].hour % 24] for t, r in zip(trips, residual, strict=True)]
    # 4 and 5 need the trips themselves: origin key index, end point, what is left, first.
    names = sorted(by_origin)
    index = {k: i for i, k in enumerate(names)}
    points = [
        [round(t[2]), round(t[3]), index[k], round(r), 1 if t[5].first else 0]
        for t, k, r in zip(trips, keys, residual, strict=True)
    ]
    return {
        "format": FORMAT,
        "lat0": proj.lat0,
        "lon0": proj.lon0,
        "mobilise_s": round(mobilise, 1),
        "pace_s_per_km": round(pace * 1000, 2),
        "origins": origins,
        "hours": hours,
        "origin_keys": names,
        "points": points,
        "attendances": len(rows),
    }


@dataclass(frozen=True)
class Prediction:
    seconds: float
    attendances: int  # past attendances from this origin area
    first_share: float  # of the nearest past incidents, the share this origin area reached first


class LearnedModel:
    """Predictions from fitted parameters. Build once per version; read-only afterwards."""

    def __init__(self, parameters: dict):
        if parameters.get("format") != FORMAT:
            raise ValueError(f"unknown travel model format {parameters.get('format')!r}")
        self.proj = Projection(parameters["lat0"], parameters["lon0"])
        self.mobilise = float(parameters["mobilise_s"])
        self.pace = float(parameters["pace_s_per_km"]) / 1000
        self.origins: dict[str, tuple[float, int]] = {
            k: (float(v[0]), int(v[1])) for k, v in parameters["origins"].items()
        }
        self.hours = [float(h) for h in parameters["hours"]]
        keys = parameters["origin_keys"]
        # Grids keyed by cell, so a lookup reads a 3 × 3 block instead of every point.
        self.local: dict[tuple[str, int, int], list[tuple[float, float, float]]] = defaultdict(list)
        self.firsts: dict[tuple[int, int], list[tuple[float, float, str]]] = defaultdict(list)
        for x, y, k, r, first in parameters["points"]:
            cx, cy = _cell(x, y, LOCAL_RADIUS_M)
            self.local[(keys[k], cx, cy)].append((x, y, r))
            if first:
                self.firsts[_cell(x, y, VOTE_RADIUS_M)].append((x, y, keys[k]))
        self.attendances = int(parameters.get("attendances", len(parameters["points"])))

    def vote(self, x: float, y: float) -> dict[str, float]:
        """Origin areas of the first units at the VOTE_K nearest past incidents, as shares."""
        cx, cy = _cell(x, y, VOTE_RADIUS_M)
        near: list[tuple[float, str]] = []
        limit = VOTE_RADIUS_M**2
        for i in (-1, 0, 1):
            for j in (-1, 0, 1):
                for px, py, key in self.firsts.get((cx + i, cy + j), ()):
                    d2 = (px - x) ** 2 + (py - y) ** 2
                    if d2 <= limit and (len(near) < VOTE_K or d2 < near[-1][0]):
                        insort(near, (d2, key))
                        del near[VOTE_K:]
        counts = Counter(key for _, key in near)
        return {key: n / len(near) for key, n in counts.items()}

    def predict_many(
        self, origins: list[tuple[float, float]], dest_lat: float, dest_lon: float, hour: int
    ) -> list[Prediction]:
        dx, dy = self.proj.xy(dest_lat, dest_lon)
        shares = self.vote(dx, dy)
        cx, cy = _cell(dx, dy, LOCAL_RADIUS_M)
        limit = LOCAL_RADIUS_M**2
        hour_s = self.hours[hour % 24]
        out = []
        for lat, lon in origins:
            ox, oy = self.proj.xy(lat, lon)
            key = _key(ox, oy)
            offset, n = self.origins.get(key, (0.0, 0))
            seconds = self.mobilise + self.pace * sqrt((dx - ox) ** 2 + (dy - oy) ** 2)
            seconds += offset + hour_s
            if n:
                near = sorted(
                    (d2, r)
                    for i in (-1, 0, 1)
                    for j in (-1, 0, 1)
                    for px, py, r in self.local.get((key, cx + i, cy + j), ())
                    if (d2 := (px - dx) ** 2 + (py - dy) ** 2) <= limit
                )[:LOCAL_K]
                seconds += _shrunk([r for _, r in near], LOCAL_SHRINK_N)
            out.append(Prediction(max(seconds, 0.0), n, shares.get(key, 0.0)))
        return out


def minutes_phrase(seconds: float) -> str:
    return f"{max(1, round(seconds / 60))} min"


class LearnedRouter:
    """A Router over a LearnedModel: ETAs learned from attendances, and the first-arrival vote.

    `version` names the stored model the answers came from; the engine shows it with the counts.
    """

    name = "learned"
    by_road = False

    def __init__(self, model: LearnedModel, *, version: int = 0, hour: int | None = None):
        self.model = model
        self.version = version
        self.hour = hour

    def travel(
        self, origins: list[Origin], dest_lat: float, dest_lon: float, *, blue_lights: bool
    ) -> list[Leg | None]:
        hour = 12 if self.hour is None else self.hour
        predictions = self.model.predict_many(
            [(o.lat, o.lon) for o in origins], dest_lat, dest_lon, hour
        )
        legs: list[Leg | None] = []
        for o, p in zip(origins, predictions, strict=True):
            seconds = p.seconds
            if not blue_lights:
                # Learned from blue-light journeys: without them, slower by the type's speeds.
                seconds *= speed_kmh(o, blue_lights=True) / speed_kmh(o, blue_lights=False)
            how = "" if blue_lights else " without blue lights"
            plural = "s" if p.attendances != 1 else ""
            note = (
                f"usually {minutes_phrase(seconds)} from here at this hour{how}, "
                f"from {p.attendances} past attendance{plural}"
                if p.attendances
                else f"{minutes_phrase(seconds)}{how} (learned from "
                f"{self.model.attendances} attendances, none from here)"
            )
            legs.append(Leg(seconds=seconds, road_m=None, note=note, first_share=p.first_share))
        return legs
