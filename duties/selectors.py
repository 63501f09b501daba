"""Reads for the roster, the shifts API and booking on, each in a fixed number of queries."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from duties.models import (
    ABSTRACTIONS,
    Crewing,
    DayKind,
    Officer,
    OfficerSkill,
    RosterDay,
    Shift,
    ShiftAssignment,
    ShiftSkillRequirement,
    Team,
)
from duties.rules import Interval, day_bounds, local_date, skill_valid_on
from incidents.operations.models import Operation

# Roster cell values: the shift kinds, then the RosterDay kinds. Keys are what the API takes.
CELL_KINDS = ["early", "late", "night", "other", *DayKind.values]
WORKING = {"early", "late", "night", "other"}
CELL_CODES = {
    "early": "E", "late": "L", "night": "N", "other": "O", "rest": "RD",
    "leave": "AL", "training": "TR", "court": "CT", "sick": "SK", "": "·",
}  # fmt: skip
CELL_LABELS = {
    "early": "Early", "late": "Late", "night": "Night", "other": "Other shift",
    "rest": "Rest day", "leave": "Leave", "training": "Training", "court": "Court",
    "sick": "Sick", "": "Not rostered",
}  # fmt: skip
SHIFT_KINDS = ["early", "late", "night"]


def officer_skill_codes(officer_ids: list[int], on: date) -> dict[int, list[str]]:
    """Unexpired skill codes per officer on a day. One query."""
    skills: dict[int, list[str]] = defaultdict(list)
    rows = OfficerSkill.objects.filter(officer_id__in=officer_ids).values_list(
        "officer_id", "skill__code", "expires_on"
    )
    for officer_id, code, expires_on in rows:
        if skill_valid_on(expires_on, on):
            skills[officer_id].append(code)
    return {k: sorted(v) for k, v in skills.items()}


def officers_list(*, bcu: str | None, team_id: int | None = None) -> list[dict]:
    """`GET /api/v1/officers/`: two queries whatever the number of officers."""
    qs = Officer.objects.filter(active=True)
    if bcu:
        qs = qs.filter(bcu__code=bcu)
    if team_id:
        qs = qs.filter(team_id=team_id)
    rows = list(
        qs.values(
            "id", "collar_number", "first_name", "last_name", "rank", "bcu__code", "team__name",
            "team_id",
        ).order_by("team__name", "last_name", "first_name", "id")
    )  # fmt: skip
    skills = officer_skill_codes([r["id"] for r in rows], timezone.localdate())
    return [
        {
            "id": r["id"],
            "collar_number": r["collar_number"],
            "name": f"{r['first_name']} {r['last_name']}",
            "rank": r["rank"],
            "bcu": r["bcu__code"],
            "team": r["team__name"],
            "team_id": r["team_id"],
            "skills": skills.get(r["id"], []),
        }
        for r in rows
    ]


# --- shift strength and skills ----------------------------------------------------------------


@dataclass
class ShiftFacts:
    """Everything needed to judge a set of shifts' strength, fetched in five queries."""

    shifts: list[dict]
    officers: dict[int, list[int]]  # shift id → assigned officer ids
    abstracted: set[tuple[int, date]]  # (officer id, London date) away from duty
    skills: dict[int, list[tuple[str, date | None]]]  # officer id → (skill code, expires_on)
    requirements: dict[int, list[tuple[str, str, int]]]  # shift id → (code, name, count)


