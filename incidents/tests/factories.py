"""Small factories for incident tests."""

from datetime import datetime

from incidents.models import ClosingCode, Incident, IncidentType, Qualifier
from incidents.services import CallDetails, incident_create

CAMDEN = (51.545, -0.16)  # centre of the test borough in BCU CN (tests/factories.make_geography)
LAMBETH = (51.46, -0.115)  # centre of the test borough in BCU AS


def make_type(
    code: str = "ASB1", *, default_grade: str = "S", active: bool = True, name: str | None = None
) -> IncidentType:
    return IncidentType.objects.get_or_create(
        code=code,
        defaults={
            "name": name or f"Type {code}",
            "category": "crime",
            "default_grade": default_grade,
            "active": active,
        },
    )[0]


def make_closing_code(code: str = "NFA", name: str = "No further action") -> ClosingCode:
    return ClosingCode.objects.get_or_create(code=code, defaults={"name": name})[0]


def make_qualifier(code: str = "DA", name: str = "Domestic abuse") -> Qualifier:
    return Qualifier.objects.get_or_create(code=code, defaults={"name": name})[0]


def make_incident(
    by,
    *,
    lat: float = CAMDEN[0],
    lon: float = CAMDEN[1],
    type_code: str = "ASB1",
    grade: str | None = None,
    at: datetime | None = None,
    address: str = "1 Test St",
    caller_name: str = "Ann Caller",
    caller_phone: str = "07700 900123",
) -> Incident:
    make_type(type_code)
    return incident_create(
        by=by,
        type_code=type_code,
        grade=grade,
        lat=lat,
        lon=lon,
        address=address,
        summary="test",
        at=at,
        call=CallDetails(caller_name=caller_name, caller_phone=caller_phone, address=address),
    )
