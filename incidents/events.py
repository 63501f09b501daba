"""What the incidents app broadcasts: one payload shape for the board, live or in a snapshot.

The event types are the constants below, each with the function that builds and emits it;
docs/events.md lists them (type, payload, stream, emitter) and tests/test_events_contract.py
holds the two together. Services call these functions, never `event_emit` with a type of their
own.
"""

from typing import Any

from cad.live.events import event_emit, event_notify
from cad.models import BCU, Event
from cad.prepared import PreparedValues
from incidents.models import Incident, MajorIncident, OnlineReport, Operation

# To the desks (stored, numbered, published): the board's view of the incident.
INCIDENT_CREATED = "incident.created"
INCIDENT_UPDATED = "incident.updated"
INCIDENT_CLOSED = "incident.closed"
# For reactions only (not stored, not sent to desks): resources refreshes recommendations.
INCIDENT_REGRADED = "incident.regraded"
INCIDENT_REOPENED = "incident.reopened"
# Planned operations and major incidents (incidents/operations/).
OPERATION_UPDATED = "operation.updated"
MAJOR_INCIDENT_DECLARED = "major.declared"
MAJOR_INCIDENT_STOOD_DOWN = "major.stood_down"
# The public's side (incidents/public/): the triage queue's changes and its overdue alert, to
# the central desks and the report's BCU. No personal data: reference, category, risks, state.
ONLINE_REPORT_CREATED = "report.created"
ONLINE_REPORT_TRIAGED = "report.triaged"
ONLINE_REPORT_OVERDUE = "report.overdue"


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
        "operation": row["operation_id"],
    }


BOARD_FIELDS = (
    "id", "reference", "type__code", "type__name", "grade", "status", "summary",
    "lat", "lon", "address", "bcu__code", "created_at", "due_at", "version", "operation_id",
)  # fmt: skip


# Read after every change to an incident (its `incident.updated`): compiled once and prepared
# on the server (cad/prepared.py, decision 0036).
BOARD_ROW = PreparedValues(
    Incident,
    lambda *, incident_id: Incident.objects.filter(pk=incident_id).values_list(*BOARD_FIELDS),
)


def incident_board_payload(incident: Incident, *, fresh: bool = False) -> dict[str, Any]:
    """The board payload of an incident, read back from the database.

    `fresh`: the instance was just created with its type and BCU at hand, so every field is
    already known and the read can be skipped (it is on the hot path of every new call).
    """
    if fresh:
        row = {field: _follow(incident, field) for field in BOARD_FIELDS}
    else:
        (values,) = BOARD_ROW.rows("board", incident_id=incident.pk)
        row = dict(zip(BOARD_FIELDS, values, strict=True))
    return board_incident(row)


def _follow(obj, path: str):
    for name in path.split("__"):
        if obj is None:
            return None
        obj = getattr(obj, name)
    return obj


def _bcus(incident: Incident, extra_bcus: list[str] | None) -> list[str]:
    return [incident.bcu.code if incident.bcu is not None else "", *(extra_bcus or [])]


def incident_created(incident: Incident) -> Event:
    """A new incident, to the desks of its BCU (reactions: recommend units for it)."""
    payload = incident_board_payload(incident, fresh=True)
    return event_emit(type=INCIDENT_CREATED, data=payload, bcus=_bcus(incident, None))


def incident_updated(incident: Incident, *, extra_bcus: list[str] | None = None) -> Event:
    """Anything about the incident changed, to the desks of its BCU and any others named (the
    BCU of a unit sent across the border)."""
    payload = incident_board_payload(incident)
    return event_emit(type=INCIDENT_UPDATED, data=payload, bcus=_bcus(incident, extra_bcus))


def incident_closed(incident: Incident) -> Event:
    """The incident was resulted and closed."""
    payload = incident_board_payload(incident)
    return event_emit(type=INCIDENT_CLOSED, data=payload, bcus=_bcus(incident, None))


def incident_changed_payload(incident: Incident) -> dict[str, Any]:
    """`incident.regraded` and `incident.reopened`: which incident."""
    return {"incident": incident.pk}


