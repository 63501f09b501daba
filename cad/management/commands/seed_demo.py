"""`manage.py seed_demo`: London demo data (docs/demo-data.md). Idempotent and deterministic.

This is a loader, not a domain operation: it writes demo rows directly with the ORM and
bulk_create instead of going through the services, which are for live, one-at-a-time changes.
It only ever *creates what is missing* (looked up by natural key), so a second run changes
nothing and it never undoes edits made in the running system: a boundary loaded by
import_boundaries, an admin's change to a response plan, an officer a supervisor moved off a
shift. The exception is booking on: when the shift on duty has changed since the last run, the
previous shift's crews are booked off and the current shift's crews booked on. Users go through
cad.accounts.services.user_provision, so their roles, scope and audit rows are the real thing.

`make run` runs this on every start, so a re-run costs a few queries per part. Randomness comes
from `random.Random` seeded with fixed strings, so two fresh databases get the same data.

The command is one function per part (PARTS, in order); to add one (a gazetteer, say), write
`seed_<part>(seed)` and add it to PARTS.
"""

from __future__ import annotations

import math
import os
import random
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from cad.accounts.roles import (
    ADMIN,
    CALL_HANDLER,
    DESPATCHER,
    OFFICER,
    PARTNER_AGENCY,
    RADIO_GATEWAY,
    SUPERVISOR,
)
from cad.accounts.services import user_provision
from cad.audit.trail import audit_record
from cad.demo import fleet, geography, people, reference
from cad.demo.boundaries import generated_boundaries
from cad.demo.history import seed_history
from cad.geo.geometry import bbox_of
from cad.models import BCU, Borough, Station, UserScope
from duties.models import (
    Crewing,
    DayKind,
    Officer,
    OfficerSkill,
    Rank,
    RosterDay,
    Shift,
    ShiftAssignment,
    ShiftSkillRequirement,
    Team,
)
from duties.services import officer_user_link
from incidents.demo_gazetteer import seed_gazetteer as load_gazetteer
from incidents.models import (
    ClosingCode,
    GazetteerEntry,
    IncidentType,
    Qualifier,
    ResponsePlanItem,
    WarningMarker,
)
from resources.models import Assignment, Skill, Unit, UnitStatus, UnitStatusChange, UnitType
from resources.partners.models import PartnerAgency

LONDON = ZoneInfo("Europe/London")
BATCH = 1000

# --- Duty pattern -------------------------------------------------------------------------------
TEAM_NAMES = ("Team A", "Team B", "Team C", "Team D", "Team E")
TEAM_SIZE = 25  # 1 inspector, 3 sergeants, 21 constables: 5 × 12 × 25 = 1,500 officers
MINIMUM_STRENGTH = 18
SHIFT_SKILLS = (("RESP_DRV", 6), ("TASER", 4), ("PUBLIC_ORDER", 2), ("AFO", 2))
# (kind, start, end); an end at or before the start is on the next day.
SHIFT_TIMES = (
    (Shift.Kind.EARLY, time(7), time(15)),
    (Shift.Kind.LATE, time(14), time(22)),
    (Shift.Kind.NIGHT, time(22), time(7)),
)
# Ten-day cycle per team: 2 earlies, 2 lates, 2 nights, 4 rest days. Team t is on day
# (d + 2t) mod 10 of it, so each day has exactly one team on each shift, and every change of
# shift leaves at least 23 hours' rest. Anchored on a fixed date so re-runs agree.
ROTA = (Shift.Kind.EARLY,) * 2 + (Shift.Kind.LATE,) * 2 + (Shift.Kind.NIGHT,) * 2 + (None,) * 4
ROTA_EPOCH = date(2024, 1, 1)
DAYS_BACK, DAYS_AHEAD = 1, 27  # yesterday (its night shift may be on now) to four weeks ahead

# Skills that are scarce on a team: kept for the units that need them when pairing crews.
SCARCE = {"AFO", "DOG_HANDLER", "ADV_DRV"}
# Who must lead each unit type's crew (any one of these skills); ARV crews are both AFOs.
LEAD_SKILLS: dict[str, set[str]] = {
    "ARV": {"AFO"},
    "DOG": {"DOG_HANDLER"},
    "TRAF": {"ADV_DRV"},
    "AREA": {"ADV_DRV"},
    "IRV": {"RESP_DRV", "ADV_DRV"},
    "VAN": {"RESP_DRV", "ADV_DRV"},
    "PRIS": {"RESP_DRV", "ADV_DRV"},
    "CYCLE": {"CYCLIST"},
    "FOOT": set(),
}
# Booking order within a BCU: (type, nth of its type at the station) → round. Units in earlier
# rounds are crewed first, so a short shift still puts out a mix: one ARV, dog and traffic car,
# then an IRV at every station, then area cars, and so on.
BOOKING_ROUNDS: dict[tuple[str, int], int] = {
    ("ARV", 0): 0, ("DOG", 0): 0, ("TRAF", 0): 0,
    ("IRV", 0): 1, ("AREA", 0): 2, ("IRV", 1): 3, ("VAN", 0): 4, ("IRV", 2): 5,
    ("ARV", 1): 6, ("TRAF", 1): 6, ("FOOT", 0): 7, ("CYCLE", 0): 7, ("PRIS", 0): 8,
}  # fmt: skip

