"""`/stats/`: the supervisor's and manager's figures (docs/stats.md). Each table is also a CSV
(`?csv=<table>`), and each chart is drawn by static/js/stats.js from the table beside it."""

import csv
from datetime import date

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from rest_framework.exceptions import ValidationError

from cad.accounts.roles import DESPATCHER, SUPERVISOR, has_role, user_bcu_code
from cad.models import BCU
from duties.figures.access import figures_refusal, figures_scope
from duties.figures.board import board_figures
from duties.figures.selectors import (
    TARGET_GRADES,
    demand_heatmap,
    response_figures,
    unit_utilisation,
    worst_breaches,
)

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _minutes(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds / 60:.1f}"


def _tables(bcu: str | None, date_from: date, date_to: date) -> dict[str, dict]:
    """Every table of the page as a caption, a header row and rows of plain values."""
    now = timezone.now()
    figures = response_figures(bcu=bcu, date_from=date_from, date_to=date_to, now=now)
    grades = [
        [grade, g["incidents"], g["attended"], g["within_target"],
         "" if g["pct_within_target"] is None else g["pct_within_target"],
         g["target_seconds"] // 60, _minutes(g["p50_seconds"]), _minutes(g["p90_seconds"])]
        for grade, g in figures["grades"].items()
    ]  # fmt: skip
    days: dict[str, dict[str, dict]] = {}
    for row in figures["by_day"]:
        days.setdefault(row["date"], {})[row["grade"]] = row
    trend = []
    for day, by_grade in sorted(days.items()):
        line: list = [day]
        for grade in TARGET_GRADES:
            row = by_grade.get(grade, {})
            pct = row.get("pct_within_target")
            line += [row.get("incidents", 0), "" if pct is None else pct]
        trend.append(line)
    heat = demand_heatmap(bcu=bcu, date_from=date_from, date_to=date_to)
    breaches = worst_breaches(bcu=bcu, date_from=date_from, date_to=date_to, now=now)
    usage = unit_utilisation(bcu=bcu, date_from=date_from, date_to=date_to, now=now)
    return {
        "grades": {
            "caption": "Response times by grade (grade given at creation)",
            "head": ["Grade", "Incidents", "Attended", "Within target", "% within target",
                     "Target (min)", "Median (min)", "90th percentile (min)"],
            "rows": grades,
        },
        "trend": {
            "caption": "Daily share attended within target",
            "head": ["Date", "I incidents", "I % within 15 min", "S incidents",
                     "S % within 60 min"],
            "rows": trend,
        },
        "demand": {
            "caption": "Incidents by hour of day (London time) and day of week",
            "head": ["Day", *[f"{h:02d}" for h in range(24)]],
            "rows": [[DAYS[d], *heat[d]] for d in range(7)],
        },
        "breaches": {
            "caption": "Worst breaches",
            "head": ["Incident", "Grade", "BCU", "Received", "First at scene", "Minutes late"],
            "rows": [
                [b["reference"], b["grade"], b["bcu"] or "", b["received_at"][:16],
                 (b["attended_at"] or "not attended")[:16], round(b["late_seconds"] / 60, 1)]
                for b in breaches
            ],
            "links": [b["incident"] for b in breaches],
        },
        "utilisation": {
            "caption": "Unit utilisation: share of on-duty time committed to jobs",
            "head": ["BCU", "On-duty unit hours", "Committed unit hours", "% committed"],
            "rows": [[u["bcu"], u["on_duty_hours"], u["committed_hours"], u["pct_committed"]]
                     for u in usage],
        },
    }  # fmt: skip


def _cells(tables: dict[str, dict]) -> None:
    """What the page shows of each row: the values, the breaches linked to their incidents,
    and the demand grid shaded in six steps of its busiest hour."""
    for table in tables.values():
        links = table.get("links") or []
        table["cells"] = [
            [{"value": v, "href": reverse("incidents:detail", args=[links[r]]) if links and c == 0
              else None} for c, v in enumerate(row)]
            for r, row in enumerate(table["rows"])
        ]  # fmt: skip
    busiest = max((max(row[1:]) for row in tables["demand"]["rows"]), default=0)
    for row in tables["demand"]["cells"]:
        for cell in row[1:]:
            cell["css"] = f"heat-{round(5 * cell['value'] / busiest) if busiest else 0}"


def table_csv(table: dict, name: str) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="beacon-{name}.csv"'
    writer = csv.writer(response)
    writer.writerow(table["head"])
    writer.writerows(table["rows"])
    return response


@require_GET
def stats_page(request):
    refusal = figures_refusal(request.user)
    if refusal:
        raise PermissionDenied(refusal)
    mine = user_bcu_code(request.user)
    context: dict = {
        "bcus": [] if mine else list(BCU.objects.values_list("code", flat=True)),
        "mine": mine,
        "given": {key: request.GET.get(key, "")[:20] for key in ("from", "to")},
        "bcu": None,
        "date_from": None,
        "date_to": None,
        "tables": None,
        "errors": None,
        "query": "",
        "target_pct": settings.STATS_TARGET_PCT,
    }
    try:
        bcu, date_from, date_to = figures_scope(request.user, request.GET)
    except ValidationError as invalid:
        context["errors"] = invalid.detail
        return render(request, "duties/stats.html", context, status=400)
    tables = _tables(bcu, date_from, date_to)
    wanted = request.GET.get("csv")
    if wanted:
        if wanted not in tables:
            context["errors"] = {"csv": [f"No table called {wanted[:20]!r}."]}
            return render(request, "duties/stats.html", context, status=400)
        return table_csv(tables[wanted], f"{wanted}-{bcu or 'london'}-{date_from}-{date_to}")
    _cells(tables)
    query = request.GET.copy()
    query.pop("csv", None)
    context.update(bcu=bcu, date_from=date_from, date_to=date_to, tables=tables,
                   query=query.urlencode())  # fmt: skip
    return render(request, "duties/stats.html", context)


@require_GET
@never_cache
def board_figures_json(request):
    """The board's breach flags, strength header and coverage shading, for this desk's BCU."""
    if not has_role(request.user, DESPATCHER, SUPERVISOR):
        raise PermissionDenied("The board is for despatchers and supervisors.")
    return JsonResponse(board_figures(bcu=user_bcu_code(request.user), now=timezone.now()))
