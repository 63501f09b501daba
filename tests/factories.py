"""Small factories for tests: just enough of the world to exercise one behaviour.

Plain functions; the fixtures built on them (`geography`, `cast`, `make_user`,
`captured_events`) are in the root conftest.py. Reference data (places, unit types, units,
incident types) has no service of its own and is written directly. An incident is made by the
real service, `make_incident`; the one factory that writes incident rows straight to the
database says so in its name, `incident_row_bypassing_services`.
"""

from datetime import datetime, timedelta
from itertools import count

from django.contrib.auth.models import User
from django.utils import timezone

from cad.models import BCU, Borough, Station
from incidents.models import (
    ClosingCode,
    Incident,
    IncidentType,
    Qualifier,
    ResponsePlanItem,
)
from incidents.services import CallDetails, incident_create
from resources.models import Skill, Unit, UnitStatus, UnitType

_seq = count(1)

# The centres of the geography's two test boroughs (make_geography).
CAMDEN = (51.545, -0.16)  # BCU CN
LAMBETH = (51.46, -0.115)  # BCU AS
PLACES = {"camden": CAMDEN, "lambeth": LAMBETH}


def square(lat: float, lon: float, half: float) -> dict:
    """A GeoJSON square polygon centred on (lat, lon)."""
    ring = [
        [lon - half, lat - half],
        [lon + half, lat - half],
        [lon + half, lat + half],
        [lon - half, lat + half],
        [lon - half, lat - half],
    ]
    return {"type": "Polygon", "coordinates": [ring]}


def make_borough(bcu: BCU, name: str, lat: float, lon: float, half: float = 0.02) -> Borough:
    return Borough.objects.create(
        name=name, bcu=bcu, boundary=square(lat, lon, half), boundary_source="test",
        min_lat=lat - half, max_lat=lat + half, min_lon=lon - half, max_lon=lon + half,
        centre_lat=lat, centre_lon=lon,
    )  # fmt: skip


def make_geography() -> dict:
    cn = BCU.objects.create(code="CN", name="Central North")
    as_ = BCU.objects.create(code="AS", name="Central South")
    camden = make_borough(cn, "Camden", *CAMDEN)
    lambeth = make_borough(as_, "Lambeth", *LAMBETH)
    kentish = Station.objects.create(
        code="KT", name="Kentish Town", bcu=cn, borough=camden, lat=51.55, lon=-0.14
    )
    brixton = Station.objects.create(
        code="LD", name="Brixton", bcu=as_, borough=lambeth, lat=51.46, lon=-0.115
    )
    return {"CN": cn, "AS": as_, "camden": camden, "lambeth": lambeth,
            "kentish": kentish, "brixton": brixton}  # fmt: skip


def make_unit_type(code: str = "IRV", name: str = "Incident Response Vehicle") -> UnitType:
    return UnitType.objects.get_or_create(code=code, defaults={"name": name})[0]


def make_skill(code: str, name: str | None = None) -> Skill:
    return Skill.objects.get_or_create(code=code, defaults={"name": name or code})[0]


def make_unit(station: Station, *, callsign: str | None = None, status=UnitStatus.AVAILABLE,
              unit_type: UnitType | None = None, lat: float | None = None,
              lon: float | None = None, skills=()) -> Unit:  # fmt: skip
    n = next(_seq)
    unit = Unit.objects.create(
        callsign=callsign or f"{station.code}{n:02d}",
        type=unit_type or make_unit_type(),
        station=station,
        bcu=station.bcu,
        issi=f"9{n:06d}",
        status=status,
        status_at=timezone.now(),
        lat=station.lat if lat is None else lat,
        lon=station.lon if lon is None else lon,
        position_at=timezone.now(),
    )
    for code in skills:
        unit.skills.add(make_skill(code))
    return unit


def make_units_in_a_row(station: Station, count: int, *, prefix: str, issi_digit: str) -> None:
    """`count` available units of one type in one insert, a metre apart northwards from the
    station (an all-London snapshot of megabytes, for the socket tests)."""
    unit_type = make_unit_type()
    now = timezone.now()
    Unit.objects.bulk_create(
        Unit(callsign=f"{prefix}{i:04d}", type=unit_type, station=station, bcu=station.bcu,
             issi=f"{issi_digit}{i:06d}", status=UnitStatus.AVAILABLE, status_at=now,
             lat=station.lat + i * 1e-5, lon=station.lon, position_at=now)
        for i in range(count)
    )  # fmt: skip


