"""The demand simulator (issue 20, parts 3 to 5; docs/simulation.md, decision 0020): a real
day's calls played into a training instance through the real services, on a simulated clock.

A discrete-event loop, not a wall-clock replay: every call, despatch, status change and close
is an event at a simulated time, handled in time order (ties in the order they were made) by
the same service functions the call handlers, the despatchers and the radio bridge use
(`incident_create`, `assignment_create`, `unit_set_status`, `unit_set_position`,
`incident_close`), each given that simulated time. The automatic despatcher takes the
recommendation engine's top unit (`recommend_incident` at the simulated time). Travel takes the
recommended unit's ETA times a seeded noise factor; call handling and time at scene are seeded
draws. Each call's draws come from a generator seeded with (seed, the call's own number), so
the same seed gives the same figures, and a what-if variant meets the same noise as its
baseline (common random numbers): the difference between the two is the change's.

`speed` only paces the loop against the wall clock (10 = ten simulated seconds a second;
0 = as fast as it goes); it never changes what happens.
"""

from __future__ import annotations

import heapq
import itertools
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as clock_time

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError

from cad.models import BCU, Station
from duties.figures.selectors import response_figures
from duties.models import SimulationRun
from duties.simulation.sources import LONDON, SourceCall
from incidents.models import ClosingCode, Incident, IncidentType
from incidents.services import incident_close, incident_create
from resources.despatch import assignment_create
from resources.models import Unit, UnitStatus
from resources.recommend.engine import Outcome, Ranked, recommend_incident
from resources.services import unit_set_position, unit_set_status, units_training_reset

SOURCE = "simulator"
DESPATCHED_GRADES = ("I", "S")  # E is by appointment and R is not attended: logged, then closed
GRADE_ORDER = {"I": 0, "S": 1, "E": 2, "R": 3}
# Call received → the despatcher sends (uniform, seconds): an I call is sent while the handler
# is still talking; an S call waits its turn behind them.
HANDLING_S = {"I": (60.0, 120.0), "S": (120.0, 600.0)}
TURNOUT_S = 30.0  # assigned → en route
TRAVEL_SIGMA = 0.25  # log-normal factor on the recommended ETA (median 1: the ETA is unbiased)
DWELL_MEDIAN_S = {"I": 45 * 60.0, "S": 35 * 60.0}  # at scene → available
DWELL_SIGMA = 0.5
UNATTENDED_CLOSE_S = 30 * 60.0  # an E or R call is resolved (closed) this long after it came in
CLOSING_CODE = "NFA"
PROGRESS_EVERY = timedelta(hours=1)


class SimulationError(Exception):
    """A run that cannot go ahead: not a training instance, a bad what-if, a world without the
    incident types or closing code the day needs."""


# --- what-if ----------------------------------------------------------------------------------

Policy = Callable[[Outcome, Incident], Ranked | None]


def _top(outcome: Outcome, incident: Incident) -> Ranked | None:
    return outcome.results[0] if outcome.results else None


def _nearest(outcome: Outcome, incident: Incident) -> Ranked | None:
    """Straight-line nearest free unit, whatever its type or the response plan."""
    return min(outcome.results, key=lambda r: (r.distance_m, r.candidate.callsign), default=None)


def _own_bcu(outcome: Outcome, incident: Incident) -> Ranked | None:
    """The best unit of the incident's own BCU; another BCU's only when it has none free."""
    code = incident.bcu.code if incident.bcu is not None else None
    own = [r for r in outcome.results if r.candidate.bcu == code]
    return own[0] if own else _top(outcome, incident)


POLICIES: dict[str, Policy] = {"top": _top, "nearest": _nearest, "own-bcu": _own_bcu}


@dataclass(frozen=True)
class Change:
    """One what-if: `fewer-units` (a percentage of the fleet off duty all day), `move-bcu`
    (one BCU's units start the day at another BCU's stations) or `policy` (how the automatic
    despatcher picks from the recommendation). Empty: the baseline."""

    kind: str = ""
    value: str = ""

    @property
    def label(self) -> str:
        return f"{self.kind}={self.value}" if self.kind else ""


def change_parse(text: str) -> Change:
    """`fewer-units=10%`, `move-bcu=CN:AS` or `policy=nearest`, checked."""
    kind, _, value = text.strip().partition("=")
    if kind == "fewer-units":
        number = value.rstrip("%")
        if not number.isdigit() or not 0 < int(number) < 100:
            raise SimulationError("fewer-units takes a percentage between 1 and 99, e.g. 10%")
        return Change(kind, f"{int(number)}%")
    if kind == "move-bcu":
        from_code, _, to_code = value.upper().partition(":")
        if not from_code or not to_code or from_code == to_code:
            raise SimulationError("move-bcu takes FROM:TO, two different BCU codes, e.g. CN:AS")
        return Change(kind, f"{from_code}:{to_code}")
    if kind == "policy":
        if value not in POLICIES:
            raise SimulationError(f"policy must be one of {', '.join(POLICIES)}")
        return Change(kind, value)
    raise SimulationError("a what-if is fewer-units=N%, move-bcu=FROM:TO or policy=NAME")


