"""What the incidents app broadcasts: one payload shape for the board, live or in a snapshot."""

from typing import Any

from cad.live.events import event_emit
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


def incident_board_payload(incident: Incident, *, fresh: bool = False) -> dict[str, Any]:
    """The board payload of an incident, read back from the database.

    `fresh`: the instance was just created with its type and BCU at hand, so every field is
    already known and the read can be skipped (it is on the hot path of every new call).
    """
    if fresh:
        row = {field: _follow(incident, field) for field in BOARD_FIELDS}
    else:
        row = Incident.objects.filter(pk=incident.pk).values(*BOARD_FIELDS).get()
    return board_incident(row)


def _follow(obj, path: str):
    for name in path.split("__"):
        if obj is None:
            return None
        obj = getattr(obj, name)
    return obj


def incident_event(incident: Incident, *, type: str, extra_bcus: list[str] | None = None):
    """Emit `incident.created|updated|closed` to the desks of its BCU (and any others named)."""
    bcu = incident.bcu.code if incident.bcu is not None else ""
    payload = incident_board_payload(incident, fresh=type == "incident.created")
    return event_emit(type=type, data=payload, bcus=[bcu, *(extra_bcus or [])])