DEMO_USERS = (  # username, role (None: no role group), BCU scope
    ("handler", CALL_HANDLER, None),
    ("despatcher", DESPATCHER, None),
    ("despatcher_cn", DESPATCHER, "CN"),
    ("supervisor", SUPERVISOR, "CN"),
    ("admin", ADMIN, None),
    ("gateway", RADIO_GATEWAY, None),
    ("officer", OFFICER, "CN"),
    ("las_cad", PARTNER_AGENCY, None),
    ("lfb_cad", PARTNER_AGENCY, None),
)

# The demo's partner agencies (docs/partners.md): each is played by a `partner_simulator` that
# `make run` starts on PARTNER_SIM_PORT (+0, +1, …) and that signs in as its account above.
# (code, name, kind, EIDO agency id, account, may receive callers' details)
DEMO_PARTNERS = (
    ("LAS", "London Ambulance Service (simulated)", PartnerAgency.Kind.AMBULANCE,
     "las.sim.example", "las_cad", True),
    ("LFB", "London Fire Brigade (simulated)", PartnerAgency.Kind.FIRE,
     "lfb.sim.example", "lfb_cad", False),
)  # fmt: skip
PARTNER_SIM_PORT = 8766


@dataclass
class Seed:
    """What every part needs: the moment the run is for, and a tally of what it created."""

    now: datetime
    created: Counter = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    logins: list[tuple[str, str, str, str]] = field(default_factory=list)
    history_days: int = 0  # --history: days of past incidents (cad/demo/history.py)

    @property
    def today(self) -> date:
        return self.now.astimezone(LONDON).date()

    @staticmethod
    def rng(*parts: object) -> random.Random:
        """A generator seeded by name: the same parts always draw the same numbers."""
        return random.Random(":".join(str(p) for p in ("beacon-demo", *parts)))


def _create_missing(model, objs: list, label: str, seed: Seed) -> list:
    if objs:
        objs = model.objects.bulk_create(objs, batch_size=BATCH)
        seed.created[label] += len(objs)
    return objs


# --- Parts --------------------------------------------------------------------------------------


def seed_geography(seed: Seed) -> None:
    """BCUs, boroughs with generated boundaries (kept if real ones were imported), stations."""
    have = set(BCU.objects.values_list("code", flat=True))
    _create_missing(
        BCU,
        [BCU(code=b.code, name=b.name) for b in geography.BCUS if b.code not in have],
        "BCUs",
        seed,
    )
    bcus = {b.code: b for b in BCU.objects.all()}

    have = set(Borough.objects.values_list("name", flat=True))
    missing = [b for b in geography.BOROUGHS if b.name not in have]
    if missing:
        shapes = generated_boundaries()
        new: list[Any] = []  # rows of one model per block below
        for b in missing:
            box = bbox_of(shapes[b.name])
            new.append(
                Borough(
                    name=b.name,
                    bcu=bcus[geography.BOROUGH_BCU[b.name]],
                    boundary=shapes[b.name],
                    boundary_source="generated by seed_demo",
                    min_lat=box.min_lat,
                    max_lat=box.max_lat,
                    min_lon=box.min_lon,
                    max_lon=box.max_lon,
                    centre_lat=b.lat,
                    centre_lon=b.lon,
                )
            )
        _create_missing(Borough, new, "boroughs", seed)
    boroughs = {b.name: b for b in Borough.objects.all()}

    have = set(Station.objects.values_list("code", flat=True))
    new = [
        Station(
            code=s.code,
            name=s.name,
            borough=boroughs[s.borough],
            bcu=bcus[geography.BOROUGH_BCU[s.borough]],
            lat=s.lat,
            lon=s.lon,
        )
        for s in geography.STATIONS
        if s.code not in have
    ]
    _create_missing(Station, new, "stations", seed)


