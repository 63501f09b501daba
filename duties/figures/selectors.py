"""Reads for the performance figures (docs/stats.md has the definitions).

Response figures are aggregates over `incidents.IncidentResponse`, one narrow row per incident
kept by the incident services, and on PostgreSQL over its daily roll-up `incidents.ResponseDay`,
so a year of London (about 1.5 million incidents) never reads every row.
"""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection
from django.db.models import Count, F, Max, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce, Greatest

from duties.figures.forecast import HORIZON_HOURS, forecast
from duties.selectors import shift_facts, shift_strength, shifts_between
from incidents.models import GRADE_TARGETS, Grade, IncidentResponse, ResponseDay
from resources.models import Assignment, UnitStatus, UnitStatusChange

LONDON = ZoneInfo("Europe/London")
# Graded to be attended against a clock; E is by appointment and R is never attended.
TARGET_GRADES = (Grade.IMMEDIATE, Grade.SIGNIFICANT)
TARGET_SECONDS = {
    grade: int(target.total_seconds())
    for grade, target in GRADE_TARGETS.items()
    if target is not None
}


def day_bounds(date_from: date, date_to: date) -> tuple[datetime, datetime]:
    """London midnight at the start of `date_from` to London midnight after `date_to`."""
    lo = datetime.combine(date_from, time(0), tzinfo=LONDON)
    hi = datetime.combine(date_to + timedelta(days=1), time(0), tzinfo=LONDON)
    return lo, hi


def _rows(
    *,
    bcu: str | None,
    date_from: date,
    date_to: date,
    grades: tuple[str, ...] = TARGET_GRADES,
    incidents: list[int] | None = None,
) -> QuerySet[IncidentResponse]:
    rows = IncidentResponse.objects.filter(day__gte=date_from, day__lte=date_to, grade__in=grades)
    if bcu:
        rows = rows.filter(bcu__code=bcu)
    if incidents is not None:
        rows = rows.filter(incident_id__in=incidents)
    return rows


def _counts(now: datetime) -> dict:
    """The counting rules (docs/stats.md) as aggregate expressions over a group of one grade.

    `judged`: attended, or not attended and its target has passed (it counts against it);
    an incident still inside its target and not yet attended is in `incidents` only.
    """
    within = Q()
    for grade, seconds in TARGET_SECONDS.items():
        within |= Q(grade=grade, response_seconds__lte=seconds)
    return {
        "incidents": Count("pk"),
        "attended": Count("first_at_scene_at"),
        "within_target": Count("pk", filter=within),
        "judged": Count("pk", filter=Q(first_at_scene_at__isnull=False) | Q(target_at__lte=now)),
    }


def _pct(within: int, judged: int) -> float | None:
    return round(100.0 * within / judged, 1) if judged else None


def _value_at(histogram: list[tuple[int, int]], rank: int) -> int:
    """The value at 0-based `rank` of the values a histogram of (value, how many), sorted by
    value, describes (the last value for a rank past the end)."""
    seen = 0
    for value, n in histogram:
        seen += n
        if rank < seen:
            return value
    return histogram[-1][0]


def _interpolate(low: int, high: int, position: float) -> float:
    return low + (high - low) * (position - math.floor(position))


def percentile_from_histogram(histogram: list[tuple[int, int]], fraction: float) -> float | None:
    """`percentile_cont` (linear interpolation between the two closest ranks) of the values a
    histogram of (value, how many) sorted by value describes: exact, in one pass over its
    distinct values (a few thousand seconds), never over the incidents themselves."""
    total = sum(n for _, n in histogram)
    if not total:
        return None
    position = fraction * (total - 1)
    low = _value_at(histogram, math.floor(position))
    high = _value_at(histogram, math.ceil(position))
    return _interpolate(low, high, position)


PERCENTILES = {"p50_seconds": 0.5, "p90_seconds": 0.9}
Figures = tuple[list[dict], dict[str, dict[str, float | None]]]


