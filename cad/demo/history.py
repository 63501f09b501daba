"""`seed_demo --history N`: N days of past incidents, assignments and at-scene times, so the
performance figures (/stats/) and the roster's forecast have something to show.

Like the rest of seed_demo this is a loader: rows are bulk-created, not made by the services.
A day that already has incidents is left alone, so a re-run (or a longer history later) only
adds the days that are missing. Deterministic: every day draws from its own seeded generator.

Distributions (docs/demo-data.md):
- demand: about 60 incidents a day across London, spread over the hours of the day as the
  London Fire Brigade's 2023 calls were (`HourOfCall` in ../shared/data), over the demo's
  stations' BCUs, a little busier at weekends;
- grades: I 20 %, S 35 %, E 30 %, R 15 %;
- response (call to first unit at scene): a call-handling and despatch delay (I: 1 to 3 min;
  S: 5 to 40 min, as S calls wait behind I calls) plus a travel time drawn from the LFB's first
  pump attendance times in the same file (S runs without blue lights: 1.5 times longer). Without
  the file, a log-normal with the same median (298 s) and 90th percentile (474 s) stands in;
- 3 % of I and S calls are resolved without anyone attending; E calls are attended at an
  appointment within the day, R never;
- every unit is on duty from 07:00 to 23:00 (a status change each way), for the utilisation.
"""

from __future__ import annotations

import csv
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.models import User

from incidents.models import (
    GRADE_TARGETS,
    Call,
    ClosingCode,
    DailySequence,
    Incident,
    IncidentResponse,
    IncidentType,
)
from resources.models import Assignment, Unit, UnitStatusChange

LONDON = ZoneInfo("Europe/London")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
PER_DAY = 60
GRADES = (("I", 0.20), ("S", 0.35), ("E", 0.30), ("R", 0.15))
LFB_FILE = "lfb_incidents_2023_sample10k.csv"


@dataclass(frozen=True)
class Pattern:
    hour_weights: Sequence[float]  # 24
    attendance_s: Sequence[float]  # travel times to draw from


def _data_dir() -> Path:
    return Path(settings.BASE_DIR).parent / "shared" / "data"