def shift_facts(shifts_qs: QuerySet[Shift]) -> ShiftFacts:
    # Rows of .values() (dicts); the plugin's row TypedDict is no `dict` to mypy.
    shifts: list[Any] = list(
        shifts_qs.values(
            "id", "bcu__code", "team_id", "team__name", "kind", "starts_at", "ends_at",
            "minimum_strength",
        ).order_by("starts_at", "team__name", "id")
    )  # fmt: skip
    ids = [s["id"] for s in shifts]
    officers: dict[int, list[int]] = defaultdict(list)
    for shift_id, officer_id in (
        ShiftAssignment.objects.filter(shift_id__in=ids)
        .order_by("officer_id")
        .values_list("shift_id", "officer_id")
    ):
        officers[shift_id].append(officer_id)
    officer_ids = sorted({o for lst in officers.values() for o in lst})
    skills: dict[int, list[tuple[str, date | None]]] = defaultdict(list)
    for officer_id, code, expires_on in OfficerSkill.objects.filter(
        officer_id__in=officer_ids
    ).values_list("officer_id", "skill__code", "expires_on"):
        skills[officer_id].append((code, expires_on))
    dates = [local_date(s["starts_at"]) for s in shifts]
    abstracted: set[tuple[int, date]] = set()
    if dates:
        abstracted = set(
            RosterDay.objects.filter(
                officer_id__in=officer_ids,
                date__gte=min(dates),
                date__lte=max(dates),
                kind__in=ABSTRACTIONS,
            ).values_list("officer_id", "date")
        )
    requirements: dict[int, list[tuple[str, str, int]]] = defaultdict(list)
    for shift_id, code, name, count in ShiftSkillRequirement.objects.filter(
        shift_id__in=ids
    ).values_list("shift_id", "skill__code", "skill__name", "count"):
        requirements[shift_id].append((code, name, count))
    return ShiftFacts(shifts, officers, abstracted, skills, requirements)


def shift_strength(facts: ShiftFacts, shift: dict) -> dict:
    """Strength and skills of one shift: who counts, what is short, in words for a supervisor."""
    day = local_date(shift["starts_at"])
    counting = [o for o in facts.officers.get(shift["id"], []) if (o, day) not in facts.abstracted]
    warnings = []
    if len(counting) < shift["minimum_strength"]:
        warnings.append(
            f"Strength {len(counting)} of minimum {shift['minimum_strength']}: "
            f"short by {shift['minimum_strength'] - len(counting)}"
        )
    skills_short = []
    for code, name, needed in sorted(facts.requirements.get(shift["id"], [])):
        have = sum(
            1
            for o in counting
            if any(c == code and skill_valid_on(exp, day) for c, exp in facts.skills.get(o, []))
        )
        if have < needed:
            skills_short.append(code)
            warnings.append(f"{name}: {have} of {needed} required")
    return {
        "strength": len(counting),
        "minimum": shift["minimum_strength"],
        "abstracted": len(facts.officers.get(shift["id"], [])) - len(counting),
        "warnings": warnings,
        "short": bool(warnings),
        "skills_short": skills_short,
    }


def shift_payload(facts: ShiftFacts, shift: dict) -> dict:
    strength = shift_strength(facts, shift)
    return {
        "id": shift["id"],
        "bcu": shift["bcu__code"],
        "team": shift["team__name"],
        "kind": shift["kind"],
        "starts_at": shift["starts_at"].isoformat(),
        "ends_at": shift["ends_at"].isoformat(),
        "minimum_strength": shift["minimum_strength"],
        "officers": facts.officers.get(shift["id"], []),
        "strength": strength["strength"],
        "warnings": strength["warnings"],
    }


def shifts_between(
    *, bcu: str | None, date_from: date, date_to: date, team_id: int | None = None
) -> QuerySet[Shift]:
    """Shifts starting on London dates date_from..date_to inclusive."""
    lo, _ = day_bounds(date_from)
    _, hi = day_bounds(date_to)
    qs = Shift.objects.filter(starts_at__gte=lo, starts_at__lt=hi)
    if bcu:
        qs = qs.filter(bcu__code=bcu)
    if team_id:
        qs = qs.filter(team_id=team_id)
    return qs


def shifts_list(*, bcu: str | None, date_from: date, date_to: date) -> list[dict]:
    """`GET /api/v1/shifts/`: five queries for any number of shifts."""
    facts = shift_facts(shifts_between(bcu=bcu, date_from=date_from, date_to=date_to))
    return [shift_payload(facts, s) for s in facts.shifts]


def shift_detail(shift_id: int) -> dict:
    facts = shift_facts(Shift.objects.filter(pk=shift_id))
    return shift_payload(facts, facts.shifts[0])