def response_figures(
    *,
    bcu: str | None,
    date_from: date,
    date_to: date,
    now: datetime,
    incidents: list[int] | None = None,
) -> dict:
    """The `GET /api/v1/stats/response-times/` body (api.md "Performance figures").
    `incidents`: only these (one simulated run's, docs/simulation.md), read from the rows.

    On PostgreSQL from the daily roll-up (`incidents.ResponseDay`, kept by triggers) with the
    recent part that still depends on the clock read live; elsewhere, or with
    `STATS_RESPONSE_ROLLUP` off, from the response rows themselves. Both give the same numbers
    (duties/tests/test_figures_rollup.py); docs/stats.md "How it is kept fast".
    """
    # The roll-up counts every incident of a day; a chosen few are read from their own rows.
    if incidents is None and settings.STATS_RESPONSE_ROLLUP and connection.vendor == "postgresql":
        figures = _rolled_up_figures(bcu=bcu, date_from=date_from, date_to=date_to, now=now)
    else:
        figures = _live_figures(
            bcu=bcu, date_from=date_from, date_to=date_to, now=now, incidents=incidents
        )
    per_day, percentiles = figures
    grades: dict[str, dict] = {}
    for grade in TARGET_GRADES:
        totals = dict.fromkeys(("incidents", "attended", "within_target", "judged"), 0)
        for row in per_day:
            if row["grade"] == grade:
                for key in totals:
                    totals[key] += row[key]
        grades[grade] = {
            "incidents": totals["incidents"],
            "attended": totals["attended"],
            "within_target": totals["within_target"],
            "pct_within_target": _pct(totals["within_target"], totals["judged"]),
            "target_seconds": TARGET_SECONDS[grade],
            **{name: _round(value) for name, value in percentiles[grade].items()},
        }
    by_day = [
        {
            "date": row["day"].isoformat(),
            "grade": row["grade"],
            "incidents": row["incidents"],
            "pct_within_target": _pct(row["within_target"], row["judged"]),
        }
        for row in per_day
    ]
    return {
        "from": date_from.isoformat(),
        "to": date_to.isoformat(),
        "bcu": bcu,
        "grades": grades,
        "by_day": by_day,
    }


def _histograms(rows: QuerySet[IncidentResponse]) -> dict[str, list[tuple[int, int]]]:
    """Incidents per grade and response time in whole seconds: a hash aggregate of a few
    thousand groups, sorted by second."""
    histograms: dict[str, list[tuple[int, int]]] = {grade: [] for grade in TARGET_GRADES}
    counted: list[Any] = list(
        rows.filter(response_seconds__isnull=False)
        .values("grade", "response_seconds")
        .annotate(n=Count("pk"))
        .order_by("grade", "response_seconds")
    )
    for row in counted:
        histograms[row["grade"]].append((row["response_seconds"], row["n"]))
    return histograms


def _live_figures(
    *,
    bcu: str | None,
    date_from: date,
    date_to: date,
    now: datetime,
    incidents: list[int] | None = None,
) -> Figures:
    """Two grouped scans of the response rows in the range: counts per day and grade, and the
    histogram of whole seconds from which the percentiles are exact. A year of all London reads
    about 825,000 rows twice (docs/benchmarks.md "Response figures")."""
    rows = _rows(bcu=bcu, date_from=date_from, date_to=date_to, incidents=incidents)
    # Rows of .values() (dicts); the plugin's row TypedDict knows no annotations.
    per_day: list[Any] = list(
        rows.values("day", "grade").annotate(**_counts(now)).order_by("day", "grade")
    )
    histograms = _histograms(rows)
    percentiles: dict[str, dict[str, float | None]] = {
        grade: {name: percentile_from_histogram(histograms[grade], fraction)
                for name, fraction in PERCENTILES.items()}
        for grade in TARGET_GRADES
    }  # fmt: skip
    return per_day, percentiles


