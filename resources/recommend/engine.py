"""The nearest and most suitable unit: shortlist by straight line, rank by travel time.

Rules (docs/decisions/0005-recommendation.md):

1. Candidates are units that could go now, from any BCU (PCD 72: "irrespective of geographic
   boundaries"): available, then "committed but deployable" (code 7), said so. Units on an
   emergency are never suggested.
2. A unit's place is its last GPS position; older than STALE_POSITION_S it is still used, with
   a penalty and a reason. With no position at all, its home station stands in (same penalty).
3. The incident type's response plan (lines for this grade) names unit types and crew skills.
   A unit meeting at least one line is suitable; the others are ranked after every suitable
   unit (or left out, UNSUITABLE="exclude"), with what they lack as the reason.
4. Shortlist: the SHORTLIST_K nearest by straight line plus the PLAN_SHORTLIST_K nearest for each
   plan line; only those go to the router. If the router fails, straight-line estimates rank.
5. Order: suitable before not; available before committed; then score (seconds: ETA plus
   penalties) in TIE_WINDOW_S windows; inside a window the unit idle longest goes first, so the
   same unit is not always sent.

`rank()` is pure (no database); `recommend_incident()` loads the world and calls it.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypedDict

from django.db import transaction
from django.db.models import (
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone

from cad.kept import Kept
from cad.prepared import PreparedValues
from incidents.models import ResponsePlanItem
from resources.grid import LAT_OFFSET, LON_OFFSET, cell_range
from resources.models import Unit, UnitStatus, UnitType
from resources.recommend import density
from resources.recommend.conf import conf
from resources.recommend.geo import box_around, haversine_m
from resources.recommend.routers import (
    EstimateRouter,
    Origin,
    Router,
    RouterError,
    default_router,
)
from resources.recommend.training import learned_router
from resources.ringfence import ring_fenced_elsewhere

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

    from incidents.models import Incident
    from resources.models import Unit


class Placed(TypedDict):
    """free_units_query's annotations: where a unit is, or its station when that is unknown."""

    plat: float
    plon: float


NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Requirement:
    """One applicable response-plan line."""

    count: int
    unit_type: str | None = None  # code
    unit_type_name: str = ""
    skill: str | None = None  # code
    skill_name: str = ""

    def met_by(self, c: "Candidate") -> bool:
        if self.unit_type and c.type_code != self.unit_type:
            return False
        return not (self.skill and self.skill not in c.skills)

    def label(self) -> str:
        if self.unit_type and self.skill:
            return f"{self.unit_type_name} with {self.skill_name} crew"
        if self.unit_type:
            return self.unit_type_name
        return f"{self.skill_name} crew"

    def lack(self, c: "Candidate") -> str:
        """What a unit lacks for this line, as a despatcher would say it."""
        parts = []
        if self.unit_type and c.type_code != self.unit_type:
            parts.append(f"not {_article(self.unit_type_name)} {self.unit_type_name}")
        if self.skill and self.skill not in c.skills:
            parts.append(f"no {self.skill_name}")
        return " and ".join(parts)


def _article(noun: str) -> str:
    return "an" if noun[:1].lower() in "aeiou" else "a"


@dataclass
class Candidate:
    id: int
    callsign: str
    type_code: str
    bcu: str
    lat: float
    lon: float
    position_at: datetime | None
    at_station: bool = False  # no position: placed at its home station
    committed: bool = False  # unavailable but deployable (code 7)
    skills: frozenset[str] = frozenset()
    skill_names: dict[str, str] = field(default_factory=dict)
    last_cleared_at: datetime | None = None
    urban_speed_kmh: float = 0.0
    blue_light_speed_kmh: float = 0.0
    type_name: str = ""
    status: str = "available"


@dataclass
class Target:
    lat: float
    lon: float
    grade: str
    bcu: str | None = None
    requirements: list[Requirement] = field(default_factory=list)
    # The planned operation the incident belongs to: its own ring-fenced units may go to it.
    operation: int | None = None

    @property
    def skills_wanted(self) -> frozenset[str]:
        """The skills the plan's lines name: the only ones ranking reads of a unit."""
        return frozenset(r.skill for r in self.requirements if r.skill)