def seed_reference(seed: Seed) -> None:
    """Unit types, skills, incident types and their response plans, closing codes, qualifiers,
    warning markers. An existing row is left as it is, so admin edits survive re-runs."""
    # `have` and `new` hold one model's codes and rows per block.
    have: set[Any] = set(UnitType.objects.values_list("code", flat=True))
    new: list[Any] = [UnitType(**t._asdict()) for t in reference.UNIT_TYPES if t.code not in have]
    _create_missing(UnitType, new, "unit types", seed)

    have = set(Skill.objects.values_list("code", flat=True))
    new = [Skill(code=c, name=n) for c, n in reference.SKILLS if c not in have]
    _create_missing(Skill, new, "skills", seed)

    have = set(IncidentType.objects.values_list("code", flat=True))
    todo = [t for t in reference.INCIDENT_TYPES if t.code not in have]
    created = _create_missing(
        IncidentType,
        [
            IncidentType(
                code=t.code, name=t.name, category=t.category, default_grade=t.default_grade
            )
            for t in todo
        ],
        "incident types",
        seed,
    )
    if created:
        # A plan is written with its type only: a line an admin deleted stays deleted.
        unit_types = {u.code: u for u in UnitType.objects.all()}
        skills = {s.code: s for s in Skill.objects.all()}
        plan = [
            ResponsePlanItem(
                incident_type=itype,
                unit_type=unit_types[ut] if ut else None,
                skill=skills[sk] if sk else None,
                grades=grades,
                count=count,
            )
            for itype, data in zip(created, todo, strict=True)
            for ut, sk, grades, count in data.plan
        ]
        _create_missing(ResponsePlanItem, plan, "response plan lines", seed)

    have = set(ClosingCode.objects.values_list("code", flat=True))
    new = [ClosingCode(code=c, name=n) for c, n in reference.CLOSING_CODES if c not in have]
    _create_missing(ClosingCode, new, "closing codes", seed)

    have = set(Qualifier.objects.values_list("code", flat=True))
    new = [Qualifier(code=c, name=n) for c, n in reference.QUALIFIERS if c not in have]
    _create_missing(Qualifier, new, "qualifiers", seed)

    have = set(WarningMarker.objects.values_list("address", "text"))
    new = [
        WarningMarker(
            address=m.address,
            lat=m.lat,
            lon=m.lon,
            text=m.text,
            expires_at=seed.now + timedelta(days=m.expires_in_days)
            if m.expires_in_days is not None
            else None,
        )
        for m in reference.WARNING_MARKERS
        if (m.address, m.text) not in have
    ]
    _create_missing(WarningMarker, new, "warning markers", seed)


def seed_units(seed: Seed) -> None:
    """About 400 units (call-sign scheme in cad/demo/fleet.py), off duty at their stations."""
    have = set(Unit.objects.values_list("callsign", flat=True))
    taken_issis = set(Unit.objects.values_list("issi", flat=True))
    plan = [u for u in fleet.fleet_plan() if u.callsign not in have]
    if not plan:
        return
    stations = {s.code: s for s in Station.objects.all()}
    types = {t.code: t for t in UnitType.objects.all()}
    new = []
    for u in plan:
        issi = u.issi
        while issi in taken_issis:  # someone gave our number to another unit: take the next free
            issi = str(int(issi) + 10_000)
        taken_issis.add(issi)
        station = stations[u.station_code]
        new.append(
            Unit(
                callsign=u.callsign,
                type=types[u.type_code],
                station=station,
                bcu_id=station.bcu_id,
                issi=issi,
                status=UnitStatus.OFF_DUTY,
                lat=station.lat,
                lon=station.lon,
            )
        )
    _create_missing(Unit, new, "units", seed)


def _officer_skills(
    rng: random.Random, rank: str, member: int, today: date
) -> dict[str, date | None]:
    """{skill code: expires_on} for one officer. Quotas guarantee each team can crew an ARV,
    a dog unit and the advanced-driver cars; the rest is drawn at London-ish rates."""

    def until(lo: int, hi: int) -> date:
        return today + timedelta(days=rng.randint(lo, hi))

    skills: dict[str, date | None] = {}
    if rank == Rank.INSP:
        skills["PUBLIC_ORDER"] = until(60, 700)
        skills["FIRST_AID"] = until(30, 1000)
        return skills
    if member in (4, 5):
        skills |= {"AFO": until(90, 365), "TASER": until(90, 365), "RESP_DRV": None}
    elif member == 6:
        skills |= {"DOG_HANDLER": None, "RESP_DRV": None}
    elif member in (7, 8, 9):
        skills |= {"ADV_DRV": None, "RESP_DRV": None}
    elif rng.random() < 0.55:
        skills["RESP_DRV"] = None
    if "TASER" not in skills and rng.random() < (0.4 if rank == Rank.SGT else 0.3):
        # About one Taser ticket in eight has lapsed: the officer still holds the skill row,
        # but it no longer counts towards a unit's skills.
        skills["TASER"] = (
            today - timedelta(days=rng.randint(1, 60)) if rng.random() < 0.125 else until(20, 365)
        )
    if rng.random() < (0.5 if rank == Rank.SGT else 0.3):
        skills["PUBLIC_ORDER"] = until(30, 700)
    if rng.random() < 0.85:
        skills["FIRST_AID"] = until(30, 1000)
    if rng.random() < 0.1:
        skills["CYCLIST"] = None
    if rng.random() < 0.15:
        skills[rng.choice(reference.LANGUAGE_SKILLS)] = None
    return skills