def _rolled_up_figures(
    *, bcu: str | None, date_from: date, date_to: date, now: datetime
) -> Figures:
    """The figures from `ResponseDay` (rows per day, BCU or all London, grade and response-time
    bucket):

    - counts per day and grade: summed cells (a bucket is wholly within a target or wholly
      past it, so `within_target` is a sum of buckets);
    - `judged` needs the clock: every incident is judged except those not attended whose
      target is still ahead, which are read live (only the last hour's calls can be);
    - percentiles: the bucket holding each rank is found from the cells summed per bucket, and
      only that bucket's span of seconds is read from the response rows, exactly.
    """
    cells = ResponseDay.objects.filter(
        day__gte=date_from, day__lte=date_to, grade__in=TARGET_GRADES, all_london=not bcu
    )
    # all London's cells have no BCU: saying so lets the index range start there
    cells = cells.filter(bcu__code=bcu) if bcu else cells.filter(bcu__isnull=True)
    attended = Q(bucket__gt=ResponseDay.NOT_ATTENDED)
    within = Q()
    for grade, seconds in TARGET_SECONDS.items():
        within |= Q(grade=grade, bucket__lte=seconds)
    per_day: list[Any] = list(
        cells.values("day", "grade")
        .annotate(
            incidents=Sum("n"),
            attended=Coalesce(Sum("n", filter=attended), 0),
            within_target=Coalesce(Sum("n", filter=attended & within), 0),
            judged=Sum("n"),
        )
        .filter(incidents__gt=0)
        .order_by("day", "grade")
    )
    # An I or S target is at most an hour after the call, so a target still ahead of `now`
    # belongs to a call of the last hour: the (day) index finds them among a day or two.
    recent = (now - timedelta(seconds=max(TARGET_SECONDS.values()))).astimezone(LONDON).date()
    waiting = {
        (row["day"], row["grade"]): row["n"]
        for row in _rows(bcu=bcu, date_from=max(date_from, recent), date_to=date_to)
        .filter(first_at_scene_at__isnull=True, target_at__gt=now)
        .values("day", "grade")
        .annotate(n=Count("pk"))
    }
    for row in per_day:
        row["judged"] -= waiting.get((row["day"], row["grade"]), 0)
    buckets: dict[str, dict[int, int]] = {grade: {} for grade in TARGET_GRADES}
    for row in cells.filter(attended).values("grade", "bucket").annotate(n=Sum("n")):
        if row["n"]:
            buckets[row["grade"]][row["bucket"]] = row["n"]
    return per_day, _bucketed_percentiles(
        {grade: _rows(bcu=bcu, date_from=date_from, date_to=date_to, grades=(grade,))
         for grade in TARGET_GRADES},
        buckets,
    )  # fmt: skip


def _bucketed_percentiles(
    rows_of: dict[str, QuerySet[IncidentResponse]], buckets: dict[str, dict[int, int]]
) -> dict[str, dict[str, float | None]]:
    """Exact percentiles from bucket counts plus the whole seconds of the buckets that hold
    the ranks wanted (an index-only range scan of the grade and seconds index for each; the
    rows of one grade, `grade = 'I'`, which the planner matches to that index's range)."""
    result: dict[str, dict[str, float | None]] = {}
    for grade, counts in buckets.items():
        rows = rows_of[grade]
        total = sum(counts.values())
        ranks = _ranks(total)
        edges = sorted(counts)
        # (rows before the bucket, its whole seconds) for each bucket holding a wanted rank
        spans: list[tuple[int, list[tuple[int, int]]]] = []
        seen = 0
        for i, edge in enumerate(edges):
            first, seen = seen, seen + counts[edge]
            if not any(first <= rank < seen for rank in ranks):
                continue
            # The span reaches to the next bucket with rows in the range: none lie between.
            span = rows.filter(response_seconds__gte=edge)
            if i + 1 < len(edges):
                span = span.filter(response_seconds__lt=edges[i + 1])
            # count(*), not of a column the index lacks, so the scan stays index-only
            counted: list[Any] = list(
                span.values("response_seconds").annotate(n=Count("*")).order_by("response_seconds")
            )
            histogram = [(r["response_seconds"], r["n"]) for r in counted]
            spans.append((first, histogram))
            if sum(n for _, n in histogram) != counts[edge]:
                # A response row written between the reads: take the grade's whole histogram.
                spans = []
                break
        if total and not spans:
            whole = _histograms(rows)[grade]
            result[grade] = {name: percentile_from_histogram(whole, fraction)
                             for name, fraction in PERCENTILES.items()}  # fmt: skip
            continue
        result[grade] = {}
        for name, fraction in PERCENTILES.items():
            if not total:
                result[grade][name] = None
                continue
            position = fraction * (total - 1)
            low, high = (_value_in_spans(spans, rank)
                         for rank in (math.floor(position), math.ceil(position)))  # fmt: skip
            result[grade][name] = _interpolate(low, high, position)
    return result


