"""The only write path for rosters, shifts and crews.

Locking: every roster change locks the officers it touches (`select_for_update`, in id order)
before reading their shifts, so two supervisors editing the same officer serialise and the rules
are always checked against what is really there. Booking on and off follows the unit locking
order of resources/services.py: the unit's incident (if it is on one), then the unit, then the
officers.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import cast

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from cad.audit.trail import audit_record, audit_records_write, audit_row
from cad.errors import Conflict, DomainError
from cad.models import AuditEvent
from duties.models import (
    ABSTRACTIONS,
    Crewing,
    DayKind,
    Officer,
    OfficerSkill,
    RestDayCancellation,
    RosterDay,
    Shift,
    ShiftAssignment,
    Team,
)
from duties.rules import (
    Breach,
    Interval,
    RestNotice,
    at_local,
    check_shifts,
    day_bounds,
    local_date,
    rest_day_notice,
    skill_valid_on,
)
from duties.selectors import CELL_LABELS, WORKING, officer_intervals
from incidents.operations.models import Operation
from incidents.operations.services import operation_log_record
from resources.models import Unit
from resources.services import (
    unit_book_off,
    unit_book_on,
    unit_lock_with_job,
    unit_set_crew_skills,
)

# Default times for shifts the roster creates (London wall clock), the same as seed_demo's.
# A night ends the next day. settings.DUTIES_SHIFT_TIMES replaces them.
DEFAULT_SHIFT_TIMES: dict[str, tuple[time, time]] = {
    "early": (time(7), time(15)),
    "late": (time(14), time(22)),
    "night": (time(22), time(7)),
}
# Booking on may start this long before the shift does (briefing, kit, vehicle checks).
BOOK_ON_EARLY = timedelta(hours=1)
# Shifts within this distance of a change can be affected by the rest and 7-day rules.
RULE_HORIZON = timedelta(days=8)
PATTERN_LETTERS = {"E": "early", "L": "late", "N": "night", "R": "rest"}


class RosterConflict(DomainError):
    """A rule stops the change. Carries every breach so a screen can show them all."""

    def __init__(self, breaches: list[Breach], *, code: str | None = None, detail: str = ""):
        self.breaches = breaches
        first = breaches[0]
        overridable = all(b.overridable for b in breaches)
        text = detail or first.message
        if overridable and not detail:
            text += " A supervisor may override this with a reason."
        super().__init__(text, code=code or first.code)
        self.overridable = overridable


def shift_times(kind: str) -> tuple[time, time]:
    return getattr(settings, "DUTIES_SHIFT_TIMES", DEFAULT_SHIFT_TIMES)[kind]


def _who(officer: Officer) -> str:
    return f"{officer.rank} {officer.name}"


def _lock_officers(ids: list[int]) -> dict[int, Officer]:
    locked = (
        Officer.objects.select_for_update(no_key=True)
        .filter(pk__in=sorted(set(ids)))
        .order_by("pk")
    )
    return {o.pk: o for o in locked}


def _judge(breaches: list[Breach], *, override: bool, reason: str) -> list[str]:
    """Raise for breaches that stand; return the codes the supervisor has overridden."""
    hard = [b for b in breaches if not b.overridable]
    if hard:
        raise RosterConflict(hard)
    if breaches and not (override and reason.strip()):
        raise RosterConflict(breaches)
    return sorted({b.code for b in breaches})


def _rest_day_check(*, officer: Officer, day: date, reason: str, now: datetime) -> RestNotice:
    """The notice given for taking back a rest day; refuses short notice without a reason."""
    notice = rest_day_notice(rest_day=day, now=now)
    if notice.reason_required and not reason.strip():
        raise RosterConflict(
            [
                Breach(
                    "rest_day_reason_required",
                    f"{_who(officer)}'s rest day on {day:%a %d %b} is under 8 days away "
                    f"({notice.notice_days} days' notice): give a reason to cancel it.",
                )
            ]
        )
    return notice


def _cancel_rest_day(
    *, officer: Officer, day: date, by: User | None, reason: str, now: datetime
) -> dict:
    notice = _rest_day_check(officer=officer, day=day, reason=reason, now=now)
    RestDayCancellation.objects.create(
        officer=officer, date=day, cancelled_at=now, cancelled_by=by,
        notice_days=notice.notice_days, compensation_owed=notice.compensation_owed,
        reason=reason,
    )  # fmt: skip
    return {"notice_days": notice.notice_days, "compensation_owed": notice.compensation_owed}


def team_shift(*, officer: Officer, day: date, kind: str) -> Shift:
    """The officer's team's `kind` shift on a London date, created with default times if absent."""
    lo, hi = day_bounds(day)
    existing = (
        Shift.objects.filter(
            # An officer with no team has team_id None, which Django matches as IS NULL; the
            # stub's lookup type leaves None out.
            bcu_id=officer.bcu_id, team_id=officer.team_id, kind=kind,  # type: ignore[misc]
            starts_at__gte=lo, starts_at__lt=hi,
        ).order_by("starts_at").first()
    )  # fmt: skip
    if existing:
        return existing
    start_clock, end_clock = shift_times(kind)
    starts_at = at_local(day, start_clock)
    end_day = day + timedelta(days=1) if end_clock <= start_clock else day
    shift, _ = Shift.objects.get_or_create(
        bcu_id=officer.bcu_id, team_id=officer.team_id, kind=kind, starts_at=starts_at,  # type: ignore[misc]
        defaults={"ends_at": at_local(end_day, end_clock)},
    )  # fmt: skip
    return shift


def _refuse_if_crewed(officer: Officer, shift_ids: list[int]) -> None:
    crew = (
        Crewing.objects.filter(officer=officer, shift_id__in=shift_ids, booked_off_at__isnull=True)
        .select_related("unit")
        .first()
    )
    if crew:
        raise Conflict(
            f"{_who(officer)} is booked on in {crew.unit.callsign}: book them off first.",
            code="crewed",
        )


# --- the shifts API ---------------------------------------------------------------------------


def shift_officer_add(
    *,
    shift: Shift,
    officer: Officer,
    by: User | None,
    reason: str = "",
    override: bool = False,
    source: str,
) -> ShiftAssignment:
    """Put an officer on a shift, checking rest, overlap, weekly hours and rest-day notice."""
    now = timezone.now()
    reason = reason.strip()
    with transaction.atomic():
        officer = _lock_officers([officer.pk])[officer.pk]
        existing = ShiftAssignment.objects.filter(shift=shift, officer=officer).first()
        if existing:
            return existing
        day = local_date(shift.starts_at)
        mark = RosterDay.objects.filter(officer=officer, date=day).first()
        if mark and mark.kind in ABSTRACTIONS:
            raise Conflict(
                f"{_who(officer)} is on {mark.get_kind_display()} on {day:%a %d %b}: "
                "change their roster day first.",
                code="abstracted",
            )
        overridden = _check_rules(officer=officer, add=[shift], remove=[], reason=reason,
                                  override=override)  # fmt: skip
        cancelled = None
        if mark and mark.kind == DayKind.REST:
            cancelled = _cancel_rest_day(officer=officer, day=day, by=by, reason=reason, now=now)
            mark.delete()
        assignment = ShiftAssignment.objects.create(
            shift=shift, officer=officer, created_by=by,
            override_reason=reason if overridden else "",
        )  # fmt: skip
        audit_record(
            user=by, action="override" if overridden else "create", obj=assignment,
            source=source,
            changes={"officer": officer.collar_number, "shift": shift.pk, "date": day.isoformat(),
                     "kind": shift.kind, "reason": reason, "overridden": overridden,
                     "rest_day_cancelled": cancelled},
        )  # fmt: skip
    return assignment


def _check_rules(
    *, officer: Officer, add: list[Shift], remove: list[int], reason: str, override: bool
) -> list[str]:
    lo = min(s.starts_at for s in add) - RULE_HORIZON
    hi = max(s.ends_at for s in add) + RULE_HORIZON
    existing = [
        i for i in officer_intervals([officer.pk], lo, hi).get(officer.pk, [])
        if i.shift_id not in remove
    ]  # fmt: skip
    new = [Interval(s.starts_at, s.ends_at, s.pk, f"the {s.kind} shift") for s in add]
    return _judge(check_shifts(existing=existing, new=new, who=_who(officer)),
                  override=override, reason=reason)  # fmt: skip


def shift_officer_remove(
    *, shift: Shift, officer: Officer, by: User | None, reason: str = "", source: str
) -> None:
    """Take an officer off a shift. Refused while they are booked on in a unit for it."""
    with transaction.atomic():
        officer = _lock_officers([officer.pk])[officer.pk]
        assignment = ShiftAssignment.objects.filter(shift=shift, officer=officer).first()
        if assignment is None:
            raise Conflict(f"{_who(officer)} is not on this shift", code="not_on_shift")
        _refuse_if_crewed(officer, [shift.pk])
        audit_record(
            user=by, action="delete", obj=assignment, source=source,
            changes={"officer": officer.collar_number, "shift": shift.pk, "reason": reason.strip(),
                     "date": local_date(shift.starts_at).isoformat()},
        )  # fmt: skip
        assignment.delete()


# --- roster cells -----------------------------------------------------------------------------


@dataclass
class CellResult:
    officer_id: int
    date: date
    kind: str
    previous: str
    overridden: list[str] = field(default_factory=list)
    rest_day_cancelled: dict | None = None

    def as_dict(self) -> dict:
        return {
            "officer": self.officer_id, "date": self.date.isoformat(), "kind": self.kind,
            "label": CELL_LABELS[self.kind], "previous": self.previous,
            "overridden": self.overridden, "rest_day_cancelled": self.rest_day_cancelled,
        }  # fmt: skip


def roster_cell_set(
    *, officer: Officer, day: date, kind: str, by: User | None, reason: str = "",
    override: bool = False,
    source: str,
) -> CellResult:  # fmt: skip
    """Set one roster cell: a shift (early, late, night), a rest day or an abstraction.

    The cell's previous content goes (a shift assignment that day, or a rest or absence mark).
    Every change is audited with who, when and why; overrides are audited as overrides.
    """
    if kind not in {"early", "late", "night", "", *DayKind.values}:
        raise Conflict(f"{kind!r} cannot be set on a roster cell", code="invalid_kind")
    now = timezone.now()
    reason = reason.strip()
    with transaction.atomic():
        officer = _lock_officers([officer.pk])[officer.pk]
        lo, hi = day_bounds(day)
        current = list(
            ShiftAssignment.objects.filter(
                officer=officer, shift__starts_at__gte=lo, shift__starts_at__lt=hi
            ).select_related("shift")
        )
        mark = RosterDay.objects.filter(officer=officer, date=day).first()
        previous = mark.kind if mark else (current[0].shift.kind if current else "")
        if kind == previous and len(current) <= 1:
            return CellResult(officer.pk, day, kind, previous)
        overridden: list[str] = []
        cancelled = None
        removed_ids = [a.shift_id for a in current]
        if kind in WORKING:
            shift = team_shift(officer=officer, day=day, kind=kind)
            keep = [a for a in current if a.shift_id == shift.pk]
            removed_ids = [a.shift_id for a in current if a.shift_id != shift.pk]
            _refuse_if_crewed(officer, removed_ids)
            if not keep:
                overridden = _check_rules(officer=officer, add=[shift], remove=removed_ids,
                                          reason=reason, override=override)  # fmt: skip
        else:
            _refuse_if_crewed(officer, removed_ids)
        if previous == DayKind.REST and kind in {*WORKING, DayKind.TRAINING, DayKind.COURT}:
            cancelled = _cancel_rest_day(officer=officer, day=day, by=by, reason=reason, now=now)
        ShiftAssignment.objects.filter(officer=officer, shift_id__in=removed_ids).delete()
        if kind in WORKING:
            if mark:
                mark.delete()
            if not keep:
                ShiftAssignment.objects.create(
                    shift=shift, officer=officer, created_by=by,
                    override_reason=reason if overridden else "",
                )  # fmt: skip
        elif kind:
            RosterDay.objects.update_or_create(
                officer=officer, date=day,
                defaults={"kind": kind, "note": reason, "created_by": by},
            )  # fmt: skip
        elif mark:
            mark.delete()
        audit_record(
            user=by, action="override" if overridden else "update", obj=officer, source=source,
            changes={"roster": {day.isoformat(): [previous, kind]}, "reason": reason,
                     "overridden": overridden, "rest_day_cancelled": cancelled},
        )  # fmt: skip
    return CellResult(officer.pk, day, kind, previous, overridden, cancelled)


# --- shift patterns ---------------------------------------------------------------------------


def parse_pattern(text: str) -> list[str]:
    """ "EELLNNRRRR" (or "E,E,L,...") → kinds. Raises ValueError naming the bad letter."""
    letters = [c for c in text.upper() if c not in " ,;-"]
    if not letters:
        raise ValueError("The pattern is empty.")
    bad = sorted({c for c in letters if c not in PATTERN_LETTERS})
    if bad:
        raise ValueError(f"Unknown letters {', '.join(bad)}: use E, L, N and R (rest day).")
    return [PATTERN_LETTERS[c] for c in letters]


@dataclass
class PatternResult:
    officers: int
    changed: int
    kept_abstractions: int
    overridden: list[str]
    rest_days_cancelled: int

    def as_dict(self) -> dict:
        return self.__dict__.copy()


def roster_pattern_apply(
    *, team: Team, start: date, days: int, pattern: list[str], by: User | None, offset: int = 0,
    reason: str = "", override: bool = False, source: str,
) -> PatternResult:  # fmt: skip
    """Apply a repeating pattern to every active officer of a team from `start` for `days`.

    All or nothing: every officer and day is checked first and any breach that stands refuses
    the whole pattern, listing what is wrong. Leave, sickness, training and court already on the
    roster are kept. Reads and writes are batched so the cost does not grow with queries.
    """
    now = timezone.now()
    reason = reason.strip()
    dates = [start + timedelta(days=i) for i in range(days)]
    wanted_kinds = sorted({k for k in pattern if k in WORKING})
    with transaction.atomic():
        officers = list(
            Officer.objects.select_for_update(no_key=True)
            .filter(team=team, active=True)
            .order_by("pk")
        )
        ids = [o.pk for o in officers]
        shifts = _team_shifts(team=team, dates=dates, kinds=wanted_kinds)
        lo, _ = day_bounds(dates[0])
        _, hi = day_bounds(dates[-1])
        current: dict[tuple[int, date], list[tuple[int, int]]] = defaultdict(list)
        for pk, officer_id, shift_id, starts_at in ShiftAssignment.objects.filter(
            officer_id__in=ids, shift__starts_at__gte=lo, shift__starts_at__lt=hi
        ).values_list("pk", "officer_id", "shift_id", "shift__starts_at"):
            current[(officer_id, local_date(starts_at))].append((pk, shift_id))
        marks = {
            (m["officer_id"], m["date"]): m
            for m in RosterDay.objects.filter(
                officer_id__in=ids, date__gte=dates[0], date__lte=dates[-1]
            ).values("pk", "officer_id", "date", "kind")
        }
        intervals = officer_intervals(ids, lo - RULE_HORIZON, hi + RULE_HORIZON)
        crewed = set(
            Crewing.objects.filter(officer_id__in=ids, booked_off_at__isnull=True).values_list(
                "officer_id", "shift_id"
            )
        )
        shift_kind = {s.pk: s.kind for s in shifts.values()}

        drop_assignments: list[int] = []
        drop_marks: list[int] = []
        new_assignments: list[ShiftAssignment] = []
        new_marks: list[RosterDay] = []
        cancellations: list[RestDayCancellation] = []
        audits: list[AuditEvent] = []
        breaches: list[Breach] = []
        kept = changed = 0
        for officer in officers:
            removed: set[int] = set()
            added: list[Interval] = []
            diff: dict[str, list[str]] = {}
            for i, day in enumerate(dates):
                kind = pattern[(i + offset) % len(pattern)]
                mark = marks.get((officer.pk, day))
                assigned = current.get((officer.pk, day), [])
                if mark and mark["kind"] in ABSTRACTIONS:
                    kept += 1
                    continue
                previous = mark["kind"] if mark else (shift_kind.get(assigned[0][1], "other")
                                                      if assigned else "")  # fmt: skip
                target = shifts.get((day, kind)) if kind in WORKING else None
                if target is not None and [s for _, s in assigned] == [target.pk]:
                    continue
                if kind == previous == DayKind.REST:
                    continue
                for pk, shift_id in assigned:
                    if (officer.pk, shift_id) in crewed:
                        breaches.append(Breach("crewed", f"{_who(officer)} is booked on in a "
                                               f"unit on {day:%a %d %b}."))  # fmt: skip
                    drop_assignments.append(pk)
                    removed.add(shift_id)
                if mark:
                    drop_marks.append(mark["pk"])
                if kind in WORKING:
                    target = cast(Shift, target)  # _team_shifts made one for each working kind
                    new_assignments.append(ShiftAssignment(shift=target, officer=officer,
                                                           created_by=by))  # fmt: skip
                    added.append(Interval(target.starts_at, target.ends_at, target.pk,
                                          f"the {kind} shift"))  # fmt: skip
                    if previous == DayKind.REST:
                        try:
                            notice = _rest_day_check(officer=officer, day=day, reason=reason,
                                                     now=now)  # fmt: skip
                        except RosterConflict as exc:
                            breaches.extend(exc.breaches)
                            continue
                        cancellations.append(RestDayCancellation(
                            officer=officer, date=day, cancelled_at=now, cancelled_by=by,
                            notice_days=notice.notice_days,
                            compensation_owed=notice.compensation_owed, reason=reason,
                        ))  # fmt: skip
                else:
                    new_marks.append(RosterDay(officer=officer, date=day, kind=kind,
                                               note=reason, created_by=by))  # fmt: skip
                diff[day.isoformat()] = [previous, kind]
            if added:
                existing = [i for i in intervals.get(officer.pk, []) if i.shift_id not in removed]
                breaches.extend(check_shifts(existing=existing, new=added, who=_who(officer)))
            if diff:
                changed += len(diff)
                audits.append(_audit_row(by=by, officer=officer, diff=diff, reason=reason,
                                         source=source))  # fmt: skip
        overridden = _judge_many(breaches, override=override, reason=reason)
        for row in audits:
            if overridden:
                row.action = AuditEvent.Action.OVERRIDE
                row.changes["overridden"] = overridden
        for a in new_assignments:
            a.override_reason = reason if overridden else ""
        ShiftAssignment.objects.filter(pk__in=drop_assignments).delete()
        RosterDay.objects.filter(pk__in=drop_marks).delete()
        ShiftAssignment.objects.bulk_create(new_assignments, batch_size=1000)
        RosterDay.objects.bulk_create(new_marks, batch_size=1000)
        RestDayCancellation.objects.bulk_create(cancellations, batch_size=1000)
        audits.append(
            _audit_row(
                by=by,
                officer=None,
                source=source,
                reason=reason,
                diff={
                    "pattern": "".join(k[0].upper() for k in pattern),
                    "team": team.pk,
                    "start": start.isoformat(),
                    "days": days,
                    "offset": offset,
                    "overridden": overridden,
                },
            )  # fmt: skip
        )
        audit_records_write(audits)
    return PatternResult(len(officers), changed, kept, overridden, len(cancellations))


def _judge_many(breaches: list[Breach], *, override: bool, reason: str) -> list[str]:
    if not breaches:
        return []
    hard = [b for b in breaches if not b.overridable]
    if hard or not (override and reason):
        shown = hard or breaches
        raise RosterConflict(
            shown,
            code="pattern_breaches",
            detail=f"The pattern breaks {len(shown)} rule(s); first: {shown[0].message}"
            + ("" if hard else " A supervisor may override these with a reason."),
        )
    return sorted({b.code for b in breaches})


def _audit_row(
    *, by: User | None, officer: Officer | None, diff: dict, reason: str, source: str
) -> AuditEvent:
    """The row `audit_record` would write, built for one bulk insert."""
    return audit_row(
        user=by, action=AuditEvent.Action.UPDATE, obj=officer,
        object_type="duties.officer" if officer else "duties.team",
        object_repr="" if officer else "pattern",
        changes={"roster": diff, "reason": reason} if officer else {**diff, "reason": reason},
        source=source,
    )  # fmt: skip


def _team_shifts(
    *, team: Team, dates: list[date], kinds: list[str]
) -> dict[tuple[date, str], Shift]:
    """The team's shifts per (date, kind), creating missing ones in one insert."""
    if not kinds:
        return {}
    lo, _ = day_bounds(dates[0])
    _, hi = day_bounds(dates[-1])

    def fetch() -> dict[tuple[date, str], Shift]:
        found: dict[tuple[date, str], Shift] = {}
        for s in Shift.objects.filter(
            team=team, kind__in=kinds, starts_at__gte=lo, starts_at__lt=hi
        ).order_by("-starts_at"):
            found[(local_date(s.starts_at), s.kind)] = s  # the earliest wins
        return found

    found = fetch()
    missing = []
    for day in dates:
        for kind in kinds:
            if (day, kind) not in found:
                start_clock, end_clock = shift_times(kind)
                end_day = day + timedelta(days=1) if end_clock <= start_clock else day
                missing.append(Shift(
                    bcu_id=team.bcu_id, team=team, kind=kind,
                    starts_at=at_local(day, start_clock), ends_at=at_local(end_day, end_clock),
                ))  # fmt: skip
    if missing:
        # ignore_conflicts: a colleague applying a pattern at the same moment made them first.
        Shift.objects.bulk_create(missing, ignore_conflicts=True)
        found = fetch()
    return found