def seed_officers(seed: Seed) -> None:
    """Five response teams per BCU of 25 officers each, with ranks and skills.

    Collar numbers are <team hundred + member><BCU>: 101CN-125CN are Team A in Central North.
    """
    bcus = list(BCU.objects.filter(code__in=[b.code for b in geography.BCUS]))
    have: set[Any] = set(Team.objects.values_list("bcu_id", "name"))
    new = [Team(bcu=b, name=n) for b in bcus for n in TEAM_NAMES if (b.id, n) not in have]
    _create_missing(Team, new, "teams", seed)
    teams = {(t.bcu_id, t.name): t for t in Team.objects.filter(name__in=TEAM_NAMES)}

    have = set(Officer.objects.values_list("collar_number", flat=True))
    new_officers: list[Officer] = []
    skills_for: dict[str, dict[str, date | None]] = {}
    for bcu in bcus:
        for t, team_name in enumerate(TEAM_NAMES):
            for member in range(TEAM_SIZE):
                collar = f"{(t + 1) * 100 + member + 1}{bcu.code}"
                if collar in have:
                    continue
                rng = seed.rng("officer", collar)
                rank = Rank.INSP if member == 0 else Rank.SGT if member <= 3 else Rank.PC
                new_officers.append(
                    Officer(
                        collar_number=collar,
                        rank=rank,
                        bcu=bcu,
                        team=teams[(bcu.id, team_name)],
                        first_name=rng.choice(people.FIRST_NAMES),
                        last_name=rng.choice(people.LAST_NAMES),
                    )
                )
                skills_for[collar] = _officer_skills(rng, rank, member, seed.today)
    created = _create_missing(Officer, new_officers, "officers", seed)
    if created:
        skills = {s.code: s for s in Skill.objects.all()}
        rows = [
            OfficerSkill(officer=o, skill=skills[code], expires_on=expires)
            for o in created
            for code, expires in skills_for[o.collar_number].items()
        ]
        _create_missing(OfficerSkill, rows, "officer skills", seed)


def _shift_window(day: date, start: time, end: time) -> tuple[datetime, datetime]:
    """Aware UTC start and end of a shift given in London wall-clock time.

    Built as London times and then converted, so a night shift over a clock change is 8 or 10
    hours long in real time, as it is for the people working it.
    """
    starts = datetime.combine(day, start, tzinfo=LONDON)
    end_day = day + timedelta(days=1) if end <= start else day
    ends = datetime.combine(end_day, end, tzinfo=LONDON)
    return starts.astimezone(UTC), ends.astimezone(UTC)


def team_on(day: date, kind: str) -> int:
    """Index into TEAM_NAMES of the team working `kind` on `day` (the ten-day ROTA)."""
    d = (day - ROTA_EPOCH).days
    for t in range(len(TEAM_NAMES)):
        if ROTA[(d + 2 * t) % len(ROTA)] == kind:
            return t
    raise ValueError(f"no team works {kind} on {day}")  # unreachable with the ROTA above


