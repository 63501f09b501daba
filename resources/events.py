"""What the resources app broadcasts."""

from cad.live.events import EventSpec, event_emit, events_emit
from cad.models import BCU
from resources.models import Unit
from resources.selectors import unit_detail


def unit_event(unit: Unit, *, type: str = "unit.updated", extra_bcus: list[str] | None = None):
    """Tell the unit's own BCU desk, central desks, and the BCU of the job it is on."""
    payload = unit_detail(unit=unit)
    job_bcu = payload["job"]["incident_bcu"] if payload["job"] else ""
    bcus = [payload["bcu"], job_bcu, *(extra_bcus or [])]
    return event_emit(type=type, data=payload, bcus=bcus)


def unit_position_event(unit: Unit):
    """A GPS fix: superseded by the unit's next one, so consumers may send only the newest."""
    spec = _position_event(unit_detail(unit=unit))
    return event_emit(type=spec.type, data=spec.data, bcus=spec.bcus, coalesce=spec.coalesce)


def unit_position_events(payloads: list[dict]):
    """unit_position_event for many units at once (radio/positions.py), from their details."""
    return events_emit([_position_event(payload) for payload in payloads])


def _position_event(payload: dict) -> EventSpec:
    job_bcu = payload["job"]["incident_bcu"] if payload["job"] else ""
    return EventSpec(
        type="unit.updated",
        data=payload,
        bcus=[payload["bcu"], job_bcu],
        coalesce=f"unit:{payload['callsign']}",
    )


def unit_emergency_event(unit: Unit):
    """An emergency goes to every desk in London: it must stand out above everything."""
    payload = unit_detail(unit=unit)
    every_bcu = list(BCU.objects.values_list("code", flat=True))
    return event_emit(type="unit.emergency", data=payload, bcus=every_bcu)