# --- booking on and off -----------------------------------------------------------------------


def _crew_skill_ids(unit: Unit, day: date) -> list[int]:
    crew = Crewing.objects.filter(unit=unit, booked_off_at__isnull=True).values_list(
        "officer_id", flat=True
    )
    return sorted(
        {
            skill_id
            for skill_id, expires_on in OfficerSkill.objects.filter(
                officer_id__in=list(crew)
            ).values_list("skill_id", "expires_on")
            if skill_valid_on(expires_on, day)
        }
    )


def crew_book_on(
    *, unit: Unit, shift: Shift, officers: list[Officer], by: User | None, source: str,
    at: datetime | None = None,
) -> list[Crewing]:  # fmt: skip
    """Crew a unit from the officers on a shift: it becomes available with their skills."""
    at = at or timezone.now()
    if not officers:
        raise Conflict("Choose at least one officer to book on.", code="no_officers")
    with transaction.atomic():
        _incident, unit, _job = unit_lock_with_job(unit)
        locked = _lock_officers([o.pk for o in officers])
        if not unit.active:
            raise Conflict(f"{unit.callsign} is not in service", code="unit_inactive")
        if unit.bcu_id != shift.bcu_id:
            raise Conflict(f"{unit.callsign} belongs to another BCU", code="wrong_bcu")
        if not (shift.starts_at - BOOK_ON_EARLY <= at < shift.ends_at):
            raise Conflict("This shift is not on now: book on from an hour before it starts "
                           "until it ends.", code="shift_not_current")  # fmt: skip
        # A unit already crewed is taking on someone more: its skills change, its status not.
        has_crew = Crewing.objects.filter(unit=unit, booked_off_at__isnull=True).exists()
        day = local_date(shift.starts_at)
        on_shift = set(
            ShiftAssignment.objects.filter(shift=shift, officer_id__in=locked).values_list(
                "officer_id", flat=True
            )
        )
        away = set(
            RosterDay.objects.filter(
                officer_id__in=locked, date=day, kind__in=ABSTRACTIONS
            ).values_list("officer_id", flat=True)
        )
        crews = {
            c.officer_id: c
            for c in Crewing.objects.filter(
                officer_id__in=locked, booked_off_at__isnull=True
            ).select_related("unit")
        }
        created = []
        for officer in locked.values():
            if officer.pk not in on_shift:
                raise Conflict(f"{_who(officer)} is not on this shift", code="not_on_shift")
            if officer.pk in away:
                raise Conflict(f"{_who(officer)} is abstracted today", code="abstracted")
            if officer.pk in crews:
                if crews[officer.pk].unit_id == unit.pk:
                    continue
                raise Conflict(f"{_who(officer)} is already in {crews[officer.pk].unit.callsign}",
                               code="already_crewed")  # fmt: skip
            created.append(
                Crewing.objects.create(shift=shift, unit=unit, officer=officer, booked_on_at=at)
            )
        audit_record(
            user=by, action="create", obj=unit, source=source,
            changes={"book_on": [o.collar_number for o in locked.values()], "shift": shift.pk},
        )  # fmt: skip
        skill_ids = _crew_skill_ids(unit, day)
        if has_crew:
            unit_set_crew_skills(unit=unit, skill_ids=skill_ids, by=by, source=source)
        else:
            unit_book_on(unit=unit, skill_ids=skill_ids, by=by, at=at, source=source)
    return created


