"""Test helpers for recommendation: incidents built with the ORM (no incident service needed)."""

from datetime import timedelta
from itertools import count

from django.utils import timezone

from incidents.models import Incident, IncidentType, ResponsePlanItem
from resources.models import Unit

_n = count(1)


def make_incident_type(code: str = "VIOL", *, default_grade: str = "I", plan=()) -> IncidentType:
    """plan: [(unit_type or None, skill or None, grades, count)]."""
    itype, _ = IncidentType.objects.get_or_create(
        code=code,
        defaults={"name": code.title(), "category": "crime", "default_grade": default_grade},
    )
    for unit_type, skill, grades, n in plan:
        ResponsePlanItem.objects.create(
            incident_type=itype, unit_type=unit_type, skill=skill, grades=grades, count=n
        )
    return itype


def make_incident(*, user, lat: float, lon: float, grade: str = "I", itype=None, bcu=None,
                  status: str = "open") -> Incident:  # fmt: skip
    n = next(_n)
    now = timezone.now()
    return Incident.objects.create(
        reference=f"CAD {n:04d}/01Jan26", reference_date=now.date() - timedelta(days=10_000 + n),
        reference_number=n, type=itype or make_incident_type(), grade=grade, lat=lat, lon=lon,
        bcu=bcu, created_at=now, created_by=user, status=status,
    )  # fmt: skip


def place(unit: Unit, lat: float, lon: float, *, age_s: float = 0) -> Unit:
    Unit.objects.filter(pk=unit.pk).update(
        lat=lat, lon=lon, position_at=timezone.now() - timedelta(seconds=age_s)
    )
    unit.refresh_from_db()
    return unit