# --- the run ------------------------------------------------------------------------------------


@dataclass
class DayResult:
    calls: int
    despatched: int
    figures: dict
    simulated_seconds: float
    wall_seconds: float
    skipped: list[str] = field(default_factory=list)
    # Paced runs: the most any event was handled after its moment on the wall clock (a loop
    # that cannot keep up with `speed` falls behind; it never skips).
    worst_lag_s: float = 0.0


@dataclass
class _Draws:
    """A call's own random draws, made once in a fixed order when the call comes in."""

    handling_s: float
    travel_factor: float
    dwell_s: float


def _draws(seed: int, call: SourceCall) -> _Draws:
    rng = random.Random(f"{seed}:{call.key}")
    low, high = HANDLING_S.get(call.grade, (0.0, 0.0))
    return _Draws(
        handling_s=rng.uniform(low, high),
        travel_factor=rng.lognormvariate(0.0, TRAVEL_SIGMA),
        dwell_s=DWELL_MEDIAN_S.get(call.grade, 0.0) * rng.lognormvariate(0.0, DWELL_SIGMA),
    )


def _check_world(calls: list[SourceCall]) -> ClosingCode:
    wanted = {c.type_code for c in calls}
    have = set(
        IncidentType.objects.filter(code__in=wanted, active=True).values_list("code", flat=True)
    )
    if missing := sorted(wanted - have):
        raise SimulationError(
            f"this instance has no active incident type {', '.join(missing)} (the day needs "
            "them; seed_demo loads them)"
        )
    closing = (
        ClosingCode.objects.filter(code=CLOSING_CODE, active=True).first()
        or ClosingCode.objects.filter(active=True).order_by("code").first()
    )
    if closing is None:
        raise SimulationError("this instance has no active closing code")
    if not Unit.objects.filter(active=True).exists():
        raise SimulationError("this instance has no active units")
    return closing


def _apply_change(
    change: Change, units: list[Unit], *, seed: int, at: datetime, by: User | None
) -> Policy:
    if change.kind == "fewer-units":
        rng = random.Random(f"{seed}:fewer-units")
        gone = rng.sample(units, round(len(units) * int(change.value.rstrip("%")) / 100))
        for unit in sorted(gone, key=lambda u: u.callsign):
            unit_set_status(unit=unit, status=UnitStatus.OFF_DUTY, at=at, source=SOURCE, by=by,
                            note=f"what-if {change.label}")  # fmt: skip
    elif change.kind == "move-bcu":
        from_code, to_code = change.value.split(":")
        for code in (from_code, to_code):
            if not BCU.objects.filter(code=code).exists():
                raise SimulationError(f"move-bcu: no BCU {code}")
        stations = list(Station.objects.filter(bcu__code=to_code).order_by("code"))
        moving = [u for u in units if u.bcu.code == from_code]
        if not stations or not moving:
            raise SimulationError(f"move-bcu: {from_code} has no units or {to_code} no stations")
        for i, unit in enumerate(moving):
            station = stations[i % len(stations)]
            unit_set_position(unit=unit, lat=station.lat, lon=station.lon, at=at, source=SOURCE,
                              by=by)  # fmt: skip
    return POLICIES[change.value] if change.kind == "policy" else _top