def seed_shifts(seed: Seed) -> None:
    """Early, late and night shifts for each BCU from yesterday to four weeks ahead, each with
    its team's officers, a minimum strength and the skills it needs."""
    bcus = list(BCU.objects.filter(code__in=[b.code for b in geography.BCUS]))
    teams = {(t.bcu_id, t.name): t for t in Team.objects.filter(name__in=TEAM_NAMES)}
    first = seed.today - timedelta(days=DAYS_BACK)
    days = [first + timedelta(days=i) for i in range(DAYS_BACK + DAYS_AHEAD + 1)]
    window_start, _ = _shift_window(first, time(0), time(23, 59))
    have = set(
        Shift.objects.filter(starts_at__gte=window_start).values_list("bcu_id", "kind", "starts_at")
    )
    new: list[Shift] = []
    for bcu in bcus:
        for day in days:
            for kind, start, end in SHIFT_TIMES:
                starts, ends = _shift_window(day, start, end)
                if (bcu.id, kind, starts) in have:
                    continue
                team = teams.get((bcu.id, TEAM_NAMES[team_on(day, kind)]))
                new.append(
                    Shift(
                        bcu=bcu,
                        team=team,
                        kind=kind,
                        starts_at=starts,
                        ends_at=ends,
                        minimum_strength=MINIMUM_STRENGTH,
                    )
                )
    created = _create_missing(Shift, new, "shifts", seed)
    if not created:
        return
    # Officers and requirements go with new shifts only: a supervisor's later changes to a
    # roster are theirs, not the loader's to undo.
    skills = {s.code: s for s in Skill.objects.filter(code__in=[c for c, _ in SHIFT_SKILLS])}
    reqs = [
        ShiftSkillRequirement(shift=s, skill=skills[code], count=count)
        for s in created
        for code, count in SHIFT_SKILLS
    ]
    _create_missing(ShiftSkillRequirement, reqs, "shift skill requirements", seed)
    members: dict[int, list[int]] = defaultdict(list)
    for officer_id, team_id in Officer.objects.filter(active=True, team__isnull=False).values_list(
        "id", "team_id"
    ):
        members[team_id].append(officer_id)
    rows = [
        ShiftAssignment(shift=s, officer_id=officer_id)
        for s in created
        if s.team_id
        for officer_id in members[s.team_id]
    ]
    _create_missing(ShiftAssignment, rows, "shift assignments", seed)


def seed_rest_days(seed: Seed) -> None:
    """An explicit rest day for every team officer on each day their team has no shift.

    Rest days are roster cells of their own (duties.RosterDay), so cancelling one is a change the
    rules can see. A day that already holds anything for the officer (a shift a supervisor put
    them on, leave, an earlier rest day) is left as it is.
    """
    first = seed.today - timedelta(days=DAYS_BACK)
    days = [first + timedelta(days=i) for i in range(DAYS_BACK + DAYS_AHEAD + 1)]
    window_start, _ = _shift_window(first, time(0), time(23, 59))
    team_days: dict[int, set[date]] = defaultdict(set)
    busy: set[tuple[int, date]] = set()
    for team_id, starts in Shift.objects.filter(
        starts_at__gte=window_start, team__isnull=False
    ).values_list("team_id", "starts_at"):
        team_days[team_id].add(starts.astimezone(LONDON).date())
    for officer_id, starts in ShiftAssignment.objects.filter(
        shift__starts_at__gte=window_start
    ).values_list("officer_id", "shift__starts_at"):
        busy.add((officer_id, starts.astimezone(LONDON).date()))
    busy |= set(RosterDay.objects.filter(date__gte=first).values_list("officer_id", "date"))
    rows = [
        RosterDay(officer_id=officer_id, date=day, kind=DayKind.REST)
        for officer_id, team_id in Officer.objects.filter(
            active=True, team__isnull=False
        ).values_list("id", "team_id")
        for day in days
        if day not in team_days[team_id] and (officer_id, day) not in busy
    ]
    _create_missing(RosterDay, rows, "rest days", seed)


def seed_gazetteer(seed: Seed) -> None:
    """The demo gazetteer of streets, places and postcodes for call takers' address search."""
    before = GazetteerEntry.objects.count()
    load_gazetteer()  # upserts by key, so a re-run refreshes and adds nothing
    created = GazetteerEntry.objects.count() - before
    if created:
        seed.created["gazetteer entries"] += created


def _current_shifts(now: datetime) -> dict[int, Shift]:
    """{bcu id: the shift on duty now}. Where early and late overlap, the later start wins."""
    current: dict[int, Shift] = {}
    for shift in Shift.objects.filter(
        starts_at__lte=now, ends_at__gt=now, team__isnull=False
    ).order_by("-starts_at", "id"):
        current.setdefault(shift.bcu_id, shift)
    return current


def _near(rng: random.Random, lat: float, lon: float) -> tuple[float, float]:
    """A point 200 m to 1.5 km from (lat, lon): somewhere on the station's patch."""
    r = rng.uniform(200, 1500)
    theta = rng.uniform(0, 2 * math.pi)
    dlat = r * math.cos(theta) / 111_320
    dlon = r * math.sin(theta) / (111_320 * math.cos(math.radians(lat)))
    return round(lat + dlat, 6), round(lon + dlon, 6)


def _booking_order(units: list[Unit]) -> list[Unit]:
    nth: Counter = Counter()
    keyed = []
    for unit in sorted(units, key=lambda u: u.callsign):
        key = (unit.station_id, unit.type.code)
        rnd = BOOKING_ROUNDS.get((unit.type.code, nth[key]), 9)
        nth[key] += 1
        keyed.append(((rnd, unit.callsign), unit))
    return [u for _, u in sorted(keyed, key=lambda x: x[0])]