def strength_summary(facts: ShiftFacts, days: list[date]) -> dict[tuple[date, str], dict]:
    """Per (day, shift kind): strength against minimum over the shifts in view, and shortfalls."""
    summary: dict[tuple[date, str], dict] = {}
    for shift in facts.shifts:
        key = (local_date(shift["starts_at"]), shift["kind"])
        s = shift_strength(facts, shift)
        cell = summary.setdefault(
            key, {"strength": 0, "minimum": 0, "short": False, "warnings": [], "shifts": []}
        )
        cell["strength"] += s["strength"]
        cell["minimum"] += s["minimum"]
        cell["short"] = cell["short"] or s["short"]
        cell["shifts"].append(shift["id"])
        who = shift["team__name"] or "BCU"
        cell["warnings"].extend(f"{who}: {w}" for w in s["warnings"])
    return summary


def summary_payload(summary: dict[tuple[date, str], dict]) -> list[dict]:
    return [
        {"date": d.isoformat(), "kind": kind, **value}
        for (d, kind), value in sorted(summary.items())
    ]


# --- the roster grid --------------------------------------------------------------------------


def roster_grid(*, bcu: str, team_id: int | None, start: date, days: int = 28) -> dict:
    """Officers × days for a BCU (and team), with strength per day and shift kind.

    Nine queries whatever the size: officers, their skills, their assignments in range, their
    roster days, then the five of `shift_facts` for the shifts in view.
    """
    dates = [start + timedelta(days=i) for i in range(days)]
    index = {d: i for i, d in enumerate(dates)}
    lo, _ = day_bounds(dates[0])
    _, hi = day_bounds(dates[-1])
    officers = officers_list(bcu=bcu, team_id=team_id)
    ids = [o["id"] for o in officers]
    scope = Q(officer__bcu__code=bcu, officer__active=True)
    if team_id:
        scope &= Q(officer__team_id=team_id)
    cells: dict[int, list[str]] = {oid: [""] * days for oid in ids}
    for officer_id, kind, starts_at in ShiftAssignment.objects.filter(
        scope, shift__starts_at__gte=lo, shift__starts_at__lt=hi
    ).values_list("officer_id", "shift__kind", "shift__starts_at"):
        row = cells.get(officer_id)
        if row is not None:
            row[index[local_date(starts_at)]] = kind
    for officer_id, day, kind in RosterDay.objects.filter(
        scope, date__gte=dates[0], date__lte=dates[-1]
    ).values_list("officer_id", "date", "kind"):
        row = cells.get(officer_id)
        if row is not None:
            row[index[day]] = kind
    for officer in officers:
        officer["cells"] = cells[officer["id"]]
    facts = shift_facts(shifts_between(bcu=bcu, date_from=dates[0], date_to=dates[-1],
                                       team_id=team_id))  # fmt: skip
    return {
        "bcu": bcu,
        "team_id": team_id,
        "dates": dates,
        "officers": officers,
        "summary": strength_summary(facts, dates),
    }


def cell_of(*, officer: Officer, day: date) -> str:
    """What one roster cell holds now."""
    mark = RosterDay.objects.filter(officer=officer, date=day).values_list("kind", flat=True)
    if mark:
        return mark[0]
    lo, hi = day_bounds(day)
    kind = (
        ShiftAssignment.objects.filter(
            officer=officer, shift__starts_at__gte=lo, shift__starts_at__lt=hi
        )
        .values_list("shift__kind", flat=True)
        .first()
    )
    return kind or ""


def officer_intervals(officer_ids: list[int], lo: datetime, hi: datetime) -> dict[int, list]:
    """Each officer's shifts overlapping [lo, hi) as rule intervals. One query."""
    out: dict[int, list[Interval]] = defaultdict(list)
    for officer_id, shift_id, kind, starts_at, ends_at in ShiftAssignment.objects.filter(
        officer_id__in=officer_ids, shift__ends_at__gt=lo, shift__starts_at__lt=hi
    ).values_list("officer_id", "shift_id", "shift__kind", "shift__starts_at", "shift__ends_at"):
        out[officer_id].append(Interval(starts_at, ends_at, shift_id, f"the {kind} shift"))
    return out