def crew_book_off(
    *, unit: Unit, by: User | None, source: str, officers: list[Officer] | None = None,
    at: datetime | None = None,
) -> Unit:  # fmt: skip
    """Book officers (default: the whole crew) off a unit. With nobody left it goes off duty,
    which resources refuses (409) while the unit is on a job: then nothing changes."""
    at = at or timezone.now()
    with transaction.atomic():
        _incident, unit, _job = unit_lock_with_job(unit)
        crew = Crewing.objects.select_for_update(no_key=True).filter(
            unit=unit, booked_off_at__isnull=True
        )
        if officers is not None:
            crew = crew.filter(officer_id__in=[o.pk for o in officers])
        leaving = list(crew.select_related("officer", "shift").order_by("officer_id"))
        if not leaving:
            raise Conflict(f"Nobody to book off {unit.callsign}", code="not_crewed")
        for c in leaving:
            c.booked_off_at = at
            c.save(update_fields=["booked_off_at"])
        audit_record(
            user=by, action="update", obj=unit, source=source,
            changes={"book_off": [c.officer.collar_number for c in leaving]},
        )  # fmt: skip
        remaining = Crewing.objects.filter(unit=unit, booked_off_at__isnull=True).exists()
        if not remaining:
            return unit_book_off(unit=unit, by=by, at=at, source=source)
        day = local_date(leaving[0].shift.starts_at)
        return unit_set_crew_skills(
            unit=unit, skill_ids=_crew_skill_ids(unit, day), by=by, source=source
        )