@dataclass
class Ranked:
    candidate: Candidate
    distance_m: float
    eta_s: float
    by_road: bool
    score: float
    suitable: bool
    meets: list[Requirement]
    lacks: list[str]
    stale_s: float | None
    reasons: list[str] = field(default_factory=list)
    note: str = ""  # the router's own words for the ETA (learned: how many attendances)
    first_share: float = 0.0  # learned router: share of nearby past incidents it came first

    def as_dict(self) -> dict:
        c = self.candidate
        return {
            "unit": c.callsign,
            "eta_seconds": round(self.eta_s),
            "distance_m": round(self.distance_m),
            "score": round(self.score, 1),
            "reasons": self.reasons,
            "suggested": self.suitable,
            "type": c.type_code,
            "bcu": c.bcu,
            "status": c.status,
            "deployable": c.committed,
            "position": {
                "lat": c.lat,
                "lon": c.lon,
                "at": c.position_at.isoformat() if c.position_at else None,
                "source": "station" if c.at_station else "gps",
            },
        }


@dataclass
class Outcome:
    results: list[Ranked]
    router: str
    fallback: str = ""  # why straight line was used, if it was
    warnings: list[str] = field(default_factory=list)
    considered: int = 0
    plan: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "results": [r.as_dict() for r in self.results],
            "router": self.router,
            "fallback": self.fallback,
            "warnings": self.warnings,
            "considered": self.considered,
            "plan": self.plan,
        }


# --- the pure part ------------------------------------------------------------------------------


def shortlist(target: Target, candidates: list[Candidate]) -> list[tuple[float, Candidate]]:
    """The K nearest by straight line, plus the nearest few meeting each plan line."""
    by_distance = sorted(
        ((haversine_m(c.lat, c.lon, target.lat, target.lon), c) for c in candidates),
        key=lambda dc: (dc[0], dc[1].callsign),
    )
    k = int(conf("SHORTLIST_K"))
    chosen = {c.id: (d, c) for d, c in by_distance[:k]}
    for req in target.requirements:
        wanted = max(req.count, int(conf("PLAN_SHORTLIST_K")))
        for d, c in by_distance:
            if wanted <= 0:
                break
            if req.met_by(c):
                chosen.setdefault(c.id, (d, c))
                wanted -= 1
    return sorted(chosen.values(), key=lambda dc: (dc[0], dc[1].callsign))


