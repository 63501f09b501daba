"""Test helpers for the board: incidents made through the real call-handling service."""

from incidents.models import IncidentType
from incidents.services import incident_create


def incident_type(code: str = "ASB1", grade: str = "S") -> IncidentType:
    return IncidentType.objects.get_or_create(
        code=code, defaults={"name": "Rowdy behaviour", "category": "asb", "default_grade": grade}
    )[0]


def new_incident(user, *, where: str = "camden", grade: str = "I", summary: str = "test"):
    """An incident in Camden (BCU CN) or Lambeth (BCU AS) of the `geography` fixture."""
    lat, lon = {"camden": (51.545, -0.16), "lambeth": (51.46, -0.115)}[where]
    return incident_create(
        by=user, type_code=incident_type().code, lat=lat, lon=lon, grade=grade, summary=summary,
        address=f"1 High Street, {where.title()}", source="test",
    )  # fmt: skip
