"""Working-time rules, as pure functions over elapsed time.

Shifts are stored as aware UTC datetimes, so every gap and total here is elapsed time: a late
ending 23:00 BST on the Saturday before the October clock change and an early at 09:00 GMT on the
Sunday are 11 hours apart (the wall clock says 10). Calendar questions (which day a shift belongs
to, notice for a rest day) use London dates through `local_date` / `day_bounds`.

Which rules a supervisor may override with a reason (docs/duties.md):
- double_booked: never (an officer cannot be in two places at once);
- insufficient_rest, max_hours: yes, with a reason, logged as an override;
- rest_day_reason_required: the "override" is the reason itself.
"""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings

LONDON = ZoneInfo("Europe/London")
MIN_REST = timedelta(hours=11)
WEEK = timedelta(days=7)
# Rest-day cancellation notice (days between the cancellation and the rest day).
COMPENSATION_NOTICE_DAYS = 15  # under this, the officer is owed compensation
REASON_NOTICE_DAYS = 8  # under this, the supervisor must record why

OVERRIDABLE = {"insufficient_rest", "max_hours"}


def max_hours_per_7_days() -> float:
    """Configurable: settings.DUTIES_MAX_HOURS_PER_7_DAYS (default 60)."""
    return float(getattr(settings, "DUTIES_MAX_HOURS_PER_7_DAYS", 60))


def local_date(moment: datetime) -> date:
    return moment.astimezone(LONDON).date()


def at_local(day: date, clock: time) -> datetime:
    """The UTC instant of a London wall-clock time (the earlier one in the repeated hour)."""
    return datetime.combine(day, clock, tzinfo=LONDON).astimezone(UTC)


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """[start, end) of a London day in UTC: 23 or 25 hours long on clock-change days."""
    return at_local(day, time(0)), at_local(day + timedelta(days=1), time(0))


def fmt_hours(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    hours, rest = divmod(minutes, 60)
    return f"{hours} h {rest:02d} min" if rest else f"{hours} h"


def fmt_local(moment: datetime) -> str:
    return moment.astimezone(LONDON).strftime("%a %d %b %H:%M")


@dataclass(frozen=True)
class Interval:
    start: datetime
    end: datetime
    shift_id: int | None = None
    label: str = ""

    @property
    def length(self) -> timedelta:
        return self.end - self.start


@dataclass
class Breach:
    code: str
    message: str
    overridable: bool = field(init=False)

    def __post_init__(self) -> None:
        self.overridable = self.code in OVERRIDABLE

    def as_dict(self) -> dict:
        return {"code": self.code, "message": self.message, "overridable": self.overridable}


def check_shifts(
    *, existing: list[Interval], new: list[Interval], who: str = "The officer"
) -> list[Breach]:
    """Breaches caused by adding `new` shifts to an officer who already works `existing`.

    Only problems that involve a new shift are reported, so an old breach elsewhere in the
    roster does not block an unrelated change.
    """
    breaches: list[Breach] = []
    everything = sorted([*existing, *new], key=lambda i: (i.start, i.end))
    new_set = set(new)
    seen: set[tuple] = set()
    for a in new:
        for b in everything:
            if b is a or b == a:
                continue
            pair = tuple(sorted([(a.start, a.end), (b.start, b.end)]))
            if pair in seen:
                continue
            if a.start < b.end and b.start < a.end:
                seen.add(pair)
                breaches.append(
                    Breach(
                        "double_booked",
                        f"{who} is already on {b.label or 'a shift'} "
                        f"{fmt_local(b.start)}–{fmt_local(b.end)}, which overlaps "
                        f"{a.label or 'this shift'}.",
                    )
                )
                continue
            gap = b.start - a.end if b.start >= a.end else a.start - b.end
            if gap < MIN_REST:
                seen.add(pair)
                first, second = (a, b) if a.start < b.start else (b, a)
                breaches.append(
                    Breach(
                        "insufficient_rest",
                        f"{who} would have only {fmt_hours(gap)} rest between "
                        f"{first.label or 'a shift'} ending {fmt_local(first.end)} and "
                        f"{second.label or 'a shift'} starting {fmt_local(second.start)} "
                        f"(at least 11 h needed).",
                    )
                )
    breaches.extend(_max_hours(everything, new_set, who))
    return breaches


def _max_hours(everything: list[Interval], new: set[Interval], who: str) -> list[Breach]:
    """Hours worked in any 7 x 24 h window that touches a new shift, against the maximum.

    The busiest window either starts at some shift's start or ends at some shift's end, so only
    those windows need checking.
    """
    limit = timedelta(hours=max_hours_per_7_days())
    if not new:
        return []
    windows = [(i.start, i.start + WEEK) for i in everything] + [
        (i.end - WEEK, i.end) for i in everything
    ]
    worst: tuple[timedelta, datetime] | None = None
    for lo, hi in windows:
        if not any(n.start < hi and lo < n.end for n in new):
            continue
        total = sum(
            (min(i.end, hi) - max(i.start, lo) for i in everything if i.start < hi and lo < i.end),
            timedelta(),
        )
        if total > limit and (worst is None or total > worst[0]):
            worst = (total, lo)
    if worst is None:
        return []
    total, lo = worst
    return [
        Breach(
            "max_hours",
            f"{who} would work {fmt_hours(total)} in the 7 days from {fmt_local(lo)} "
            f"(maximum {fmt_hours(limit)}).",
        )
    ]


@dataclass(frozen=True)
class RestNotice:
    notice_days: int
    compensation_owed: bool
    reason_required: bool


def rest_day_notice(*, rest_day: date, now: datetime) -> RestNotice:
    """Notice given when cancelling `rest_day` at `now`, counted in London calendar days."""
    notice = (rest_day - local_date(now)).days
    return RestNotice(
        notice_days=notice,
        compensation_owed=notice < COMPENSATION_NOTICE_DAYS,
        reason_required=notice < REASON_NOTICE_DAYS,
    )


def skill_valid_on(expires_on: date | None, day: date) -> bool:
    """An expired qualification (Taser, advanced driving) no longer counts."""
    return expires_on is None or expires_on >= day