def _pick(pool: list[Officer], skills: dict[int, set[str]], need: set[str]) -> Officer | None:
    """The officer in `pool` with one of `need` (any, if empty) and the fewest scarce skills."""
    fits = [o for o in pool if not need or skills[o.id] & need]
    if not fits:
        return None
    return min(fits, key=lambda o: (len(skills[o.id] & SCARCE), o.collar_number))


def seed_booking(seed: Seed) -> None:
    """Book the current shift's officers on to units in pairs; units get their crew's skills.

    A BCU whose current shift already has crews is left alone, so a second run in the same shift
    changes nothing and live changes (a unit sent to a job) are kept. When the shift has changed,
    the old crews are booked off first. Units on an active job are never touched.
    """
    now = seed.now
    current = _current_shifts(now)
    open_crewings = list(
        Crewing.objects.filter(booked_off_at__isnull=True).select_related("shift", "unit")
    )
    booked = {c.unit.bcu_id for c in open_crewings if current.get(c.unit.bcu_id) == c.shift}
    busy_units = set(
        Assignment.objects.filter(cleared_at__isnull=True).values_list("unit_id", flat=True)
    )
    todo = [shift for bcu_id, shift in current.items() if bcu_id not in booked]
    if not todo:
        return
    todo_bcus = {s.bcu_id for s in todo}

    # Book off the previous shift's crews in those BCUs, except on units still at a job: those
    # crews stay with their unit until it clears.
    stale = [c for c in open_crewings if c.unit.bcu_id in todo_bcus and c.unit_id not in busy_units]
    for c in stale:
        c.booked_off_at = min(now, c.shift.ends_at)
    Crewing.objects.bulk_update(stale, ["booked_off_at"], batch_size=BATCH)
    if stale:
        seed.created["crews booked off"] += len(stale)
    off_units = {c.unit_id: c.unit for c in stale}
    stale_ids = {c.id for c in stale}
    still_crewed = {c.officer_id for c in open_crewings if c.id not in stale_ids}
    officers_by_shift: dict[int, list[Officer]] = defaultdict(list)
    for a in (
        ShiftAssignment.objects.filter(shift__in=todo, officer__active=True)
        .exclude(officer__rank__in=[Rank.INSP, Rank.CI, Rank.SUPT])  # they run the shift
        .exclude(officer_id__in=still_crewed)
        .select_related("officer")
        .order_by("officer__collar_number")
    ):
        officers_by_shift[a.shift_id].append(a.officer)
    on_duty_ids = [o.id for group in officers_by_shift.values() for o in group]
    valid: dict[int, set[str]] = defaultdict(set)
    for officer_id, code, expires in OfficerSkill.objects.filter(
        officer_id__in=on_duty_ids
    ).values_list("officer_id", "skill__code", "expires_on"):
        if expires is None or expires >= seed.today:
            valid[officer_id].add(code)
    skill_ids = dict(Skill.objects.values_list("code", "id"))
    bcu_codes = dict(BCU.objects.values_list("id", "code"))  # seeds by name, not by row id

    units_by_bcu: dict[int, list[Unit]] = defaultdict(list)
    for unit in Unit.objects.filter(bcu_id__in=todo_bcus, active=True).select_related(
        "type", "station"
    ):
        if unit.id not in busy_units:
            units_by_bcu[unit.bcu_id].append(unit)

    crewings: list[Crewing] = []
    on_units: dict[int, tuple[Unit, set[str]]] = {}
    for shift in todo:
        pool = list(officers_by_shift[shift.id])
        rng = seed.rng("booking", bcu_codes[shift.bcu_id], shift.starts_at.isoformat())
        for unit in _booking_order(units_by_bcu[shift.bcu_id]):
            if len(pool) < 2:
                break
            need = LEAD_SKILLS.get(unit.type.code, set())
            lead = _pick(pool, valid, need)
            if lead is None:
                continue
            pool.remove(lead)
            mate = _pick(pool, valid, need if unit.type.code == "ARV" else set())
            if mate is None:
                pool.append(lead)
                continue
            pool.remove(mate)
            for officer in (lead, mate):
                crewings.append(Crewing(shift=shift, unit=unit, officer=officer, booked_on_at=now))
            on_units[unit.id] = (unit, valid[lead.id] | valid[mate.id])
            unit.lat, unit.lon = _near(rng, unit.station.lat, unit.station.lon)
    _create_missing(Crewing, crewings, "crew bookings", seed)

    changes: list[UnitStatusChange] = []
    touched: list[Unit] = []
    for unit_id, unit in off_units.items():
        if unit_id in on_units:
            continue
        if unit.status != UnitStatus.OFF_DUTY:
            changes.append(_status_change(unit, UnitStatus.OFF_DUTY, now))
        unit.status, unit.status_at = UnitStatus.OFF_DUTY, now
        unit.version += 1
        touched.append(unit)
    for unit, _skills in on_units.values():
        if unit.status != UnitStatus.AVAILABLE:
            changes.append(_status_change(unit, UnitStatus.AVAILABLE, now))
        unit.status, unit.status_at, unit.position_at = UnitStatus.AVAILABLE, now, now
        unit.deployable = False
        unit.version += 1
        touched.append(unit)
    Unit.objects.bulk_update(
        touched,
        ["status", "status_at", "lat", "lon", "position_at", "deployable", "version"],
        batch_size=BATCH,
    )
    through = Unit.skills.through
    through.objects.filter(unit_id__in=[u.id for u in touched]).delete()
    through.objects.bulk_create(
        [
            through(unit_id=unit.id, skill_id=skill_ids[code])
            for unit, codes in on_units.values()
            for code in sorted(codes)
        ],
        batch_size=BATCH,
    )
    _create_missing(UnitStatusChange, changes, "unit status changes", seed)
    seed.created["units booked on"] += len(on_units)