def simulate_day(
    *,
    calls: list[SourceCall],
    seed: int,
    by: User,
    change: Change | None = None,
    speed: float = 0.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    say: Callable[[str], None] = lambda line: None,
) -> DayResult:
    """Play one day's calls (all of one London date, in time order) through the services on a
    simulated clock, then every job to its end; return the day's response figures by grade
    (docs/stats.md's rules, over this run's incidents only)."""
    if not settings.TRAINING:
        raise SimulationError("the simulator runs only on a training instance (TRAINING=true)")
    if not calls:
        raise SimulationError("no calls to play")
    change = change or Change()
    closing = _check_world(calls)
    day = calls[0].received_at.astimezone(LONDON).date()
    start = datetime.combine(day, clock_time(0), tzinfo=LONDON)
    units = units_training_reset(at=start, by=by, source=SOURCE)
    by_callsign = {u.callsign: u for u in Unit.objects.filter(active=True).select_related("bcu")}
    policy = _apply_change(change, list(by_callsign.values()), seed=seed, at=start, by=by)
    say(f"{len(units)} units available at their stations at {start:%Y-%m-%d %H:%M} (London)"
        + (f"; what-if {change.label}" if change.kind else ""))  # fmt: skip

    heap: list[tuple[datetime, int, str, str]] = []
    order = itertools.count()

    def push(at: datetime, kind: str, key: str) -> None:
        heapq.heappush(heap, (at, next(order), kind, key))

    by_key = {c.key: c for c in calls}
    draws: dict[str, _Draws] = {}
    incidents: dict[str, Incident] = {}
    unit_on: dict[str, Unit] = {}  # incident key → the unit sent
    waiting: list[tuple[int, datetime, str]] = []  # (grade order, received, key)
    skipped: list[str] = []
    despatched = 0
    for call in calls:
        push(call.received_at, "call", call.key)

    def despatch(key: str, at: datetime) -> bool:
        nonlocal despatched
        incident = incidents[key]
        choice = policy(recommend_incident(incident, now=at), incident)
        if choice is None:
            return False
        unit = by_callsign[choice.candidate.callsign]
        assignment_create(incident=incident, unit=unit, by=by, source=SOURCE, at=at)
        despatched += 1
        unit_on[key] = unit
        d = draws[key]
        travel = max(TURNOUT_S + 1, choice.eta_s * d.travel_factor)
        arrive = at + timedelta(seconds=travel)
        push(at + timedelta(seconds=TURNOUT_S), "en_route", key)
        push(arrive, "at_scene", key)
        push(arrive + timedelta(seconds=d.dwell_s), "clear", key)
        return True

    wall_start = clock()
    next_progress = start + PROGRESS_EVERY
    at = start
    worst_lag = 0.0
    while heap:
        at, _, kind, key = heapq.heappop(heap)
        if speed > 0:
            wait = wall_start + (at - start).total_seconds() / speed - clock()
            if wait > 0:
                sleep(wait)
            worst_lag = max(worst_lag, -wait)
        while at >= next_progress:
            say(f"{next_progress:%H:%M} {len(incidents)} calls, {despatched} despatched, "
                f"{len(waiting)} waiting for a unit")  # fmt: skip
            next_progress += PROGRESS_EVERY
        if kind == "call":
            call = by_key[key]
            try:
                incidents[key] = incident_create(
                    by=by, type_code=call.type_code, lat=call.lat, lon=call.lon,
                    address=f"Simulated at {call.lat:.5f}, {call.lon:.5f}", grade=call.grade,
                    summary=call.summary, source=SOURCE, at=at,
                )  # fmt: skip
            except ValidationError as exc:
                skipped.append(f"{key}: {'; '.join(exc.messages)}")
                continue
            draws[key] = _draws(seed, call)
            if call.grade in DESPATCHED_GRADES:
                push(at + timedelta(seconds=draws[key].handling_s), "despatch", key)
            else:
                push(at + timedelta(seconds=UNATTENDED_CLOSE_S), "close", key)
        elif kind == "despatch":
            if not despatch(key, at):
                waiting.append((GRADE_ORDER[by_key[key].grade], by_key[key].received_at, key))
        elif kind == "en_route":
            unit_set_status(unit=unit_on[key], status=UnitStatus.EN_ROUTE, at=at, source=SOURCE,
                            by=by)  # fmt: skip
        elif kind == "at_scene":
            call = by_key[key]
            unit_set_position(unit=unit_on[key], lat=call.lat, lon=call.lon, at=at,
                              source=SOURCE, by=by)  # fmt: skip
            unit_set_status(unit=unit_on[key], status=UnitStatus.AT_SCENE, at=at, source=SOURCE,
                            by=by)  # fmt: skip
        elif kind == "clear":
            unit_set_status(unit=unit_on[key], status=UnitStatus.AVAILABLE, at=at,
                            source=SOURCE, by=by)  # fmt: skip
            incident_close(incident=incidents[key], by=by, closing_code=closing.code,
                           source=SOURCE, at=at)  # fmt: skip
            # The freed unit goes to the most urgent, then longest-waiting, call in the queue.
            waiting.sort()
            while waiting and despatch(waiting[0][2], at):
                waiting.pop(0)
        elif kind == "close":
            incident_close(incident=incidents[key], by=by, closing_code=closing.code,
                           source=SOURCE, at=at)  # fmt: skip
    wall = clock() - wall_start
    figures = response_figures(
        bcu=None, date_from=day, date_to=day, now=at,
        incidents=[i.pk for i in incidents.values()],
    )["grades"]  # fmt: skip
    return DayResult(
        calls=len(incidents), despatched=despatched, figures=figures,
        simulated_seconds=(at - start).total_seconds(), wall_seconds=wall, skipped=skipped,
        worst_lag_s=worst_lag,
    )  # fmt: skip


def simulation_run_record(
    *,
    result: DayResult,
    source: str,
    day: date,
    seed: int,
    change: Change,
    by: User | None,
    baseline: SimulationRun | None = None,
) -> SimulationRun:
    """Keep a run's figures for the what-if page (training instance only, as the runs)."""
    if not settings.TRAINING:
        raise SimulationError("runs are kept only on a training instance (TRAINING=true)")
    return SimulationRun.objects.create(
        by=by, source=source, day=day, seed=seed, change=change.label, baseline=baseline,
        calls=result.calls, despatched=result.despatched, figures=result.figures,
        simulated_seconds=result.simulated_seconds, wall_seconds=result.wall_seconds,
    )  # fmt: skip
