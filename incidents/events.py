"""What the incidents app broadcasts: one payload shape for the board, live or in a snapshot."""

from typing import Any

from cad.events import event_emit
from incidents.models import Incident


def board_incident(row: dict[str, Any]) -> dict[str, Any]:
    """The board's view of an incident, from a `.values()` row (keys as in BOARD_FIELDS)."""
    return {
        "id": row["id"],
        "reference": row["reference"],
        "type": row["type__code"],
        "type_name": row["type__name"],
        "grade": row["grade"],
        "status": row["status"],
        "summary": row["summary"],
        "location": {
            "lat": row["lat"],
            "lon": row["lon"],
            "address": row["address"],
            "bcu": row["bcu__code"],
        },
        "created_at": row["created_at"].isoformat(),
        "due_at": row["due_at"].isoformat() if row["due_at"] else None,
        "version": row["version"],
    }


BOARD_FIELDS = (
    "id", "reference", "type__code", "type__name", "grade", "status", "summary",
    "lat", "lon", "address", "bcu__code", "created_at", "due_at", "version",
)  # fmt: skip


def incident_board_payload(incident: Incident) -> dict[str, Any]:
    row = Incident.objects.filter(pk=incident.pk).values(*BOARD_FIELDS).get()
    return board_incident(row)


def incident_event(incident: Incident, *, type: str, extra_bcus: list[str] | None = None):
    """Emit `incident.created|updated|closed` to the desks of its BCU (and any others named)."""
    bcu = incident.bcu.code if incident.bcu_id else ""
    return event_emit(
        type=type, data=incident_board_payload(incident), bcus=[bcu, *(extra_bcus or [])]
    )
