"""Duty pages: the roster (edit and print), my shifts, booking on. Writes go through services."""

from datetime import date, timedelta
from typing import Any, cast

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_http_methods

from cad.accounts.roles import SUPERVISOR, has_role, in_scope, user_bcu_code
from cad.audit.trail import source_of
from cad.errors import DomainError
from cad.models import BCU
from duties.figures.selectors import shifts_against_forecast
from duties.models import Officer, Shift
from duties.permissions import (
    crew_book_off_refusal,
    crew_book_on_refusal,
    may_crew,
    officer_of,
)
from duties.rules import LONDON
from duties.selectors import (
    CELL_CODES,
    CELL_LABELS,
    SHIFT_KINDS,
    crew_board,
    my_roster,
    roster_grid,
    shifts_open_for_booking,
    teams_for,
)
from duties.services import crew_book_off, crew_book_on
from resources.models import Unit, UnitStatus

ROSTER_DAYS = 28
# Keys a supervisor presses on a focused cell (shown on the page; roster.js reads the table).
KEYS = [("E", "early"), ("L", "late"), ("N", "night"), ("R", "rest"), ("A", "leave"),
        ("T", "training"), ("C", "court"), ("S", "sick"), ("Del", "")]  # fmt: skip


def _require_supervisor(request) -> None:
    if not has_role(request.user, SUPERVISOR):
        raise PermissionDenied("The roster is for supervisors.")


def _parse_date(text: str | None, default: date) -> date:
    try:
        return date.fromisoformat(text) if text else default
    except ValueError:
        return default


def _roster_params(request) -> dict:
    """BCU (a scoped supervisor sees their own), team, first day (Monday of this week)."""
    mine = user_bcu_code(request.user)
    bcus = list(BCU.objects.order_by("code").values_list("code", flat=True))
    bcu = mine or (request.GET.get("bcu") or "").upper() or (bcus[0] if bcus else "")
    if bcu not in bcus:
        raise Http404("No such BCU")
    teams = teams_for(bcu)
    team_id = request.GET.get("team") or ""
    team = next((t for t in teams if str(t.pk) == team_id), None)
    today = timezone.localdate()
    start = _parse_date(request.GET.get("from"), today - timedelta(days=today.weekday()))
    return {"bcu": bcu, "bcus": [] if mine else bcus, "teams": teams, "team": team,
            "start": start, "editable": in_scope(request.user, bcu)}  # fmt: skip


def _grid_html(grid: dict) -> dict:
    """The table body and footer as HTML built in Python.

    14,000 cells through the template engine would take seconds; each cell here is one string
    format of already-escaped parts.
    """
    body = []
    for o in grid["officers"]:
        who = escape(f"{o['collar_number']} {o['name']}")
        skills = escape(" ".join(o["skills"]))
        cells = "".join(
            f'<td class="c k-{k or "none"}" data-kind="{k}">{CELL_CODES[k]}</td>'
            for k in o["cells"]
        )
        body.append(
            f'<tr data-officer="{o["id"]}"><th scope="row" class="who">'
            f'<span class="name">{who}</span> <span class="rank">{escape(o["rank"])}</span>'
            f' <span class="skills">{skills}</span></th>{cells}</tr>'
        )
    foot = []
    for kind in SHIFT_KINDS:
        tds = []
        for d in grid["dates"]:
            s = grid["summary"].get((d, kind))
            if s is None:
                tds.append(f'<td class="s" data-date="{d.isoformat()}" data-kind="{kind}">–</td>')
                continue
            title = escape("; ".join(s["warnings"]) or "Strength met")
            tds.append(
                f'<td class="s{" short" if s["short"] else ""}" data-date="{d.isoformat()}" '
                f'data-kind="{kind}" title="{title}">{s["strength"]}/{s["minimum"]}'
                f"{'!' if s['short'] else ''}</td>"
            )
        foot.append(f'<tr><th scope="row">{CELL_LABELS[kind]} strength</th>{"".join(tds)}</tr>')
    return {"body": mark_safe("".join(body)), "foot": mark_safe("".join(foot))}  # noqa: S308


def _roster_context(request) -> dict:
    params = _roster_params(request)
    grid = roster_grid(bcu=params["bcu"], team_id=params["team"].pk if params["team"] else None,
                       start=params["start"], days=ROSTER_DAYS)  # fmt: skip
    return {
        **params,
        "grid": grid,
        "html": _grid_html(grid),
        "prev": params["start"] - timedelta(days=ROSTER_DAYS),
        "next": params["start"] + timedelta(days=ROSTER_DAYS),
        "kinds": [(key, kind, CELL_LABELS[kind]) for key, kind in KEYS],
        "codes": [(CELL_CODES[k], CELL_LABELS[k]) for k in CELL_LABELS if k],
    }


