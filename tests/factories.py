"""Small factories for tests: just enough of the world to exercise one behaviour."""

from itertools import count

from django.utils import timezone

from cad.models import BCU, Borough, Station
from resources.models import Skill, Unit, UnitStatus, UnitType

_seq = count(1)


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
    camden = make_borough(cn, "Camden", 51.545, -0.16)
    lambeth = make_borough(as_, "Lambeth", 51.46, -0.115)
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
