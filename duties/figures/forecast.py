"""Demand forecast: incidents per hour for the next 14 days, from an area's own hourly history.

Models on a series of hourly counts that starts on a Monday at 00:00 (local time):

- `seasonal_naive`: each hour of the week repeats what it was in the last week seen. The
  baseline the issue asks us to beat.
- `hour_of_week_mean`: each hour of the week's mean over all the weeks seen (the seasonal
  hour-of-week model).
- `blended`: the mean of each hour of the week over the weeks seen,
  shrunk towards the mean of the same hour of the day over all days (a week holds only one
  Tuesday 03:00, but seven 03:00s), and scaled to the level of the last four weeks. With few
  weeks the hour-of-day profile dominates; with many, each hour of the week speaks for itself.
- `forecast` (what Beacon uses): per area, whichever of the two did better on the area's own
  last two weeks. docs/benchmarks.md "Demand forecast" has the figures on held-out real data.

Pure functions over lists, so the evaluation on real data (bench/forecast_eval.py) and the
roster's forecast (selectors below) run the very same code.
"""

from __future__ import annotations

HOURS_PER_WEEK = 168
HORIZON_HOURS = 14 * 24
SHRINK_WEEKS = 4.0  # how many weeks of evidence an hour of the week needs to weigh as much as
#                     the pooled hour-of-day mean (set a priori; docs/benchmarks.md)
LEVEL_WEEKS = 4


def seasonal_naive(history: list[float], horizon: int = HORIZON_HOURS) -> list[float]:
    """Last week, repeated. `history` must hold at least one week."""
    if len(history) < HOURS_PER_WEEK:
        raise ValueError("seasonal naive needs a week of history")
    start = len(history) - HOURS_PER_WEEK
    return [history[start + (k % HOURS_PER_WEEK)] for k in range(horizon)]


def blended(
    history: list[float],
    horizon: int = HORIZON_HOURS,
    *,
    shrink_weeks: float = SHRINK_WEEKS,
    level_weeks: int = LEVEL_WEEKS,
) -> list[float]:
    """Hour-of-week profile shrunk to the hour-of-day profile, at the recent level."""
    n = len(history)
    if n == 0:
        return [0.0] * horizon
    week_sum = [0.0] * HOURS_PER_WEEK
    week_seen = [0] * HOURS_PER_WEEK
    day_sum = [0.0] * 24
    day_seen = [0] * 24
    for t, count in enumerate(history):
        week_sum[t % HOURS_PER_WEEK] += count
        week_seen[t % HOURS_PER_WEEK] += 1
        day_sum[t % 24] += count
        day_seen[t % 24] += 1
    by_day = [day_sum[h] / day_seen[h] if day_seen[h] else 0.0 for h in range(24)]
    profile = []
    for h in range(HOURS_PER_WEEK):
        seen = week_seen[h]
        own = week_sum[h] / seen if seen else 0.0
        weight = seen / (seen + shrink_weeks)
        profile.append(weight * own + (1 - weight) * by_day[h % 24])
    overall = sum(history) / n
    recent = history[-level_weeks * HOURS_PER_WEEK :]
    recent_mean = sum(recent) / len(recent)
    # The profile's own mean over the recent hours, so the scale compares like with like.
    start = n - len(recent)
    profile_recent = sum(profile[(start + k) % HOURS_PER_WEEK] for k in range(len(recent)))
    profile_recent /= len(recent)
    scale = recent_mean / profile_recent if profile_recent > 0 else (1.0 if overall else 0.0)
    return [profile[(n + k) % HOURS_PER_WEEK] * scale for k in range(horizon)]


def hour_of_week_mean(history: list[float], horizon: int = HORIZON_HOURS) -> list[float]:
    """The plain seasonal model: each hour of the week's mean over all the weeks seen."""
    return blended(
        history, horizon, shrink_weeks=0.0, level_weeks=max(1, len(history) // HOURS_PER_WEEK)
    )


CANDIDATES = {"hour-of-week mean": hour_of_week_mean, "blended": blended}


def forecast(history: list[float], horizon: int = HORIZON_HOURS) -> tuple[str, list[float]]:
    """What Beacon forecasts: whichever candidate did better on the area's own last two weeks
    (forecast from the weeks before them), refitted on all of it. With under four weeks
    there is too little to choose on, and the blend, which copes with short history, is used."""
    check = 2 * HOURS_PER_WEEK
    if len(history) < 4 * HOURS_PER_WEEK:
        return "blended", blended(history, horizon)
    train, held = history[:-check], history[-check:]
    scores = {
        name: mean_absolute_error(held, model(train, check)) for name, model in CANDIDATES.items()
    }
    name = min(scores, key=lambda n: (scores[n], n != "blended"))
    return name, CANDIDATES[name](history, horizon)


def mean_absolute_error(actual: list[float], predicted: list[float]) -> float:
    if len(actual) != len(predicted) or not actual:
        raise ValueError("series of equal, non-zero length needed")
    return sum(abs(a - p) for a, p in zip(actual, predicted, strict=True)) / len(actual)
