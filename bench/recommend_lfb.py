"""Recommendation vs reality on London Fire Brigade data (2023 incident sample).

The 102 LFB stations (../shared/data/lfb_stations_callsigns_latlon.csv, six positions put right:
POSITION_FIXES) become units parked at their stations; every incident of the 10,000-row 2023
sample that records the station whose pump arrived first is replayed through the engine's
ranking (resources.recommend.engine.rank) with the default router. We print how often our top
recommendation is that station, where it ranks, and the straight-line-nearest baseline beside it.

Incident positions come from the British National Grid columns (Easting_m/Northing_m, else the
50 m rounded ones), converted to WGS84 by cad/geo/bng.py: inverse transverse Mercator on the
Airy 1830 ellipsoid, then the OSGB36→WGS84 7-parameter Helmert transformation (Ordnance
Survey, "A guide to coordinate systems in Great Britain", 2020; Helmert accurate to ~5 m, no
OSTN15 grid). The conversion is checked against the rows that carry LFB's own Latitude/Longitude.

Calibration (global constants only): the estimate router's mobilisation time and effective
straight-line speed are fitted to the attendance times of half the incidents and reported on
the other half. They change ETAs, not the order: for units of one type the estimate is a
monotone function of distance, so its ranking is the straight-line ranking.

    .venv/bin/python bench/recommend_lfb.py [--small]
"""

import argparse
import csv
import os
import statistics
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cad.settings")
# Run as a script, measure as production runs: no log of every query. Not when a test imports
# the module: its os.environ would reach every server a later test starts.
if __name__ == "__main__":
    os.environ.setdefault("DEBUG", "0")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

from cad.geo.bng import bng_to_wgs84  # noqa: E402
from resources.recommend.engine import Candidate, Target, rank  # noqa: E402
from resources.recommend.geo import haversine_m  # noqa: E402
from resources.recommend.routers import EstimateRouter, Origin  # noqa: E402

DATA = Path(settings.BASE_DIR).parent / "shared" / "data"

# --- the data ---------------------------------------------------------------------------------
# Typos in the stations file (its README lists them), mapped to the incident file's spelling.
NAME_FIXES = {"west hampstad": "west hampstead", "mitchem": "mitcham"}
# Six stations the stations file places away from its own address for each: copying slips
# (Lambeth has Brixton's latitude, Twickenham Richmond's, Wandsworth nearly Tooting's; Lambeth
# River, "opposite 8 Albert Embankment", lies at Westminster; Battersea 1.3 km west of Este Road;
# Mitcham 1.3 km off, as the data's README says). These positions are from a second source the
# README names, ShitianZhang22/london-fire-station-information, LFB_station_information.csv
# (commit 38caa85, MIT licence), where each lies at its address; it and the stations file agree
# within 200 m on the other 97. A wrong station position moves "nearest" for every incident
# around it: with these six put right, the straight-line nearest station is the first to arrive
# in 70.3 % of the test months' incidents instead of 67.4 % (docs/benchmarks.md, stop 38).
POSITION_FIXES = {
    "lambeth": (51.4928125, -0.1212761),
    "lambeth river": (51.493069, -0.1222462),
    "twickenham": (51.4351607, -0.3475775),
    "wandsworth": (51.4563832, -0.2014006),
    "battersea": (51.4671147, -0.1692937),
    "mitcham": (51.3972598, -0.1728234),
}


def norm(name: str) -> str:
    key = " ".join(name.strip().lower().split())
    return NAME_FIXES.get(key, key)


