"""Demand forecast evaluated on real data, split by time (issue 16; docs/benchmarks.md).

    .venv/bin/python bench/forecast_eval.py [--data ../shared/data]

Needs no database. Reads the two public extracts in ../shared/data (skips one that is absent):

- London Fire Brigade 2023 sample (10,000 incidents): hourly counts per BCU (the demo's
  borough → BCU map) and for all London, 2 Jan 2023 (a Monday) to 31 Dec. Rolling origins over
  the last 12 weeks: at weeks 40, 42, ..., 50 each model sees only the weeks before and
  forecasts the next 14 days.
- San Francisco fire calls, 7 to 20 April 2020 (5,292 calls): hourly calls per battalion and
  for the city; the first week trains, the second is forecast.

Mean absolute error (incidents per area-hour) of: seasonal naive (last week repeated: the
baseline), the plain hour-of-week mean, the blend, and what Beacon forecasts, the one of those
two that did better on each area's own last two training weeks (duties/figures/forecast.py).
Nothing is tuned on the test weeks: the blend's constants were set before this first ran.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cad.demo.geography import BOROUGH_BCU  # noqa: E402
from duties.figures.forecast import (  # noqa: E402
    HOURS_PER_WEEK,
    blended,
    forecast,
    hour_of_week_mean,
    mean_absolute_error,
    seasonal_naive,
)

MODELS = {
    "seasonal naive": seasonal_naive,
    "hour-of-week mean": hour_of_week_mean,
    "blended": blended,
    "chosen per area": lambda history, horizon: forecast(history, horizon)[1],
}


def borough_name(lfb: str) -> str:
    """LFB's "BARKING AND DAGENHAM" as the demo spells it, "Barking & Dagenham"."""
    name = lfb.strip().title().replace(" And ", " & ").replace(" Upon Thames", "")
    return name


def lfb_series(path: Path) -> tuple[dict[str, list[float]], date]:
    start = date(2023, 1, 2)
    hours = (date(2024, 1, 1) - start).days * 24
    series: dict[str, list[float]] = defaultdict(lambda: [0.0] * hours)
    unmapped = 0
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            day = date.fromisoformat(row["DateOfCall"])
            t = (day - start).days * 24 + int(row["HourOfCall"])
            if not 0 <= t < hours:
                continue
            series["London"][t] += 1
            bcu = BOROUGH_BCU.get(borough_name(row["IncGeo_BoroughName"]))
            if bcu is None:
                unmapped += 1
                continue
            series[bcu][t] += 1
    if unmapped:
        print(
            f"  (LFB: {unmapped} incidents in no BCU (the City of London has its own force): "
            "in the London total only)"
        )
    return dict(series), start


def sf_series(path: Path) -> dict[str, list[float]]:
    start = datetime(2020, 4, 7)
    hours = 14 * 24
    seen: set[str] = set()
    series: dict[str, list[float]] = defaultdict(lambda: [0.0] * hours)
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["Call Number"] in seen:
                continue  # one row per unit sent: count the call once
            seen.add(row["Call Number"])
            received = datetime.strptime(row["Received DtTm"], "%m/%d/%Y %I:%M:%S %p")
            t = int((received - start) / timedelta(hours=1))
            if 0 <= t < hours:
                series["city"][t] += 1
                series[row["Battalion"] or "none"][t] += 1
    return dict(series)


def evaluate(series: dict[str, list[float]], origins: list[int], horizon: int) -> dict:
    """Per model: MAE over the BCU-level series together, and over the whole-area series."""
    result = {}
    for name, model in MODELS.items():
        errors: dict[str, list[tuple[float, int]]] = {"areas": [], "whole": []}
        for area, counts in series.items():
            whole = area in ("London", "city")
            for origin in origins:
                actual = counts[origin : origin + horizon]
                predicted = model(counts[:origin], len(actual))
                errors["whole" if whole else "areas"].append(
                    (mean_absolute_error(actual, predicted), len(actual))
                )
        result[name] = {
            key: sum(e * n for e, n in rows) / sum(n for _, n in rows)
            for key, rows in errors.items()
        }
    return result


def report(title: str, result: dict, areas: str, whole: str) -> None:
    print(title)
    print(f"  {'model':<20} {'MAE per ' + areas + '-hour':>24} {'MAE ' + whole + '-hour':>20}")
    for name, figures in result.items():
        print(f"  {name:<20} {figures['areas']:>24.3f} {figures['whole']:>20.3f}")
    base, best = result["seasonal naive"], result["chosen per area"]
    for key, label in (("areas", areas), ("whole", whole)):
        gain = 100 * (base[key] - best[key]) / base[key]
        print(
            f"  Beacon's forecast (chosen per area) vs seasonal naive per {label}-hour: "
            f"{gain:.1f} % lower MAE"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--small", action="store_true",
                        help="for `make bench`: the same run, which takes seconds")  # fmt: skip
    args = parser.parse_args()
    lfb = args.data / "lfb_incidents_2023_sample10k.csv"
    sf = args.data / "sffd_calls_for_service_2020-04-07_to_2020-04-20.csv"
    if lfb.exists():
        series, _ = lfb_series(lfb)
        origins = [w * HOURS_PER_WEEK for w in range(40, 51, 2)]
        report("London Fire Brigade 2023 sample: train on weeks before, forecast 14 days, "
               "6 origins (weeks 40-50)", evaluate(series, origins, 14 * 24), "BCU",
               "London")  # fmt: skip
    else:
        print(f"skipped: {lfb} not found")
    if sf.exists():
        report(
            "San Francisco 7-20 Apr 2020: train on week 1, forecast week 2",
            evaluate(sf_series(sf), [HOURS_PER_WEEK], HOURS_PER_WEEK),
            "battalion",
            "city",
        )
    else:
        print(f"skipped: {sf} not found")
    return 0


if __name__ == "__main__":
    sys.exit(main())