def teams_for(bcu: str) -> list[Team]:
    return list(Team.objects.filter(bcu__code=bcu).order_by("name"))


# --- my shifts and booking on -----------------------------------------------------------------


def my_roster(*, officer: Officer, start: date, days: int) -> list[dict]:
    """An officer's own days: three queries."""
    dates = [start + timedelta(days=i) for i in range(days)]
    lo, _ = day_bounds(dates[0])
    _, hi = day_bounds(dates[-1])
    by_day: dict[date, dict] = {d: {"date": d, "kind": "", "shift": None} for d in dates}
    for shift in (
        Shift.objects.filter(assignments__officer=officer, starts_at__gte=lo, starts_at__lt=hi)
        .select_related("team")
        .order_by("starts_at")
    ):
        by_day[local_date(shift.starts_at)].update(kind=shift.kind, shift=shift)
    for mark in RosterDay.objects.filter(officer=officer, date__gte=dates[0], date__lte=dates[-1]):
        by_day[mark.date].update(kind=mark.kind, shift=None)
    crewed = dict(
        Crewing.objects.filter(officer=officer, booked_off_at__isnull=True).values_list(
            "shift_id", "unit__callsign"
        )
    )
    rows = []
    for d in dates:
        row = by_day[d]
        row["label"] = CELL_LABELS[row["kind"]]
        row["unit"] = crewed.get(row["shift"].id) if row["shift"] else None
        rows.append(row)
    return rows


def shifts_open_for_booking(*, bcu: str | None, now: datetime | None = None) -> list[Shift]:
    """Shifts of a BCU that have started (or start within the hour) and not yet ended."""
    now = now or timezone.now()
    qs = Shift.objects.filter(starts_at__lte=now + timedelta(hours=1), ends_at__gt=now)
    if bcu:
        qs = qs.filter(bcu__code=bcu)
    return list(qs.select_related("bcu", "team").order_by("starts_at", "team__name"))


def crew_board(*, shift: Shift) -> dict:
    """Officers on a shift (with skills, abstraction and current unit) and its crewed units."""
    day = local_date(shift.starts_at)
    assigned = list(
        Officer.objects.filter(assignments__shift=shift).order_by("last_name", "first_name")
    )
    ids = [o.id for o in assigned]
    skills = officer_skill_codes(ids, day)
    away = set(
        RosterDay.objects.filter(officer_id__in=ids, date=day, kind__in=ABSTRACTIONS).values_list(
            "officer_id", flat=True
        )
    )
    crewing = {
        c.officer_id: c
        for c in Crewing.objects.filter(
            officer_id__in=ids, booked_off_at__isnull=True
        ).select_related("unit")
    }
    officers: list[dict[str, Any]] = [
        {"officer": o, "skills": skills.get(o.id, []), "abstracted": o.id in away,
         "unit": crewing[o.id].unit if o.id in crewing else None}
        for o in assigned
    ]  # fmt: skip
    crews: dict[str, list] = defaultdict(list)
    for row in officers:
        if row["unit"] is not None:
            crews[row["unit"].callsign].append(row)
    return {"officers": officers, "crews": dict(sorted(crews.items()))}


def operation_officers(operation: Operation) -> list[dict]:
    """Officers on the shifts marked for a planned operation (its detail; registered in
    DutiesConfig.ready), with their shift times."""
    rows = (
        ShiftAssignment.objects.filter(shift__operation=operation)
        .select_related("officer", "shift")
        .order_by("shift__starts_at", "officer__collar_number")
    )
    return [
        {"officer": a.officer_id, "collar_number": a.officer.collar_number,
         "name": str(a.officer), "shift": a.shift_id,
         "starts_at": a.shift.starts_at.isoformat(), "ends_at": a.shift.ends_at.isoformat()}
        for a in rows
    ]  # fmt: skip