def load_stations() -> list[Candidate]:
    seen: dict[str, Candidate] = {}
    with open(DATA / "lfb_stations_callsigns_latlon.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            key = norm(row["stat"])
            if key in seen:
                continue  # the file lists one station twice
            lat, lon = POSITION_FIXES.get(key, (float(row["lat"]), float(row["long"])))
            seen[key] = Candidate(
                id=len(seen) + 1, callsign=key, type_code="PUMP", bcu=row["borough"],
                lat=lat, lon=lon, position_at=None,
                urban_speed_kmh=30.0, blue_light_speed_kmh=45.0, type_name="pump",
            )  # fmt: skip
    return list(seen.values())


def _float(value: str) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def load_incidents(limit: int | None) -> tuple[list[dict], list[float]]:
    rows, errors = [], []
    with open(DATA / "lfb_incidents_2023_sample10k.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            e = _float(row["Easting_m"]) or _float(row["Easting_rounded"])
            n = _float(row["Northing_m"]) or _float(row["Northing_rounded"])
            if e is None or n is None:
                continue
            lat, lon = bng_to_wgs84(e, n)
            ref_lat, ref_lon = _float(row["Latitude"]), _float(row["Longitude"])
            if ref_lat and ref_lon and _float(row["Easting_m"]):
                errors.append(haversine_m(lat, lon, ref_lat, ref_lon))
            rows.append(
                {
                    "lat": lat,
                    "lon": lon,
                    "first": norm(row["FirstPumpArriving_DeployedFromStation"] or ""),
                    "ground": norm(row["IncidentStationGround"] or ""),
                    "attendance_s": _float(row["FirstPumpArriving_AttendanceTime"]),
                    # For the time split and the hour (bench/recommend_lfb_learned.py).
                    "month": int(row["DateOfCall"][5:7]),
                    "hour": int(row["HourOfCall"]),
                    # For repeat visits: when, and the 50 m square of the grid (the published
                    # precision of a dwelling's position).
                    "called": f"{row['DateOfCall'][:10]} {row['TimeOfCall']}",
                    "square": (round(e / 50), round(n / 50)),
                }
            )
            if limit and len(rows) >= limit:
                break
    return rows, errors


def fit_line(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least squares y = a + b·x."""
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )
    return my - b * mx, b


def origin_of(c: Candidate) -> Origin:
    return Origin(c.lat, c.lon, c.urban_speed_kmh, c.blue_light_speed_kmh)


def pct(n: int, d: int) -> str:
    return f"{100 * n / d:.1f} %" if d else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", action="store_true", help="first 1,000 incidents only")
    args = parser.parse_args()
    if not (DATA / "lfb_incidents_2023_sample10k.csv").exists():
        print(f"skipped: {DATA} has no LFB data")
        return
    stations = load_stations()
    by_name = {c.callsign: c for c in stations}
    incidents, errors = load_incidents(1000 if args.small else None)
    print(f"stations: {len(stations)}; incidents read: {len(incidents)}")
    errors.sort()
    if errors:
        print(
            f"BNG→WGS84 check on {len(errors)} rows with LFB's own lat/lon: median "
            f"{statistics.median(errors):.1f} m, p95 {errors[int(0.95 * len(errors))]:.1f} m, "
            f"max {errors[-1]:.1f} m"
        )
    usable = [i for i in incidents if i["first"] in by_name]
    unknown = Counter(i["first"] for i in incidents if i["first"] and i["first"] not in by_name)
    print(
        f"with a first pump from a known station: {len(usable)}"
        + (f" (unmatched station names: {dict(unknown.most_common(5))})" if unknown else "")
    )

    # Calibrate the estimate router's global constants on the odd rows (attendance time =
    # call to arrival, so the intercept holds call handling and turnout).
    train = [i for k, i in enumerate(usable) if k % 2 and i["attendance_s"]]

    def dist(i):
        c = by_name[i["first"]]
        return haversine_m(c.lat, c.lon, i["lat"], i["lon"])

    a, b = fit_line([dist(i) for i in train], [i["attendance_s"] for i in train])
    detour = float(settings.__dict__.get("RECOMMEND_DETOUR_FACTOR", 1.4))
    speed_kmh = detour / b * 3.6  # b = detour / speed (s per straight-line metre)
    print(
        f"calibration on {len(train)} incidents: attendance ≈ {a:.0f} s + "
        f"{b * 1000:.1f} s per straight-line km  → with detour {detour}: "
        f"blue-light speed {speed_kmh:.1f} km/h, mobilisation {a:.0f} s"
    )

    router = EstimateRouter(detour=detour, mobilise_s=a)
    for s in stations:
        s.blue_light_speed_kmh = speed_kmh
    top = base_top = ground_top = 0
    ranks: Counter = Counter()
    abs_err = []
    for k, inc in enumerate(usable):
        target = Target(lat=inc["lat"], lon=inc["lon"], grade="I", bcu=None)
        out = rank(target, stations, router=router, limit=len(stations))
        order = [r.candidate.callsign for r in out.results]
        position = order.index(inc["first"]) + 1 if inc["first"] in order else None
        ranks[position if position is not None and position <= 5 else "6+"] += 1
        top += position == 1
        nearest = min(stations, key=lambda c: haversine_m(c.lat, c.lon, inc["lat"], inc["lon"]))
        base_top += nearest.callsign == inc["first"]
        ground_top += inc["ground"] == inc["first"]
        if not k % 2 and inc["attendance_s"]:
            home = by_name[inc["first"]]
            eta = router.travel([origin_of(home)], inc["lat"], inc["lon"], blue_lights=True)[0]
            assert eta is not None  # the home station is always routable
            abs_err.append(abs(eta.seconds - inc["attendance_s"]))
    n = len(usable)
    print(f"top recommendation = station whose pump arrived first: {top}/{n} = {pct(top, n)}")
    print(f"straight-line nearest (baseline): {base_top}/{n} = {pct(base_top, n)}")
    print(
        "where the actual station ranks: "
        + ", ".join(f"{key}: {pct(ranks[key], n)}" for key in (1, 2, 3, 4, 5, "6+"))
    )
    print(
        f"for reference only (not used: it is LFB's own answer key): the incident's station "
        f"ground sent the first pump in {pct(ground_top, n)}"
    )
    if abs_err:
        abs_err.sort()
        print(
            f"ETA of the actual station vs its real attendance time on {len(abs_err)} held-out "
            f"incidents: median error {statistics.median(abs_err):.0f} s, "
            f"p90 {abs_err[int(0.9 * len(abs_err))]:.0f} s"
        )


if __name__ == "__main__":
    main()