def _status_change(unit: Unit, to_status: str, at: datetime) -> UnitStatusChange:
    return UnitStatusChange(
        unit=unit, at=at, from_status=unit.status, to_status=to_status, source="roster"
    )


def seed_users(seed: Seed) -> None:
    """One demo login per role. A user that already has its role and scope is left alone, so a
    re-run neither resets a changed password nor writes another audit row."""
    password = os.environ.get("DEMO_PASSWORD", "beacon-demo-2026")
    existing = {
        u.username: u
        for u in User.objects.filter(username__in=[d[0] for d in DEMO_USERS]).prefetch_related(
            "groups"
        )
    }
    scopes = dict(
        UserScope.objects.filter(user__username__in=existing).values_list(
            "user__username", "bcu__code"
        )
    )
    for username, role, bcu_code in DEMO_USERS:
        user = existing.get(username)
        shown = password
        if role == OFFICER:
            user = _officer_user(seed, username, bcu_code, password, user)
        elif (
            user is not None
            and {g.name for g in user.groups.all()} == {role}
            and scopes.get(username) == bcu_code
        ):
            shown = "(unchanged: set when created)"
        else:
            user, created = user_provision(
                username=username, role=role, bcu_code=bcu_code, password=password, source="cli"
            )
            seed.created["users"] += int(created)
        seed.logins.append((username, role, bcu_code or "all London", shown))


def seed_partners(seed: Seed) -> None:
    """The demo's partner agencies, pointed at the simulators `make run` starts. A partner that
    exists already is left as it is (an admin may have pointed it elsewhere)."""
    port = int(os.environ.get("PARTNER_SIM_PORT") or PARTNER_SIM_PORT)
    have = set(PartnerAgency.objects.values_list("code", flat=True))
    users = {u.username: u for u in User.objects.filter(username__in=[p[4] for p in DEMO_PARTNERS])}
    for offset, (code, name, kind, agency_id, username, personal) in enumerate(DEMO_PARTNERS):
        if code in have:
            continue
        PartnerAgency.objects.create(
            code=code, name=name, kind=kind, agency_id=agency_id, user=users[username],
            endpoint=f"http://127.0.0.1:{port + offset}/", may_receive_personal=personal,
        )  # fmt: skip
        seed.created["partner agencies"] += 1


def _officer_user(
    seed: Seed, username: str, bcu_code: str | None, password: str, user: User | None
):
    """The front-line officer login: the `officer` role, linked to a constable in `bcu_code`
    who is booked on to a unit now (so /m/ has a unit to show and a job can arrive); on a later
    run, moved to one who is, if their shift has ended."""
    constables = Officer.objects.filter(bcu__code=bcu_code, rank=Rank.PC, active=True)
    # A subquery: `crewings__booked_off_at__isnull` alone would also match the uncrewed (an
    # outer join's NULL).
    crewed_now = constables.filter(
        pk__in=Crewing.objects.filter(booked_off_at__isnull=True).values("officer_id")
    )
    linked = Officer.objects.filter(user=user).first() if user is not None else None
    if linked is not None and crewed_now.filter(pk=linked.pk).exists():
        officer: Officer | None = linked  # still on duty: a re-run changes nothing
    else:
        officer = (
            crewed_now.order_by("collar_number").first()
            or constables.order_by("collar_number").first()
        )
    if officer is None:
        raise CommandError(f"no constable in {bcu_code} to link the {username!r} login to")
    if user is None:
        user = User.objects.create_user(username=username, password=password)
        UserScope.objects.create(user=user, bcu=officer.bcu)
        user.groups.add(Group.objects.get(name=OFFICER))
        audit_record(
            user=None,
            action="create",
            obj=user,
            source="cli",
            changes={"roles": [[], [OFFICER]], "officer": [None, officer.collar_number]},
        )
        seed.created["users"] += 1
    elif not user.groups.filter(name=OFFICER).exists():  # made by an older seed_demo
        user.groups.add(Group.objects.get(name=OFFICER))
        audit_record(user=None, action="update", obj=user, source="cli",
                     changes={"roles": [[], [OFFICER]]})  # fmt: skip
    if officer.user_id != user.pk:
        officer_user_link(user=user, collar=officer.collar_number, by=None, source="cli")
    crewing = officer.crewings.filter(booked_off_at__isnull=True).select_related("unit").first()
    seed.notes.append(
        f"{username} is {officer}"
        + (f", booked on to {crewing.unit.callsign}: send it a job and watch /m/" if crewing
           else ", not booked on to a unit")
    )  # fmt: skip
    return user