@require_GET
def roster(request):
    """Officers × 28 days for a BCU and team; edited in place by static/js/roster.js."""
    _require_supervisor(request)
    context = _roster_context(request)
    ratio = settings.FORECAST_DEMAND_PER_OFFICER
    context["forecast_ratio"] = ratio
    context["forecast"] = shifts_against_forecast(
        bcu=context["bcu"], today=timezone.localdate(), ratio=ratio
    )
    return render(request, "duties/roster.html", context)


@require_GET
def roster_print(request):
    """The same roster for paper: no controls, landscape, a key to the codes."""
    _require_supervisor(request)
    return render(request, "duties/roster_print.html", _roster_context(request))


@require_GET
def my_shifts(request):
    """An officer's own roster, read-only: a week back and four weeks ahead."""
    officer = getattr(request.user, "officer", None)
    if officer is None:
        return render(request, "duties/my_shifts.html", {"officer": None}, status=404)
    today = timezone.localdate()
    rows = my_roster(officer=officer, start=today - timedelta(days=7), days=35)
    return render(
        request, "duties/my_shifts.html",
        {"officer": officer, "rows": rows, "today": today, "tz": LONDON},
    )  # fmt: skip


@require_http_methods(["GET", "POST"])
def book_on(request):
    """Crew units from the officers on a shift that is on now; book crews off."""
    if not may_crew(request.user):
        raise PermissionDenied("Booking on is for supervisors and officers.")
    if request.method == "POST":
        return _book_on_post(request)
    me = officer_of(request.user)
    supervisor = has_role(request.user, SUPERVISOR)
    # Not a supervisor: an officer (may_crew refused anyone else above).
    bcu = user_bcu_code(request.user) if supervisor else cast(Officer, me).bcu.code
    shifts = shifts_open_for_booking(bcu=bcu)
    if not supervisor:
        shifts = [s for s in shifts if s.assignments.filter(officer=me).exists()]
    chosen = None
    wanted = request.GET.get("shift")
    if wanted:
        chosen = next((s for s in shifts if str(s.pk) == wanted), None)
    elif len(shifts) == 1:
        chosen = shifts[0]
    context: dict[str, Any] = {
        "shifts": shifts,
        "chosen": chosen,
        "supervisor": supervisor,
        "me": me,
    }
    if chosen:
        context["board"] = crew_board(shift=chosen)
        context["units"] = list(
            Unit.objects.filter(bcu=chosen.bcu, active=True)
            .filter(Q(status=UnitStatus.OFF_DUTY) | Q(crewings__shift=chosen))
            .distinct()
            .order_by("callsign")
        )
    return render(request, "duties/book_on.html", context)


def _book_on_post(request):
    shift_id = request.POST.get("shift", "")
    if not (shift_id.isdigit() and len(shift_id) <= 18):  # a row id, not a driver overflow
        raise Http404("No such shift")
    shift = get_object_or_404(Shift.objects.select_related("bcu"), pk=int(shift_id))
    back = f"{reverse('duties:book_on')}?shift={shift.pk}"
    unit = Unit.objects.select_related("bcu").filter(callsign=request.POST.get("unit", "")).first()
    if unit is None:
        messages.error(request, "Choose a unit.")
        return redirect(back)
    ids = [int(x) for x in request.POST.getlist("officers") if x.isdigit() and len(x) <= 18]
    officers = list(Officer.objects.filter(pk__in=ids))
    book_off = request.POST.get("action") == "book_off"
    # The API's checks, on the same objects: the unit's BCU, and the shift's for booking on.
    if book_off:
        refusal = crew_book_off_refusal(request.user, unit=unit, officers=officers)
    else:
        refusal = crew_book_on_refusal(request.user, unit=unit, shift=shift, officers=officers)
    if refusal:
        raise PermissionDenied(refusal)
    try:
        if book_off:
            crew_book_off(unit=unit, by=request.user, officers=officers or None,
                          source=source_of(request))  # fmt: skip
            messages.success(request, f"Booked off {unit.callsign}.")
        else:
            crew_book_on(unit=unit, shift=shift, officers=officers, by=request.user,
                         source=source_of(request))  # fmt: skip
            messages.success(request, f"{unit.callsign} booked on and available.")
    except DomainError as exc:
        messages.error(request, exc.detail)
    return redirect(back)
