"""What the radio app broadcasts.

The event type is the constant below, with the function that builds and emits it; docs/events.md
lists it (type, payload, stream, emitter) and tests/test_events_contract.py holds the two
together.
"""

from typing import Any

from cad.live.events import event_emit
from cad.models import Event
from radio.models import RadioMessage
from resources.models import Assignment

# To the desks (stored, numbered, published): a despatch message not delivered in time.
RADIO_UNDELIVERED = "radio.undelivered"


def undelivered_payload(
    message: RadioMessage, assignment: Assignment, *, age_s: int
) -> dict[str, Any]:
    incident, unit = assignment.incident, assignment.unit
    return {
        "message": message.pk,
        "state": message.state,
        "note": message.note,
        "age_s": age_s,
        "queued_at": message.received_at.isoformat(),
        "incident": incident.pk,
        "reference": incident.reference,
        "incident_bcu": incident.bcu.code if incident.bcu is not None else "",
        "unit": unit.callsign,
        "unit_bcu": unit.bcu.code,
        "assignment": assignment.pk,
    }


def radio_undelivered(message: RadioMessage, assignment: Assignment, *, age_s: int) -> Event:
    """To the incident's and the unit's BCU desks and central desks: pass the job by voice."""
    payload = undelivered_payload(message, assignment, age_s=age_s)
    return event_emit(
        type=RADIO_UNDELIVERED, data=payload, bcus=[payload["incident_bcu"], payload["unit_bcu"]]
    )
