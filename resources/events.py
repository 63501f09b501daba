"""What the resources app broadcasts.

The event types are the constants below, each with the function that builds and emits it;
docs/events.md lists them (type, payload, stream, emitter) and tests/test_events_contract.py
holds the two together. Services call these functions, never `event_emit` with a type of their
own.
"""

from typing import Any

from cad.live.events import EventSpec, event_emit, event_notify, events_emit
from cad.models import BCU, Event
from incidents.models import Incident
from resources.models import Assignment, PartnerDelivery, Recommendation, Unit
from resources.selectors import unit_detail

# To the desks (stored, numbered, published).
UNIT_UPDATED = "unit.updated"
UNIT_EMERGENCY = "unit.emergency"
RECOMMENDATIONS_READY = "recommendations.ready"
# To the desks: a shared incident's document a partner agency has not acknowledged in time.
PARTNER_UNDELIVERED = "partner.undelivered"
# For reactions only (not stored, not sent to desks): radio queues the despatch message.
ASSIGNMENT_CREATED = "assignment.created"


def unit_updated(unit: Unit, *, extra_bcus: list[str] | None = None) -> Event:
    """Tell the unit's own BCU desk, central desks, and the BCU of the job it is on."""
    payload = unit_detail(unit=unit)
    job_bcu = payload["job"]["incident_bcu"] if payload["job"] else ""
    bcus = [payload["bcu"], job_bcu, *(extra_bcus or [])]
    return event_emit(type=UNIT_UPDATED, data=payload, bcus=bcus)


def unit_position_updated(unit: Unit) -> Event:
    """A GPS fix: superseded by the unit's next one, so consumers may send only the newest."""
    spec = _position_event(unit_detail(unit=unit))
    return event_emit(type=UNIT_UPDATED, data=spec.data, bcus=spec.bcus, coalesce=spec.coalesce)


def unit_positions_updated(payloads: list[dict[str, Any]]) -> list[Event]:
    """unit_position_updated for many units at once (radio/positions.py), from their details."""
    return events_emit([_position_event(payload) for payload in payloads])


def _position_event(payload: dict[str, Any]) -> EventSpec:
    job_bcu = payload["job"]["incident_bcu"] if payload["job"] else ""
    return EventSpec(
        type=UNIT_UPDATED,
        data=payload,
        bcus=[payload["bcu"], job_bcu],
        coalesce=f"unit:{payload['callsign']}",
    )


def unit_emergency(unit: Unit) -> Event:
    """An emergency goes to every desk in London: it must stand out above everything."""
    payload = unit_detail(unit=unit)
    every_bcu = list(BCU.objects.values_list("code", flat=True))
    return event_emit(type=UNIT_EMERGENCY, data=payload, bcus=every_bcu)


def recommendation_payload(rec: Recommendation, incident: Incident) -> dict[str, Any]:
    return {
        "incident": incident.pk,
        "reference": incident.reference,
        "computed_at": rec.computed_at.isoformat(),
        "trigger": rec.trigger,
        "router": rec.router,
        "results": rec.results,
        "warnings": rec.warnings,
        "plan": rec.plan,
    }


def recommendations_ready(rec: Recommendation, incident: Incident) -> Event:
    """A new or changed recommendation, to the desks of the incident's BCU."""
    return event_emit(
        type=RECOMMENDATIONS_READY,
        data=recommendation_payload(rec, incident),
        bcus=[incident.bcu.code] if incident.bcu is not None else [],
    )


def assignment_payload(assignment: Assignment) -> dict[str, Any]:
    """`assignment.created`: which assignment, incident and unit, and who sent it."""
    return {
        "assignment": assignment.pk,
        "incident": assignment.incident_id,
        "unit": assignment.unit_id,
        "by": assignment.assigned_by_id,
    }


def assignment_created(assignment: Assignment) -> None:
    """For reactions: a unit was sent to an incident (radio queues its despatch message)."""
    event_notify(type=ASSIGNMENT_CREATED, data=assignment_payload(assignment))


def partner_undelivered(delivery: PartnerDelivery, *, age_s: int) -> Event:
    """To the incident's BCU desk and central desks: the partner has not got it; phone them."""
    share = delivery.share
    incident, partner = share.incident, share.partner
    bcu = incident.bcu.code if incident.bcu is not None else ""
    payload = {
        "delivery": delivery.pk,
        "state": delivery.state,
        "attempts": delivery.attempts,
        "error": delivery.last_error,
        "age_s": age_s,
        "queued_at": delivery.queued_at.isoformat(),
        "incident": incident.pk,
        "reference": incident.reference,
        "incident_bcu": bcu,
        "partner": partner.code,
        "partner_name": partner.name,
    }
    return event_emit(type=PARTNER_UNDELIVERED, data=payload, bcus=[bcu])