def _ranks(total: int) -> set[int]:
    """The 0-based ranks `percentile_cont` reads for the figures' percentiles."""
    if not total:
        return set()
    positions = [fraction * (total - 1) for fraction in PERCENTILES.values()]
    return {math.floor(p) for p in positions} | {math.ceil(p) for p in positions}


def _value_in_spans(spans: list[tuple[int, list[tuple[int, int]]]], rank: int) -> int:
    for first, histogram in spans:
        if first <= rank < first + sum(n for _, n in histogram):
            return _value_at(histogram, rank - first)
    raise AssertionError(f"rank {rank} outside the spans read")  # _ranks chose the spans


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 1)


def worst_breaches(
    *, bcu: str | None, date_from: date, date_to: date, now: datetime, limit: int = 20
) -> list[dict]:
    """The incidents furthest past their target: late arrivals, and those still waiting."""
    late = Greatest(Coalesce("first_at_scene_at", Value(now)), F("target_at")) - F("target_at")
    rows: list[Any] = list(
        _rows(bcu=bcu, date_from=date_from, date_to=date_to)
        .filter(
            Q(first_at_scene_at__gt=F("target_at"))
            | Q(first_at_scene_at__isnull=True, target_at__lte=now)
        )
        .annotate(late=late)
        .order_by("-late", "received_at")
        .values(
            "incident_id", "incident__reference", "grade", "bcu__code", "received_at",
            "first_at_scene_at", "target_at",
        )[:limit]
    )  # fmt: skip
    return [
        {
            "incident": r["incident_id"],
            "reference": r["incident__reference"],
            "grade": r["grade"],
            "bcu": r["bcu__code"],
            "received_at": r["received_at"].isoformat(),
            "attended_at": r["first_at_scene_at"].isoformat() if r["first_at_scene_at"] else None,
            "late_seconds": int(((r["first_at_scene_at"] or now) - r["target_at"]).total_seconds()),
        }
        for r in rows
    ]


