"""`/stats/what-if/`: the demand simulator's runs, each what-if beside its baseline
(docs/simulation.md). Supervisors and admins, as the figures. Each table is also a CSV
(`?csv=<table>`), as on /stats/."""

from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from duties.figures.access import figures_refusal
from duties.figures.views import table_csv
from duties.simulation.selectors import comparison_rows, simulation_runs, what_if_runs

SHOWN = 10  # the newest comparisons on the page; older ones stay in the runs table and CSV


def _pct(figures: dict, grade: str):
    value = figures.get(grade, {}).get("pct_within_target")
    return "" if value is None else value


def _tables() -> dict[str, dict]:
    tables: dict[str, dict] = {}
    for variant in what_if_runs()[:SHOWN]:
        base = variant.baseline
        if base is None:  # what_if_runs() has only runs with one; a deleted baseline, skipped
            continue
        tables[f"run-{variant.pk}"] = {
            "caption": f"{variant.source.upper()} {variant.day:%-d %b %Y}, seed {variant.seed}: "
                       f"as it was (run {base.pk}) and {variant.change} (run {variant.pk})",
            "head": ["Measure", "As it was", variant.change, "Difference"],
            "rows": comparison_rows([base.figures, variant.figures]),
        }  # fmt: skip
    tables["runs"] = {
        "caption": "Every run",
        "head": ["Run", "Source", "Day", "Seed", "What-if", "Baseline run", "Calls",
                 "Despatched", "I % within 15 min", "S % within 60 min",
                 "Times real time", "Played at"],
        "rows": [
            [run.pk, run.source.upper(), run.day.isoformat(), run.seed, run.change or "none",
             run.baseline_id or "", run.calls, run.despatched, _pct(run.figures, "I"),
             _pct(run.figures, "S"),
             round(run.simulated_seconds / run.wall_seconds) if run.wall_seconds else "",
             timezone.localtime(run.created_at).strftime("%Y-%m-%d %H:%M")]
            for run in simulation_runs()
        ],
    }  # fmt: skip
    return tables


@require_GET
def what_if_page(request):
    refusal = figures_refusal(request.user)
    if refusal:
        raise PermissionDenied(refusal)
    tables = _tables()
    wanted = request.GET.get("csv")
    if wanted:
        if wanted not in tables:
            errors = {"csv": [f"No table called {wanted[:20]!r}."]}
            return render(request, "duties/what_if.html", {"errors": errors}, status=400)
        return table_csv(tables[wanted], f"what-if-{wanted}")
    for table in tables.values():
        _cells_plain(table)
    comparisons = {name: t for name, t in tables.items() if name != "runs"}
    return render(request, "duties/what_if.html",
                  {"comparisons": comparisons, "runs": tables["runs"], "query": ""})  # fmt: skip


def _cells_plain(table: dict) -> None:
    table["cells"] = [[{"value": v, "href": None} for v in row] for row in table["rows"]]