def rank(
    target: Target,
    candidates: list[Candidate],
    *,
    router: Router | None = None,
    now: datetime | None = None,
    limit: int | None = None,
) -> Outcome:
    now = now or timezone.now()
    router = router or EstimateRouter()
    limit = int(conf("RESULTS") if limit is None else limit)
    blue = target.grade in str(conf("BLUE_LIGHT_GRADES"))
    short = shortlist(target, candidates)
    origins = [Origin(c.lat, c.lon, c.urban_speed_kmh, c.blue_light_speed_kmh) for _, c in short]

    fallback = ""
    router_name = router.name
    legs: list = []
    try:
        legs = router.travel(origins, target.lat, target.lon, blue_lights=blue) if short else []
        if len(legs) != len(short):
            raise RouterError(f"router answered {len(legs)} of {len(short)} units")
    except RouterError as exc:
        fallback = f"{router.name} router failed ({exc}); ranked by straight line"
        router_name = "straight-line"
        legs = [None] * len(short)
    # Straight-line estimate for any unit the router could not answer for.
    estimator = EstimateRouter()
    missing = [i for i, leg in enumerate(legs) if leg is None]
    if missing:
        estimates = estimator.travel(
            [origins[i] for i in missing], target.lat, target.lon, blue_lights=blue
        )
        for i, leg in zip(missing, estimates, strict=True):
            legs[i] = leg

    stale_after = float(conf("STALE_POSITION_S"))
    stale_penalty = float(conf("STALE_PENALTY_S"))
    first_bonus = float(conf("LEARNED_FIRST_BONUS_S"))
    ranked: list[Ranked] = []
    for i, ((distance, c), leg) in enumerate(zip(short, legs, strict=True)):
        by_road = router.by_road and not fallback and i not in missing
        stale_s = None
        # A unit from where the first unit usually came gets a little off its score: the
        # learned router's vote (0 from every other router), tuned on the LFB's earlier months.
        score = leg.seconds - first_bonus * leg.first_share
        if c.at_station or c.position_at is None:
            score += stale_penalty
        else:
            age = (now - c.position_at).total_seconds()
            if age > stale_after:
                stale_s = age
                score += stale_penalty
        meets = [r for r in target.requirements if r.met_by(c)]
        suitable = not target.requirements or bool(meets)
        lacks = [] if suitable else [r.lack(c) for r in target.requirements]
        ranked.append(
            Ranked(
                candidate=c, distance_m=distance, eta_s=leg.seconds, by_road=by_road,
                score=score, suitable=suitable, meets=meets, lacks=lacks, stale_s=stale_s,
                note=leg.note if i not in missing and not fallback else "",
                first_share=leg.first_share,
            )
        )  # fmt: skip

    if conf("UNSUITABLE") == "exclude":
        ranked = [r for r in ranked if r.suitable]
    window = max(float(conf("TIE_WINDOW_S")), 1.0)
    ranked.sort(
        key=lambda r: (
            not r.suitable,
            r.candidate.committed,
            int(r.score // window),
            r.candidate.last_cleared_at or NEVER,  # longest idle (or never used) first
            r.score,
            r.candidate.callsign,
        )
    )
    ranked = ranked[:limit]
    for r in ranked:
        r.reasons = explain(r, target, now=now, estimated=not r.by_road)

    warnings = []
    if fallback:
        warnings.append(fallback)
    target_s = float(conf("I_GRADE_TARGET_S"))
    if target.grade == "I":
        best = min((r.eta_s for r in ranked if not r.candidate.committed), default=None)
        if best is None or best > target_s:
            warnings.append(
                f"no available unit can reach this I-grade incident within "
                f"{round(target_s / 60)} min"
                + (f" (fastest about {_minutes(best)} min)" if best is not None else "")
            )
    if target.requirements and ranked and not any(r.suitable for r in ranked):
        warnings.append("no unit meeting the response plan is free nearby")
    plan = [
        {
            "need": req.label(),
            "count": req.count,
            "units": [r.candidate.callsign for r in ranked if req in r.meets][: req.count],
        }
        for req in target.requirements
    ]
    return Outcome(
        results=ranked, router=router_name, fallback=fallback, warnings=warnings,
        considered=len(candidates), plan=plan,
    )  # fmt: skip


def _minutes(seconds: float) -> int:
    return max(1, round(seconds / 60))


def _age(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 120 else f"{round(minutes / 60)} h"


def explain(r: Ranked, target: Target, *, now: datetime, estimated: bool) -> list[str]:
    """Reasons a despatcher can read: '4 min by road, 2.1 km, Taser crew, same BCU'."""
    c = r.candidate
    how = "by road (estimated)" if estimated else "by road"
    reasons = [r.note or f"{_minutes(r.eta_s)} min {how}", f"{r.distance_m / 1000:.1f} km"]
    if r.first_share > 0:
        # Why a unit may stand above a quicker one: the learned router's vote (decision 0021).
        reasons.append(
            f"first there at {round(100 * r.first_share)} % of the nearest past incidents"
        )
    if not r.suitable:
        reasons.append("not suggested: " + "; ".join(dict.fromkeys(x for x in r.lacks if x)))
    for req in r.meets:
        reasons.append(req.label())
    if target.bcu:
        reasons.append("same BCU" if c.bcu == target.bcu else f"from {c.bcu} BCU")
    if c.committed:
        reasons.append("committed but deployable (would leave its current task)")
    if c.at_station:
        reasons.append("no position: placed at its home station")
    elif r.stale_s is not None:
        reasons.append(f"last position {_age(r.stale_s)} old")
    if c.last_cleared_at is None:
        reasons.append("no job yet this shift")
    else:
        idle = (now - c.last_cleared_at).total_seconds()
        reasons.append(f"free for {_age(max(idle, 0))}")
    return reasons


# --- loading the world ---------------------------------------------------------------------------


def _plan_queryset(*, incident_type_id: int) -> QuerySet:
    return (
        ResponsePlanItem.objects.filter(incident_type_id=incident_type_id)
        .order_by("id")
        .values_list("count", "grades", "unit_type__code", "unit_type__name", "skill__code",
                     "skill__name")
    )  # fmt: skip


PLAN = PreparedValues(ResponsePlanItem, _plan_queryset)

# A type's response plan changes when an admin edits it: seldom, and never in the middle of a
# call, so each process keeps the lines it read for PLAN_CACHE_S seconds (kept.py). An edit
# made in this process forgets them at once and again at its commit (`plan_cache_clear`,
# connected in ResourcesConfig.ready), so lines read while the edit was uncommitted are not kept
# past it (only a read still in flight at the commit can keep the old lines, for at most
# PLAN_CACHE_S); an edit made in another process is seen within PLAN_CACHE_S.
_plans: Kept[list[tuple]] = Kept(lambda: float(conf("PLAN_CACHE_S")))


def plan_lines(incident_type_id: int) -> list[tuple]:
    """The type's plan lines: (count, grades, unit type code and name, skill code and name)."""
    return _plans.get(incident_type_id, lambda: [
        tuple(row) for row in PLAN.rows("plan", incident_type_id=incident_type_id)
    ])  # fmt: skip


def plans_forget() -> None:
    """Forget every cached plan (tests, whose rolled-back plans send no signal, and edits)."""
    _plans.forget()


def plan_cache_clear(**_signal: object) -> None:
    """A plan's, a type's, a unit type's or a skill's row changed: forget the cached plans now
    and again when the change commits."""
    plans_forget()
    transaction.on_commit(plans_forget)


def requirements_for(incident_type_id: int, grade: str) -> list[Requirement]:
    return [
        Requirement(
            count=count or 1,
            unit_type=type_code,
            unit_type_name=(type_name or "").lower() if type_code else "",
            skill=skill_code,
            skill_name=skill_name or "",
        )
        for count, grades, type_code, type_name, skill_code, skill_name in plan_lines(
            incident_type_id
        )
        if not grades or grade in grades
    ]


FIELDS = (
    "id", "callsign", "type__code", "type__name", "type__urban_speed_kmh",
    "type__blue_light_speed_kmh", "bcu__code", "lat", "position_at", "status",
    "last_cleared_at", "plat", "plon",
)  # fmt: skip


def free_units_query() -> "QuerySet[WithAnnotations[Unit, Placed]]":
    """Units that could be sent now: available, or committed but deployable; never in emergency."""
    return (
        Unit.objects.filter(active=True, emergency=False)
        .filter(Q(status=UnitStatus.AVAILABLE) | Q(status=UnitStatus.UNAVAILABLE, deployable=True))
        .annotate(
            plat=Coalesce(F("lat"), F("station__lat")), plon=Coalesce(F("lon"), F("station__lon"))
        )
    )


def _candidates_queryset(
    *,
    at: datetime,
    unit_type: str | None = None,
    skill: str | None = None,
    operation: int | None = None,
    min_lat: float | None = None,
    max_lat: float | None = None,
    min_lon: float | None = None,
    max_lon: float | None = None,
    min_lat_cell: int | None = None,
    max_lat_cell: int | None = None,
    min_lon_cell: int | None = None,
    max_lon_cell: int | None = None,
    part: int | None = None,
    **wanted: str,
) -> QuerySet:
    """load_candidates' query; the box is given as all four bounds and their grid squares, or
    none. Each of `wanted` (want_0, want_1, …: skill codes) adds a column: has the unit that
    skill? `part`, when given, is a last column, the same number on every row (see
    _searches_queryset)."""
    qs = free_units_query().filter(~ring_fenced_elsewhere(at=at, operation_id=operation))
    names = sorted(wanted, key=lambda name: int(name.removeprefix("want_")))  # want_10 after _9
    through = Unit.skills.through.objects
    qs = qs.annotate(**{
        name: Exists(through.filter(unit_id=OuterRef("pk"), skill__code=wanted[name]))
        for name in names
    })  # fmt: skip
    if unit_type is not None:
        # The type's id from a subquery, not a join: the generic plan of the prepared statement
        # then has one id to look up in unit_type_cell_idx (decision 0028, stop 37).
        qs = qs.filter(type_id=Subquery(UnitType.objects.filter(code=unit_type).values("pk")))
    if skill is not None:
        qs = qs.filter(skills__code=skill)
    if min_lat is not None:
        # The grid squares first (indexed: resources/grid.py), or no position (at its station),
        # then the exact box. On the raw columns, not the COALESCE: the planner can use them.
        qs = qs.filter(
            Q(lat_cell__gte=min_lat_cell, lat_cell__lte=max_lat_cell,
              lon_cell__gte=min_lon_cell, lon_cell__lte=max_lon_cell)
            | Q(lat_cell__isnull=True)
        ).filter(
            Q(lat__gte=min_lat, lat__lte=max_lat, lon__gte=min_lon, lon__lte=max_lon)
            | Q(lat__isnull=True, station__lat__gte=min_lat, station__lat__lte=max_lat,
                station__lon__gte=min_lon, station__lon__lte=max_lon)
        )  # fmt: skip
    columns = [*FIELDS, *names]
    if part is not None:
        # Cast: a bare parameter's type would be unknown to PREPARE (and to a UNION).
        qs = qs.annotate(part=Cast(Value(part), IntegerField()))
        columns.append("part")
    # Tuples, not dicts or models: this runs for every recommendation over hundreds of rows.
    # No ORDER BY: the ranking orders them itself (the model's default sorts by call sign).
    return qs.order_by().values_list(*columns)


# Compiled once per shape (which filters apply), run with each recommendation's values.
CANDIDATES = PreparedValues(Unit, _candidates_queryset)


def _searches_queryset(**values: Any) -> QuerySet:
    """Several searches in one statement (UNION ALL), each row marked with its search's number.

    A value named `s<n>__<name>` belongs to search n; the others (the time, the operation, the
    skills wanted) to every search.
    """
    shared: dict[str, Any] = {}
    own: dict[int, dict[str, Any]] = {}
    for name, value in values.items():
        head, sep, rest = name.partition("__")
        if sep:
            own.setdefault(int(head.removeprefix("s")), {})[rest] = value
        else:
            shared[name] = value
    first, *others = [_candidates_queryset(**shared, **own[n], part=n) for n in sorted(own)]
    return first.union(*others, all=True)


SEARCHES = PreparedValues(Unit, _searches_queryset)


@dataclass(frozen=True)
class Search:
    """Free units in a box of `radius_m` around the target (None: all of London), meeting
    `line` if given."""

    line: Requirement | None
    radius_m: float | None


def _search_values(search: Search, lat: float, lon: float) -> dict[str, Any]:
    values: dict[str, Any] = {}
    line = search.line
    if line is not None and line.unit_type:
        values["unit_type"] = line.unit_type
    if line is not None and line.skill:
        values["skill"] = line.skill
    if search.radius_m is not None:
        min_lat, max_lat, min_lon, max_lon = box_around(lat, lon, search.radius_m)
        values.update(min_lat=min_lat, max_lat=max_lat, min_lon=min_lon, max_lon=max_lon)
        values["min_lat_cell"], values["max_lat_cell"] = cell_range(min_lat, max_lat, LAT_OFFSET)
        values["min_lon_cell"], values["max_lon_cell"] = cell_range(min_lon, max_lon, LON_OFFSET)
    return values


def _shared_values(operation: int | None, codes: list[str] | None) -> dict[str, Any]:
    values: dict[str, Any] = {"at": timezone.now()}
    if operation is not None:
        values["operation"] = operation
    if codes:
        # In the same query, one yes/no column each: no second round trip for the skills.
        values.update((f"want_{i}", code) for i, code in enumerate(codes))
    return values


def _candidates(rows: list[tuple], skills: dict[int, set[str]]) -> list[Candidate]:
    return [
        Candidate(
            id=pk, callsign=callsign, type_code=type_code, type_name=type_name, bcu=bcu,
            lat=plat, lon=plon, position_at=position_at if own_lat is not None else None,
            at_station=own_lat is None, committed=status != "available",
            skills=frozenset(skills.get(pk, ())), last_cleared_at=last_cleared_at,
            urban_speed_kmh=urban, blue_light_speed_kmh=blue, status=status,
        )
        for (pk, callsign, type_code, type_name, urban, blue, bcu, own_lat, position_at, status,
             last_cleared_at, plat, plon) in rows
    ]  # fmt: skip


def _split_wanted(rows: list[tuple], codes: list[str]) -> tuple[list[tuple], dict[int, set]]:
    """The rows without the skill columns, and each unit's skills among `codes`."""
    width = len(FIELDS)
    skills = {
        row[0]: {code for code, has in zip(codes, row[width:], strict=True) if has} for row in rows
    }
    return [row[:width] for row in rows], skills


def load_candidates(
    lat: float,
    lon: float,
    radius_m: float | None,
    line: Requirement | None = None,
    operation: int | None = None,
    skills_wanted: frozenset[str] | None = None,
) -> list[Candidate]:
    """Free units in a box around (lat, lon) (radius None: all of them), with their skills.

    With `line`, only units meeting that response-plan line. Units ring-fenced for a running
    planned operation are left out, unless the incident belongs to that operation. With
    `skills_wanted`, a unit's skills are only those (ranking reads no others), read as columns
    of the same query; without, every skill, by a second query.
    """
    codes = sorted(skills_wanted) if skills_wanted is not None else None
    values = _shared_values(operation, codes) | _search_values(Search(line, radius_m), lat, lon)
    rows = CANDIDATES.rows(tuple(sorted(values)), **values)
    skills: dict[int, set[str]] = {}
    if codes:
        rows, skills = _split_wanted(rows, codes)
    elif codes is None and rows:
        # Every skill (callers outside the engine's gather): the second query, as before.
        through = Unit.skills.through.objects.filter(unit_id__in=[r[0] for r in rows])
        for unit_id, code in through.values_list("unit_id", "skill__code"):
            skills.setdefault(unit_id, set()).add(code)
    return _candidates(rows, skills)


def load_searches(
    lat: float, lon: float, searches: list[Search], operation: int | None, skills: frozenset[str]
) -> list[list[Candidate]]:
    """Each search's candidates (as load_candidates with `skills_wanted`), in one round trip."""
    own = [_search_values(search, lat, lon) for search in searches]
    if len(searches) == 1 or not all(own):
        # One search; or one with neither box nor line, which the union could not tell apart
        # (its parts are numbered by their values' names): each on its own.
        return [load_candidates(lat, lon, s.radius_m, s.line, operation, skills) for s in searches]
    codes = sorted(skills)
    values = _shared_values(operation, codes)
    for n, search_values in enumerate(own):
        values.update((f"s{n}__{name}", v) for name, v in search_values.items())
    rows = SEARCHES.rows(tuple(sorted(values)), **values)
    by_search: list[list[tuple]] = [[] for _ in searches]
    for row in rows:
        by_search[row[-1]].append(row[:-1])
    found = []
    for part in by_search:
        part_rows, part_skills = _split_wanted(part, codes) if codes else (part, {})
        found.append(_candidates(part_rows, part_skills))
    return found


# Beyond this the box covers all of London and more: query without it.
MAX_RADIUS_M = 60_000
# Each widening multiplies the radius by this.
WIDEN_BY = 2.5


def _bounded(radius: float) -> float | None:
    return None if radius >= MAX_RADIUS_M else radius


def _widen(
    target: Target,
    wanted: int,
    line: Requirement | None,
    start: float,
    found: list[Candidate] | None = None,
) -> tuple[list[Candidate], float]:
    """Widen the box until `wanted` units (meeting `line`, if given) lie within its circle.

    A unit outside the box is further than every unit inside the circle, so the nearest
    `wanted` are then the same as with every unit in London. `start`: the first radius; `found`,
    if given, what a search at that radius already found.
    """
    radius = start
    while True:
        if found is None:
            found = load_candidates(
                target.lat, target.lon, _bounded(radius), line, target.operation,
                target.skills_wanted,
            )  # fmt: skip
        if _bounded(radius) is None:
            return found, radius
        inside = sum(
            1 for c in found if haversine_m(c.lat, c.lon, target.lat, target.lon) <= radius
        )
        if inside >= wanted:
            return found, radius
        radius *= WIDEN_BY
        found = None


def _free_squares_read() -> dict[str | None, dict]:
    rows = (
        free_units_query()
        .filter(lat_cell__isnull=False)  # at their stations: too few to matter, left out
        .order_by()
        .values_list("lat_cell", "lon_cell", "type__code")
        .annotate(n=Count("pk"))
    )
    return density.squares(rows)


# Free units per grid square, read by each process at most every SQUARES_KEPT_S seconds.
_free_squares: Kept[dict[str | None, dict]] = Kept(lambda: float(conf("SQUARES_KEPT_S")), most=1)


def free_squares() -> dict[str | None, dict]:
    """Free units per grid square: under None all of them, under a type's code that type's."""
    return _free_squares.get("free", _free_squares_read)


def gather(target: Target) -> list[Candidate]:
    """Every unit the shortlist could take: the nearest K, and the nearest few per plan line.

    The first box is sized from the free units around (density.py). Rare units (dog units,
    ARVs) are searched for separately, with the line as a filter, so a dog unit 15 km away costs
    one small query rather than loading every unit in London; a line of a unit type too sparse
    for the general box to hold enough is asked for in the general search's statement, sized
    from that type's own density, saving a second round trip.
    """
    k = int(conf("SHORTLIST_K"))
    per_line = int(conf("PLAN_SHORTLIST_K"))
    fill = float(conf("SEARCH_FILL"))
    least, most = float(conf("SEARCH_RADIUS_MIN_M")), float(conf("SEARCH_RADIUS_M"))
    counts = free_squares()
    start = density.first_radius_m(
        counts[None], target.lat, target.lon, fill * k, least_m=least, most_m=most
    )
    ahead: list[tuple[Requirement, float]] = []
    for req in target.requirements:
        if not req.unit_type or req.unit_type not in counts:
            continue  # a skill alone: most units could have it; a type with none free: no use
        wanted = fill * max(req.count, per_line)
        line_start = density.first_radius_m(
            counts[req.unit_type], target.lat, target.lon, wanted, least_m=least,
            most_m=MAX_RADIUS_M,
        )  # fmt: skip
        if line_start > start:
            ahead.append((req, max(line_start, start * WIDEN_BY)))
    searches = [Search(None, _bounded(start))]
    searches += [Search(req, _bounded(radius)) for req, radius in ahead]
    first = load_searches(target.lat, target.lon, searches, target.operation, target.skills_wanted)
    general, radius = _widen(target, k, None, start, found=first[0])
    asked = {req: (r, found) for (req, r), found in zip(ahead, first[1:], strict=True)}
    found = {c.id: c for c in general}
    for req in target.requirements:
        wanted = max(req.count, per_line)
        near = sum(
            1
            for c in general
            if req.met_by(c) and haversine_m(c.lat, c.lon, target.lat, target.lon) <= radius
        )
        if near >= wanted or _bounded(radius) is None:
            continue
        # The general search read every free unit in its box, so the line's own search would
        # find the same `near` at that radius or any smaller one: start one step wider. What
        # was asked ahead counts if the general search did not widen past it.
        line_start, line_found = radius * WIDEN_BY, None
        if req in asked and asked[req][0] > radius:
            line_start, line_found = asked[req]
        for c in _widen(target, wanted, req, line_start, found=line_found)[0]:
            found.setdefault(c.id, c)
    return list(found.values())


def target_for(incident: "Incident") -> Target:
    return Target(
        lat=incident.lat,
        lon=incident.lon,
        grade=incident.grade,
        bcu=incident.bcu.code if incident.bcu is not None else None,
        requirements=requirements_for(incident.type_id, incident.grade),
        operation=incident.operation_id,
    )


def configured_router(*, now: datetime | None = None) -> Router:
    """RECOMMEND_ROUTER's router; "learned" is the straight-line estimate until trained."""
    if conf("ROUTER") == "learned":
        return learned_router(now=now) or EstimateRouter()
    return default_router()


def recommend_incident(
    incident: "Incident", *, router: Router | None = None, now: datetime | None = None
) -> Outcome:
    """Rank the units that could go to this incident now."""
    target = target_for(incident)
    candidates = gather(target)
    try:
        router = router or configured_router(now=now)
    except RouterError as exc:  # misconfigured OSRM: still answer, and say why
        outcome = rank(target, candidates, router=EstimateRouter(), now=now)
        outcome.warnings.insert(0, f"router not available ({exc}); estimated")
        return outcome
    return rank(target, candidates, router=router, now=now)
