"""The learned router on London Fire Brigade data (issue 22), split by time.

Trains resources.recommend.learned on the earlier months of the LFB 2023 sample (each incident
with a recorded first pump is one attendance: that pump's station → the incident, its first-pump
attendance time, the hour of the call, first = True) and tests on the later months. Prints, on
the same test incidents and in one run:

- top-1 agreement with the station whose pump actually arrived first, for the straight-line
  nearest station, LFB's own ground station (its turnout areas: reference only), and the engine's
  ranking (resources.recommend.engine.rank) with the learned router;
- median absolute error of the ETA for the station that actually went, for the straight-line
  model (mobilisation + pace fitted by least squares on the same training months) and the
  learned router.

And two figures that bound what any ranking of this data can reach (docs/benchmarks.md):

- the test incidents split by whether the first pump came from the ground station, the nearest,
  both or neither, with the best any rule choosing between ground and nearest could score;
- repeat visits: where the same station had attended the same 50 m square before, how far the
  last attendance time there is from this one (the spread no model of place can remove).

Station positions, names and the BNG → WGS84 conversion are bench/recommend_lfb.py's.

    .venv/bin/python bench/recommend_lfb_learned.py [--train-months 9]
"""

import argparse
import statistics
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from recommend_lfb import (  # noqa: E402  (sets up Django)
    DATA,
    fit_line,
    load_incidents,
    load_stations,
    pct,
)

from resources.recommend.conf import conf  # noqa: E402
from resources.recommend.engine import Target, rank  # noqa: E402
from resources.recommend.geo import haversine_m  # noqa: E402
from resources.recommend.learned import Attendance, LearnedModel, LearnedRouter, fit  # noqa: E402
from resources.recommend.routers import Origin  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train-months", type=int, default=9, help="train on Jan..this month")
    parser.add_argument("--small", action="store_true",
                        help="for `make bench`: the same run, which takes seconds")  # fmt: skip
    args = parser.parse_args()
    if not (DATA / "lfb_incidents_2023_sample10k.csv").exists():
        print(f"skipped: {DATA} has no LFB data")
        return
    stations = load_stations()
    by_name = {c.callsign: c for c in stations}
    rows = [r for r in load_incidents(None)[0] if r["first"] in by_name]
    train = [r for r in rows if r["month"] <= args.train_months and r["attendance_s"]]
    test = [r for r in rows if r["month"] > args.train_months]
    print(f"stations {len(stations)}; incidents with a first pump from a known station "
          f"{len(rows)}: train months 1-{args.train_months} ({len(train)} with an attendance "
          f"time), test months {args.train_months + 1}-12 ({len(test)})")  # fmt: skip

    def dist(r: dict, c) -> float:
        return haversine_m(c.lat, c.lon, r["lat"], r["lon"])

    a, b = fit_line(
        [dist(r, by_name[r["first"]]) for r in train], [r["attendance_s"] for r in train]
    )
    model = LearnedModel(fit(
        Attendance(by_name[r["first"]].lat, by_name[r["first"]].lon, r["lat"], r["lon"],
                   r["attendance_s"], r["hour"], True)
        for r in train
    ))  # fmt: skip
    print(f"straight line (least squares on the training months): {a:.0f} s + {b * 1000:.1f} s/km")
    near_top = ground_top = learned_top = 0
    line_err: list[float] = []
    learned_err: dict[int, float] = {}  # by id() of the test incident, for the repeat visits
    nearest_of: dict[int, str] = {}
    for r in test:
        nearest = min(stations, key=lambda c: dist(r, c))
        nearest_of[id(r)] = nearest.callsign
        near_top += nearest.callsign == r["first"]
        ground_top += r["ground"] == r["first"]
        router = LearnedRouter(model, hour=r["hour"])
        out = rank(Target(lat=r["lat"], lon=r["lon"], grade="I"), stations, router=router,
                   limit=len(stations))  # fmt: skip
        learned_top += out.results[0].candidate.callsign == r["first"]
        if r["attendance_s"]:
            home = by_name[r["first"]]
            line_err.append(abs(a + b * dist(r, home) - r["attendance_s"]))
            [leg] = router.travel([_origin(home)], r["lat"], r["lon"], blue_lights=True)
            assert leg is not None  # the learned router answers for every origin
            learned_err[id(r)] = abs(leg.seconds - r["attendance_s"])
    n = len(test)
    print(f"top-1 = the station whose pump arrived first ({n} test incidents):")
    print(f"  straight-line nearest      {pct(near_top, n)}")
    print(f"  ground station (LFB's own) {pct(ground_top, n)}   (reference, not a policy we use)")
    print(f"  learned router (engine)    {pct(learned_top, n)}   "
          f"(first-arrival bonus {conf('LEARNED_FIRST_BONUS_S')} s)")  # fmt: skip
    print(f"median absolute ETA error of the actual station ({len(line_err)} test incidents):")
    print(f"  straight line              {statistics.median(line_err):.0f} s")
    print(f"  learned router             {statistics.median(learned_err.values()):.0f} s")

    split = who_went_first(test, nearest_of)
    print("who sent the first pump, on the test incidents:")
    for key, label in SPLIT_LABELS.items():
        print(f"  {label:<38} {split[key]:>5}  {pct(split[key], n)}")
    either = split["both"] + split["ground"] + split["nearest"]
    print(f"  best any choice between ground and nearest can score: {pct(either, n)}")
    repeats = repeat_visits(rows, test)
    if repeats:
        last = [abs(r["attendance_s"] - before["attendance_s"]) for r, before in repeats]
        mine = [learned_err[id(r)] for r, _ in repeats]
        print(f"repeat visits: {len(repeats)} test incidents whose station had attended the same "
              f"50 m square before; median |this time - last time there| "
              f"{statistics.median(last):.0f} s, learned router on the same incidents "
              f"{statistics.median(mine):.0f} s")  # fmt: skip


SPLIT_LABELS = {
    "both": "ground station, also the nearest",
    "ground": "ground station, not the nearest",
    "nearest": "nearest, not the ground station",
    "other": "neither (the ground one was nearest)",
    "other_split": "neither (ground and nearest differ)",
}


def who_went_first(test: list[dict], nearest_of: dict[int, str]) -> Counter:
    """Count test incidents by where their first pump came from, against ground and nearest."""
    out: Counter = Counter()
    for r in test:
        ground, nearest = r["ground"] == r["first"], nearest_of[id(r)] == r["first"]
        if ground and nearest:
            out["both"] += 1
        elif ground or nearest:
            out["ground" if ground else "nearest"] += 1
        else:
            out["other" if r["ground"] == nearest_of[id(r)] else "other_split"] += 1
    return out


def repeat_visits(rows: list[dict], test: list[dict]) -> list[tuple[dict, dict]]:
    """Each test incident with an attendance time, paired with the latest earlier attendance by
    the same first station to the same 50 m square, where there is one."""
    last: dict[tuple, dict] = {}
    pairs = []
    testing = {id(r) for r in test}
    for r in sorted(rows, key=lambda r: r["called"]):
        if not r["attendance_s"]:
            continue
        key = (r["first"], r["square"])
        if id(r) in testing and key in last:
            pairs.append((r, last[key]))
        last[key] = r
    return pairs


def _origin(c) -> Origin:
    return Origin(c.lat, c.lon, c.urban_speed_kmh, c.blue_light_speed_kmh)


if __name__ == "__main__":
    main()
