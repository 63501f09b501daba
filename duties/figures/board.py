"""The board's figures (`GET /board/figures/`, polled by static/js/board_figures.js):

- breach forecast: each open, unresourced I or S incident whose target has not yet passed,
  and whether any unit that could be sent now can arrive before it. When none can, the board
  says "no unit can make it" while there is still time to do something about it;
- strength: each BCU's officers on the shifts running now (after abstractions) against the
  shifts' minimum, and its units free now;
- coverage: each BCU's best I-grade time from a free unit to its demand-weighted centre (the
  mean position of its incidents over the last 28 days; the middle of its boroughs when it has
  none), for the map's shading.

Travel times are the recommendation engine's estimates (resources/recommend: blue-light speed
of the unit's type, the detour factor, the mobilisation time), from the same nearest-unit
index the coverage report uses, so the board and the recommendations agree. Not part of the
board snapshot: the snapshot stays within its five queries (resources/tests/test_board_page.py)
and this costs a few more; docs/decisions/0013-performance-figures.md.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from django.db.models import Avg, Count, Max, Min

from cad.models import BCU, Borough
from duties.models import Shift
from duties.rules import local_date
from duties.selectors import shift_facts, shift_strength
from incidents.models import Grade, Incident, IncidentResponse, IncidentStatus
from resources.models import UnitStatus
from resources.recommend.conf import conf
from resources.recommend.coverage import FastUnit, NearestIndex
from resources.recommend.engine import free_units_query
from resources.recommend.routers import Origin, speed_kmh

CENTRE_DAYS = 28


def _free_unit_index() -> tuple[NearestIndex, dict[str, int]]:
    """Every unit that could be sent now (available, or committed but deployable)."""
    rows = free_units_query().values_list(
        "bcu__code", "status", "plat", "plon", "type__urban_speed_kmh", "type__blue_light_speed_kmh"
    )
    units: list[FastUnit] = []
    free: defaultdict[str, int] = defaultdict(int)
    for bcu, status, lat, lon, urban, blue in rows:
        if lat is None or lon is None:
            continue
        speed = speed_kmh(Origin(lat, lon, urban, blue), blue_lights=True) / 3.6
        units.append(FastUnit(lat, lon, speed))
        if status == UnitStatus.AVAILABLE:
            free[bcu] += 1
    index = NearestIndex(units, float(conf("DETOUR_FACTOR")), float(conf("MOBILISE_S")))
    return index, free


def breach_risks(*, bcu: str | None, now: datetime, index: NearestIndex) -> list[dict]:
    incidents = Incident.objects.filter(
        status=IncidentStatus.OPEN,
        grade__in=[Grade.IMMEDIATE, Grade.SIGNIFICANT],
        due_at__gt=now,
    )
    if bcu:
        incidents = incidents.filter(bcu__code=bcu)
    risks = []
    for pk, reference, grade, lat, lon, due_at in incidents.values_list(
        "id", "reference", "grade", "lat", "lon", "due_at"
    ).order_by("due_at"):
        if due_at is None:
            continue  # (never: the filter asks for a due time after now)
        eta = index.fastest(lat, lon)
        left = (due_at - now).total_seconds()
        if eta is not None and eta <= left:
            continue
        fastest = f"fastest about {round(eta / 60)} min" if eta is not None else "no unit free"
        risks.append({
            "incident": pk, "reference": reference, "grade": grade,
            "due_at": due_at.isoformat(), "seconds_left": round(left),
            "eta_seconds": None if eta is None else round(eta),
            "text": f"No unit can make it: {reference} ({grade}) is due in "
                    f"{max(1, round(left / 60))} min, {fastest}",
        })  # fmt: skip
    return risks


def strength_now(*, bcu: str | None, now: datetime, free: dict[str, int]) -> list[dict]:
    shifts = Shift.objects.filter(starts_at__lte=now, ends_at__gt=now)
    if bcu:
        shifts = shifts.filter(bcu__code=bcu)
    facts = shift_facts(shifts)
    rostered: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for shift in facts.shifts:
        s = shift_strength(facts, shift)
        rostered[shift["bcu__code"]][0] += s["strength"]
        rostered[shift["bcu__code"]][1] += s["minimum"]
    codes = [bcu] if bcu else list(BCU.objects.order_by("code").values_list("code", flat=True))
    return [
        {"bcu": code, "strength": rostered[code][0], "minimum": rostered[code][1],
         "short": rostered[code][0] < rostered[code][1], "units_free": free.get(code, 0)}
        for code in codes
    ]  # fmt: skip


def coverage_by_centre(*, bcu: str | None, now: datetime, index: NearestIndex) -> list[dict]:
    since = local_date(now - timedelta(days=CENTRE_DAYS))  # `day` is a London date
    demand = IncidentResponse.objects.filter(day__gte=since, bcu__isnull=False)
    boroughs = Borough.objects.all()
    if bcu:
        demand = demand.filter(bcu__code=bcu)
        boroughs = boroughs.filter(bcu__code=bcu)
    centres = {
        r["bcu__code"]: (r["lat"], r["lon"], r["n"])
        for r in demand.values("bcu__code").annotate(
            lat=Avg("incident__lat"), lon=Avg("incident__lon"), n=Count("pk")
        )
    }
    for r in boroughs.values("bcu__code").annotate(
        lo_lat=Min("min_lat"), hi_lat=Max("max_lat"), lo_lon=Min("min_lon"), hi_lon=Max("max_lon")
    ):
        centres.setdefault(
            r["bcu__code"],
            ((r["lo_lat"] + r["hi_lat"]) / 2, (r["lo_lon"] + r["hi_lon"]) / 2, 0),
        )
    target = float(conf("I_GRADE_TARGET_S"))
    rows = []
    for code, (lat, lon, n) in sorted(centres.items()):
        eta = index.fastest(lat, lon)
        rows.append({
            "bcu": code, "centre": {"lat": round(lat, 5), "lon": round(lon, 5)},
            "incidents": n, "eta_seconds": None if eta is None else round(eta),
            "level": "none" if eta is None else "good" if eta <= target * 2 / 3
                     else "tight" if eta <= target else "over",
        })  # fmt: skip
    return rows


def board_figures(*, bcu: str | None, now: datetime) -> dict:
    index, free = _free_unit_index()
    return {
        "computed_at": now.isoformat(),
        "breach_risks": breach_risks(bcu=bcu, now=now, index=index),
        "strength": strength_now(bcu=bcu, now=now, free=free),
        "coverage": coverage_by_centre(bcu=bcu, now=now, index=index),
    }