def incident_regraded(incident: Incident) -> None:
    """For reactions: the grade changed, so the units that suit it may have changed."""
    event_notify(type=INCIDENT_REGRADED, data=incident_changed_payload(incident))


def incident_reopened(incident: Incident) -> None:
    """For reactions: a closed incident is open again, unresourced."""
    event_notify(type=INCIDENT_REOPENED, data=incident_changed_payload(incident))


# --- planned operations and major incidents --------------------------------------------------


def operation_payload(operation: Operation) -> dict[str, Any]:
    """The board's and the operation stream's view of an operation."""
    return {
        "operation": operation.pk,
        "name": operation.name,
        "starts_at": operation.starts_at.isoformat(),
        "ends_at": operation.ends_at.isoformat(),
        "bcu": operation.bcu.code,
        "location": {"lat": operation.lat, "lon": operation.lon, "address": operation.address},
        "radius_m": operation.radius_m,
        "polygon": operation.polygon,
        "commander": operation.commander,
        "version": operation.version,
        "change": "",
    }


def operation_updated(operation: Operation, *, change: str) -> Event:
    """The operation was created or changed (`change` says how: "created", "unit ring-fenced",
    "logged", ...), to the desks of its BCU. Its stream is every event naming it."""
    payload = {**operation_payload(operation), "change": change}
    return event_emit(type=OPERATION_UPDATED, data=payload, bcus=[operation.bcu.code])


def major_incident_payload(major: MajorIncident) -> dict[str, Any]:
    """The declaration banner: which incident, when, by whom, and its METHANE."""
    incident = major.incident
    return {
        "incident": incident.pk,
        "reference": incident.reference,
        "bcu": incident.bcu.code if incident.bcu is not None else None,
        "declared_at": major.declared_at.isoformat(),
        "declared_by": major.declared_by.username,
        "methane": major.methane,
        "stood_down_at": major.stood_down_at.isoformat() if major.stood_down_at else None,
    }


def _every_bcu() -> list[str]:
    return list(BCU.objects.values_list("code", flat=True))


def major_incident_declared(major: MajorIncident) -> Event:
    """A major incident: the banner goes up on every desk in London."""
    payload = major_incident_payload(major)
    return event_emit(type=MAJOR_INCIDENT_DECLARED, data=payload, bcus=_every_bcu())


def major_incident_stood_down(major: MajorIncident) -> Event:
    """Stand-down: the banner comes down on every desk."""
    payload = major_incident_payload(major)
    return event_emit(type=MAJOR_INCIDENT_STOOD_DOWN, data=payload, bcus=_every_bcu())


def online_report_payload(report: OnlineReport) -> dict[str, Any]:
    """A report as the triage queue and the desks see it: never the reporter's details."""
    return {
        "id": report.pk,
        "reference": report.reference,
        "category": report.category,
        "status": report.status,
        "risk_flags": list(report.risk_flags),
        "received_at": report.received_at.isoformat(),
        "bcu": report.bcu.code if report.bcu is not None else None,
        "incident": report.incident_id,
    }


def _report_bcus(report: OnlineReport) -> list[str]:
    return [report.bcu.code if report.bcu is not None else ""]


def online_report_created(report: OnlineReport) -> Event:
    """A new report in the triage queue."""
    return event_emit(
        type=ONLINE_REPORT_CREATED, data=online_report_payload(report), bcus=_report_bcus(report)
    )


def online_report_triaged(report: OnlineReport) -> Event:
    """A report left the queue: made an incident, allocated, referred or closed."""
    return event_emit(
        type=ONLINE_REPORT_TRIAGED, data=online_report_payload(report), bcus=_report_bcus(report)
    )


def online_report_overdue(report: OnlineReport) -> Event:
    """A report still untriaged after ONLINE_REPORT_TRIAGE_ALERT_MINUTES: the supervisors' alert."""
    return event_emit(
        type=ONLINE_REPORT_OVERDUE, data=online_report_payload(report), bcus=_report_bcus(report)
    )