# --- incidents --------------------------------------------------------------------------------


def make_incident_type(code: str = "ASB1", *, default_grade: str = "S", active: bool = True,
                       name: str | None = None, plan=()) -> IncidentType:  # fmt: skip
    """The type with this code (made if missing). plan: [(unit_type, skill, grades, count)]
    response-plan lines, unit_type and skill each None for "any"."""
    itype, _ = IncidentType.objects.get_or_create(
        code=code,
        defaults={"name": name or f"Type {code}", "category": "crime",
                  "default_grade": default_grade, "active": active},
    )  # fmt: skip
    for unit_type, skill, grades, n in plan:
        ResponsePlanItem.objects.create(
            incident_type=itype, unit_type=unit_type, skill=skill, grades=grades, count=n
        )
    return itype


def make_closing_code(code: str = "NFA", name: str = "No further action") -> ClosingCode:
    return ClosingCode.objects.get_or_create(code=code, defaults={"name": name})[0]


def make_qualifier(code: str = "DA", name: str = "Domestic abuse") -> Qualifier:
    return Qualifier.objects.get_or_create(code=code, defaults={"name": name})[0]


def make_incident(
    by: User,
    *,
    where: str = "camden",
    lat: float | None = None,
    lon: float | None = None,
    type_code: str = "ASB1",
    grade: str | None = None,
    summary: str = "test",
    address: str | None = None,
    caller_name: str = "Ann Caller",
    caller_phone: str = "07700 900123",
    at: datetime | None = None,
    source: str = "test",
) -> Incident:
    """An incident taken by `by`, made by the real service (`incidents.services.incident_create`):
    reference, call, log, audit row and board event, as a call handler's would be.

    `where` is a borough of the `geography` fixture ("camden" in BCU CN, "lambeth" in AS);
    `lat`/`lon` pin an exact point instead. `grade` defaults to the type's (S for ASB1). The
    type is made if missing.
    """
    place = PLACES[where]
    lat = place[0] if lat is None else lat
    lon = place[1] if lon is None else lon
    make_incident_type(type_code)
    address = f"1 High Street, {where.title()}" if address is None else address
    return incident_create(
        by=by, type_code=type_code, lat=lat, lon=lon, grade=grade, summary=summary,
        address=address, at=at, source=source,
        call=CallDetails(caller_name=caller_name, caller_phone=caller_phone, address=address),
    )  # fmt: skip


_row = count(1)


def incident_row_bypassing_services(
    *,
    by: User,
    lat: float,
    lon: float,
    grade: str = "I",
    itype: IncidentType | None = None,
    bcu: BCU | None = None,
    status: str = "open",
) -> Incident:
    """An Incident row written straight to the table: no call, log, audit row or event, and
    no check on place or status.

    For states the service cannot make (an incident outside every borough, "assigned" with no
    unit on it) and for recommendation tests that need many incidents and nothing else. Its
    reference is made up and dated long ago, so it never takes a number the service would give.
    """
    n = next(_row)
    now = timezone.now()
    return Incident.objects.create(
        reference=f"CAD {n:04d}/01Jan26", reference_date=now.date() - timedelta(days=10_000 + n),
        reference_number=n, type=itype or make_incident_type("VIOL", default_grade="I"),
        grade=grade, lat=lat, lon=lon, bcu=bcu, created_at=now, created_by=by, status=status,
    )  # fmt: skip


def unit_position_bypassing_services(unit: Unit, lat: float, lon: float, *,
                                     age_s: float = 0) -> Unit:  # fmt: skip
    """Put a unit at (lat, lon) with a fix `age_s` seconds old, straight to the table.

    `unit_set_position` ignores a fix older than the one held, so an aged position (for the
    recommendation's stale-position rule) cannot be made through it.
    """
    Unit.objects.filter(pk=unit.pk).update(
        lat=lat, lon=lon, position_at=timezone.now() - timedelta(seconds=age_s)
    )
    unit.refresh_from_db()
    return unit