def lfb_pattern(path: Path | None = None) -> Pattern:
    """The hours of the day and attendance times of the LFB sample, or a stand-in."""
    path = path or _data_dir() / LFB_FILE
    hours = [0.0] * 24
    times: list[float] = []
    if path.exists():
        with path.open(newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                hours[int(row["HourOfCall"])] += 1
                if row["FirstPumpArriving_AttendanceTime"]:
                    times.append(float(row["FirstPumpArriving_AttendanceTime"]))
    if not times:
        rng = random.Random("beacon-demo:attendance")
        # log-normal, median 298 s; 90th percentile 474 s → sigma = ln(474/298) / 1.2816
        sigma = math.log(474 / 298) / 1.2816
        times = [298 * math.exp(rng.gauss(0, sigma)) for _ in range(2000)]
        hours = [0.5, 0.4, 0.35, 0.3, 0.3, 0.35, 0.5, 0.7, 0.85, 0.9, 0.95, 1.0,
                 1.0, 1.0, 1.0, 1.05, 1.1, 1.15, 1.15, 1.1, 1.0, 0.9, 0.75, 0.6]  # fmt: skip
    return Pattern(hour_weights=hours, attendance_s=times)


def _reference(day: date, number: int) -> str:
    return f"CAD {number:04d}/{day.day:02d}{MONTHS[day.month - 1]}{day.strftime('%y')}"


def seed_history(*, days: int, today: date, now: datetime) -> int:
    """Create the missing days of the last `days` (before today). Returns incidents made."""
    if days <= 0:
        return 0
    wanted = [today - timedelta(days=back) for back in range(days, 0, -1)]
    have = set(
        Incident.objects.filter(reference_date__in=wanted)
        .values_list("reference_date", flat=True)
        .distinct()
    )
    missing = [d for d in wanted if d not in have]
    if not missing:
        return 0
    user = User.objects.filter(username="handler").first() or User.objects.order_by("pk").first()
    types = list(IncidentType.objects.filter(active=True).order_by("code"))
    closing = ClosingCode.objects.filter(active=True).order_by("code").first()
    units = list(Unit.objects.filter(active=True).select_related("station", "bcu"))
    if user is None or not types or closing is None or not units:
        return 0
    by_bcu: dict[str, list[Unit]] = {}
    for unit in units:
        by_bcu.setdefault(unit.bcu.code, []).append(unit)
    pattern = lfb_pattern()
    made = 0
    for day in missing:
        made += _seed_day(day, user, types, closing, by_bcu, pattern, now)
    return made


def _seed_day(day, user, types, closing, by_bcu, pattern, now) -> int:
    rng = random.Random(f"beacon-demo:history:{day.isoformat()}")
    count = round(PER_DAY * (1.15 if day.weekday() >= 5 else 1.0) * rng.uniform(0.85, 1.15))
    bcus = sorted(by_bcu)
    plans = []
    for _ in range(count):
        hour = rng.choices(range(24), weights=pattern.hour_weights)[0]
        local = datetime.combine(day, time(hour), tzinfo=LONDON) + timedelta(
            seconds=rng.randrange(3600)
        )
        grade = rng.choices([g for g, _ in GRADES], weights=[w for _, w in GRADES])[0]
        plans.append((local.astimezone(ZoneInfo("UTC")), grade, rng.choice(bcus)))
    plans.sort()
    incidents, outcomes = [], []
    busy_until: dict[int, datetime] = {}
    for number, (received, grade, bcu) in enumerate(plans, start=1):
        crews = by_bcu[bcu]
        station = rng.choice(crews).station
        target = GRADE_TARGETS.get(grade)
        arrived = _arrival(rng, grade, received, pattern)
        cleared = (arrived or received) + timedelta(minutes=rng.randint(20, 90))
        unit = None
        if arrived is not None:
            free = [u for u in crews if busy_until.get(u.pk, received) <= received]
            unit = rng.choice(free) if free else None
        if unit is None:
            arrived = None  # nobody free, or resolved on the phone
        else:
            busy_until[unit.pk] = cleared
        outcomes.append((received, arrived, cleared, unit))
        incidents.append(Incident(
            reference=_reference(day, number), reference_date=day, reference_number=number,
            type=rng.choice(types), grade=grade, status="closed", summary="Demo history",
            address=f"Near {station.name} station", lat=station.lat + rng.uniform(-0.012, 0.012),
            lon=station.lon + rng.uniform(-0.018, 0.018), bcu=crews[0].bcu,
            created_at=received, created_by=user, due_at=received + target if target else None,
            closing_code=closing, closed_at=min(cleared, now),
        ))  # fmt: skip
    incidents = Incident.objects.bulk_create(incidents)
    DailySequence.objects.update_or_create(date=day, defaults={"last_number": len(incidents)})
    calls, responses, jobs = [], [], []
    for incident, (received, arrived, cleared, unit) in zip(incidents, outcomes, strict=True):
        calls.append(Call(incident=incident, received_at=received, taken_by=user,
                          address=incident.address))  # fmt: skip
        if unit is not None:
            jobs.append(Assignment(
                incident=incident, unit=unit, assigned_at=received + (arrived - received) / 3,
                assigned_by=user, at_scene_at=arrived, cleared_at=min(cleared, now),
            ))  # fmt: skip
        local = received.astimezone(LONDON)
        responses.append(IncidentResponse(
            incident=incident, bcu=incident.bcu, grade=incident.grade, received_at=received,
            day=local.date(), hour_of_week=local.weekday() * 24 + local.hour,
            target_at=incident.due_at, first_at_scene_at=arrived,
            response_seconds=int((arrived - received).total_seconds()) if arrived else None,
        ))  # fmt: skip
    Call.objects.bulk_create(calls)
    Assignment.objects.bulk_create(jobs)
    # Every unit on duty from 07:00 to 23:00 that day: the utilisation's denominator.
    on = datetime.combine(day, time(7), tzinfo=LONDON)
    off = datetime.combine(day, time(23), tzinfo=LONDON)
    UnitStatusChange.objects.bulk_create(
        UnitStatusChange(unit=unit, at=at, from_status=before, to_status=after, source="demo")
        for crews in by_bcu.values()
        for unit in crews
        for at, before, after in ((on, "off_duty", "available"), (off, "available", "off_duty"))
    )
    IncidentResponse.objects.bulk_create(responses)
    return len(incidents)


def _arrival(rng: random.Random, grade: str, received: datetime, pattern: Pattern):
    travel = rng.choice(pattern.attendance_s)
    if grade == "I":
        if rng.random() < 0.03:
            return None
        return received + timedelta(seconds=rng.uniform(60, 180) + travel)
    if grade == "S":
        if rng.random() < 0.03:
            return None
        return received + timedelta(seconds=rng.uniform(300, 2400) + 1.5 * travel)
    if grade == "E":
        return received + timedelta(hours=rng.uniform(2, 10))
    return None
