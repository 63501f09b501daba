"""What the resources app broadcasts."""

from cad.events import event_emit
from cad.models import BCU
from resources.models import Assignment, Unit
from resources.selectors import unit_payload

UNIT_FIELDS = (
    "id", "callsign", "type__code", "status", "lat", "lon", "position_at",
    "bcu__code", "issi", "emergency", "status_at", "deployable",
)  # fmt: skip


def unit_board_payload(unit: Unit) -> dict:
    row = Unit.objects.filter(pk=unit.pk).values(*UNIT_FIELDS).get()
    skills = list(unit.skills.values_list("code", flat=True))
    incident_id = (
        Assignment.objects.filter(unit=unit, cleared_at__isnull=True)
        .values_list("incident_id", flat=True)
        .first()
    )
    return unit_payload(row, skills, incident_id)


def unit_event(unit: Unit, *, type: str = "unit.updated", extra_bcus: list[str] | None = None):
    """Tell the unit's own BCU desk, central desks, and the BCU of the job it is on."""
    payload = unit_board_payload(unit)
    bcus = [payload["bcu"], *(extra_bcus or [])]
    return event_emit(type=type, data=payload, bcus=bcus)


def unit_emergency_event(unit: Unit):
    """An emergency goes to every desk in London: it must stand out above everything."""
    payload = unit_board_payload(unit)
    every_bcu = list(BCU.objects.values_list("code", flat=True))
    return event_emit(type="unit.emergency", data=payload, bcus=every_bcu)
