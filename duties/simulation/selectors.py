"""Reads for the demand simulator's results: the figures of runs side by side, for the terminal
(`simulate_demand`) and the what-if page (`/stats/what-if/`), from one table builder."""

from __future__ import annotations

from django.db.models import QuerySet

from duties.models import SimulationRun

GRADES = ("I", "S")
MEASURES = (
    ("incidents", "incidents"),
    ("attended", "attended"),
    ("pct_within_target", "% within target"),
    ("p50_seconds", "median (min)"),
    ("p90_seconds", "90th percentile (min)"),
)


def _value(figures: dict, grade: str, key: str) -> float | int | None:
    value = figures.get(grade, {}).get(key)
    if value is not None and key.endswith("_seconds"):
        return round(value / 60, 1)
    return value


def comparison_rows(columns: list[dict]) -> list[list]:
    """One row per grade and measure: the measure, then each run's value (minutes for the
    times), then, with two runs, the second less the first ("" where either has none)."""
    rows = []
    for grade in GRADES:
        for key, label in MEASURES:
            values = [_value(figures, grade, key) for figures in columns]
            row: list = [f"{grade} {label}", *("" if v is None else v for v in values)]
            if len(values) == 2:
                a, b = values
                row.append("" if a is None or b is None else round(b - a, 1))
            rows.append(row)
    return rows


def comparison_text(labels: list[str], columns: list[dict]) -> list[str]:
    """The same table as lines for a terminal."""
    head = ["", *labels, *(["difference"] if len(columns) == 2 else [])]
    rows = [head, *comparison_rows(columns)]
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(head))]
    return [
        "  ".join(
            str(cell).ljust(widths[i]) if i == 0 else str(cell).rjust(widths[i])
            for i, cell in enumerate(row)
        )
        for row in rows
    ]


def what_if_runs() -> QuerySet[SimulationRun]:
    """Every variant with its baseline, newest first."""
    return SimulationRun.objects.filter(baseline__isnull=False).select_related("baseline", "by")


def simulation_runs() -> QuerySet[SimulationRun]:
    return SimulationRun.objects.select_related("baseline", "by")