# --- planned operations ------------------------------------------------------------------------


def shift_operation_set(
    *, shift: Shift, operation: Operation | None, by: User | None, source: str = ""
) -> Shift:
    """Mark a shift for a planned operation (or clear the mark with None): its officers are
    drawn from the roster for it. The shift must overlap the operation's time (409
    `outside_operation`); the operation's log records the mark."""
    with transaction.atomic():
        shift = Shift.objects.select_for_update(no_key=True).select_related("bcu").get(pk=shift.pk)
        before = shift.operation
        if operation is not None and not (
            shift.starts_at < operation.ends_at and operation.starts_at < shift.ends_at
        ):
            raise Conflict(f"This shift does not overlap {operation.name}",
                           code="outside_operation")  # fmt: skip
        if before == operation:
            return shift
        shift.operation = operation
        shift.save(update_fields=["operation"])
        audit_record(user=by, action="update", obj=shift, source=source,
                     changes={"operation": [before.pk if before else None,
                                            operation.pk if operation else None]})  # fmt: skip
        kind = shift.get_kind_display().lower()
        when = f"{shift.bcu.code} {kind} shift of {shift.starts_at:%d %b %H:%M}"
        if before is not None:
            operation_log_record(operation=before, by=by, text=f"{when} no longer marked for it.")
        if operation is not None:
            operation_log_record(operation=operation, by=by, text=f"{when} marked for it.")
    return shift


def officer_user_link(*, user: User, collar: str, by: User | None, source: str) -> str:
    """Make `user` the account of the officer with collar number `collar` (cad_user --collar).

    An account belongs to one officer and an officer to one account: a previous link of either
    is undone in the same transaction, and both are audited. Returns the officer, as text.
    """
    with transaction.atomic():
        officer = (
            Officer.objects.select_for_update(no_key=True).filter(collar_number=collar).first()
        )
        if officer is None:
            raise DomainError(f"no officer with collar number {collar!r}", code="no_officer")
        if officer.user_id == user.pk:
            return str(officer)
        for previous in (
            Officer.objects.select_for_update(no_key=True).filter(user=user).exclude(pk=officer.pk)
        ):
            previous.user = None
            previous.save(update_fields=["user"])
            audit_record(user=by, action="update", obj=previous, source=source,
                         changes={"user": [user.username, None]})  # fmt: skip
        before = officer.user.username if officer.user else None
        officer.user = user
        officer.save(update_fields=["user"])
        audit_record(user=by, action="update", obj=officer, source=source,
                     changes={"user": [before, user.username]})  # fmt: skip
    return str(officer)