def demand_heatmap(*, bcu: str | None, date_from: date, date_to: date) -> list[list[int]]:
    """Incidents of every grade by London day of week (rows, Monday first) and hour (columns)."""
    rows = IncidentResponse.objects.filter(day__gte=date_from, day__lte=date_to)
    if bcu:
        rows = rows.filter(bcu__code=bcu)
    grid = [[0] * 24 for _ in range(7)]
    for row in rows.values("hour_of_week").annotate(n=Count("pk")):
        grid[row["hour_of_week"] // 24][row["hour_of_week"] % 24] = row["n"]
    return grid


def unit_utilisation(*, bcu: str | None, date_from: date, date_to: date, now: datetime) -> list:
    """Per BCU, the share of units' on-duty time (any status but off duty) spent on a job
    (assigned to clearing). Both are intervals clipped to the range; a unit's time is counted
    under its own BCU."""
    lo, hi = day_bounds(date_from, date_to)
    hi = min(hi, now)
    if hi <= lo:
        return []
    on_duty: dict[str, float] = {}
    changes = UnitStatusChange.objects.filter(at__lt=hi).order_by("unit_id", "at", "id")
    if bcu:
        changes = changes.filter(unit__bcu__code=bcu)
    # Only the last change before the range matters for each unit, plus those inside it.
    last_before = {
        r["unit_id"]: r["last"]
        for r in changes.filter(at__lt=lo).values("unit_id").annotate(last=Max("at"))
    }
    current: dict[int, tuple[datetime, str, str]] = {}
    for c in changes.filter(Q(at__gte=lo) | Q(at__in=list(last_before.values()))).values(
        "unit_id", "unit__bcu__code", "at", "to_status"
    ):
        unit = c["unit_id"]
        if unit in current:
            since, status, code = current[unit]
            _add_on_duty(on_duty, code, status, max(since, lo), c["at"])
        current[unit] = (c["at"], c["to_status"], c["unit__bcu__code"])
    for since, status, code in current.values():
        _add_on_duty(on_duty, code, status, max(since, lo), hi)

    committed: dict[str, float] = {}
    jobs = Assignment.objects.filter(assigned_at__lt=hi).filter(
        Q(cleared_at__isnull=True) | Q(cleared_at__gt=lo)
    )
    if bcu:
        jobs = jobs.filter(unit__bcu__code=bcu)
    for j in jobs.values("unit__bcu__code", "assigned_at", "cleared_at"):
        start, end = max(j["assigned_at"], lo), min(j["cleared_at"] or hi, hi)
        if end > start:
            code = j["unit__bcu__code"]
            committed[code] = committed.get(code, 0.0) + (end - start).total_seconds()
    return [
        {
            "bcu": code,
            "on_duty_hours": round(seconds / 3600, 1),
            "committed_hours": round(committed.get(code, 0.0) / 3600, 1),
            "pct_committed": round(100 * min(committed.get(code, 0.0), seconds) / seconds, 1),
        }
        for code, seconds in sorted(on_duty.items())
        if seconds > 0
    ]


def _add_on_duty(totals: dict, code: str, status: str, start: datetime, end: datetime) -> None:
    if status != UnitStatus.OFF_DUTY and end > start:
        totals[code] = totals.get(code, 0.0) + (end - start).total_seconds()


# --- demand forecast beside the roster ---------------------------------------------------------

HISTORY_WEEKS = 8


def hourly_history(*, bcu: str, today: date, weeks: int = HISTORY_WEEKS) -> list[float]:
    """Incidents of every grade per London hour, from midnight `weeks` weeks before `today`
    to midnight today: one aggregate query."""
    first = today - timedelta(weeks=weeks)
    counts = [0.0] * (weeks * 7 * 24)
    rows = (
        IncidentResponse.objects.filter(bcu__code=bcu, day__gte=first, day__lt=today)
        .values("day", "hour_of_week")
        .annotate(n=Count("pk"))
    )
    for row in rows:
        counts[(row["day"] - first).days * 24 + row["hour_of_week"] % 24] += row["n"]
    return counts


def demand_forecast(*, bcu: str, today: date) -> dict:
    """Incidents per hour for BCU from midnight today for 14 days (docs/stats.md)."""
    model, hourly = forecast(hourly_history(bcu=bcu, today=today))
    return {"start": today, "model": model, "hourly": hourly}


def shifts_against_forecast(*, bcu: str, today: date, ratio: float) -> list[dict]:
    """Each of the BCU's shifts in the forecast's 14 days: rostered strength, forecast
    incidents over the shift, and forecast incidents per officer per hour, marked when over
    `ratio` (or when nobody is rostered and anything is forecast)."""
    fc = demand_forecast(bcu=bcu, today=today)
    last = today + timedelta(days=HORIZON_HOURS // 24 - 1)
    facts = shift_facts(shifts_between(bcu=bcu, date_from=today, date_to=last))
    rows = []
    for shift in facts.shifts:
        start = shift["starts_at"].astimezone(LONDON)
        end = shift["ends_at"].astimezone(LONDON)
        hours = max(1, round((end - start).total_seconds() / 3600))
        first_hour = (start.date() - today).days * 24 + start.hour
        expected = sum(fc["hourly"][h] for h in range(first_hour, first_hour + hours)
                       if 0 <= h < len(fc["hourly"]))  # fmt: skip
        strength = shift_strength(facts, shift)
        per_officer = expected / (strength["strength"] * hours) if strength["strength"] else None
        rows.append({
            "shift": shift["id"], "date": start.date(), "kind": shift["kind"],
            "team": shift["team__name"] or "", "starts": start, "ends": end, "hours": hours,
            "strength": strength["strength"], "minimum": strength["minimum"],
            "forecast": round(expected, 1),
            "per_officer_hour": None if per_officer is None else round(per_officer, 2),
            "over": (per_officer is None and expected >= 0.5)
                    or (per_officer is not None and per_officer > ratio),
        })  # fmt: skip
    return rows