def seed_incident_history(seed: Seed) -> None:
    """--history N: past incidents, their units and at-scene times (cad/demo/history.py)."""
    made = seed_history(days=seed.history_days, today=seed.today, now=seed.now)
    if made:
        seed.created["past incidents"] += made


PARTS: tuple[Callable[[Seed], None], ...] = (
    seed_geography,
    seed_reference,
    seed_units,
    seed_officers,
    seed_shifts,
    seed_rest_days,
    seed_booking,
    seed_users,
    seed_partners,
    seed_gazetteer,
    seed_incident_history,
)

COUNTED = (
    BCU, Borough, Station, UnitType, Skill, Unit, IncidentType, ResponsePlanItem, ClosingCode,
    Qualifier, WarningMarker, Team, Officer, OfficerSkill, Shift, ShiftAssignment,
    ShiftSkillRequirement, Crewing, RosterDay, User, PartnerAgency,
)  # fmt: skip


def _table(rows: Iterable[tuple[str, ...]], header: tuple[str, ...]) -> list[str]:
    rows = [header, *rows]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


class Command(BaseCommand):
    help = "Load the London demo data (idempotent: running it again creates nothing new)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--at",
            help="act as if it were this ISO 8601 time (for tests and rehearsals); default now",
        )
        parser.add_argument(
            "--history",
            type=int,
            default=0,
            metavar="DAYS",
            help="also create this many days of past incidents for the performance figures "
            "(only the days missing; at most 400)",
        )

    def handle(self, *args, at=None, history=0, **options):
        if not 0 <= history <= 400:
            raise CommandError("--history takes 0 to 400 days")
        if settings.PRODUCTION:
            # Its users share a published password (DEMO_PASSWORD's default is in the README).
            raise CommandError(
                "seed_demo refuses to run with DJANGO_ENV=production: it makes demo users with "
                "a published password. Create real users with `manage.py cad_user`."
            )
        now = timezone.now()
        if at:
            given = parse_datetime(at)
            if given is None or timezone.is_naive(given):
                raise CommandError("--at needs an ISO 8601 time with an offset")
            now = given
        seed = Seed(now=now.astimezone(UTC), history_days=history)
        with transaction.atomic():
            for part in PARTS:
                part(seed)
            if seed.created:
                audit_record(
                    user=None,
                    action="create",
                    object_type="seed_demo",
                    source="cli",
                    changes={k: [0, v] for k, v in sorted(seed.created.items())},
                )
        self._report(seed)

    def _report(self, seed: Seed) -> None:
        out = self.stdout
        if seed.created:
            made = ", ".join(f"{v} {k}" for k, v in seed.created.items())
            out.write(self.style.SUCCESS(f"Demo data: created {made}."))
        else:
            out.write(self.style.SUCCESS("Demo data already present: nothing to do."))
        for note in seed.notes:
            out.write(note)
        counts = [(str(m._meta.verbose_name_plural), str(m.objects.count())) for m in COUNTED]
        counts.append(
            ("units available now", str(Unit.objects.filter(status=UnitStatus.AVAILABLE).count()))
        )
        out.write("")
        out.write("\n".join(_table(counts, ("what", "count"))))
        out.write("")
        out.write("Demo logins (password from DEMO_PASSWORD, default beacon-demo-2026):")
        out.write(
            "supervisor and admin also need a second factor: at their first login Beacon shows a"
            " setup key to enter in any authenticator app (TOTP), then asks for its code."
        )
        out.write("\n".join(_table(seed.logins, ("username", "role", "scope", "password"))))
