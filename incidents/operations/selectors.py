"""Reads for planned operations and major incidents: which operation covers a point, lists,
details (with the parts higher apps register: ring-fenced units, officers from the roster)."""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.db.models import Q

from cad.geo.geometry import haversine_m, point_in_geometry
from cad.live.retention import events_pruned_through
from cad.models import Event
from cad.prepared import PreparedRows
from incidents.models import Incident
from incidents.operations.models import MajorIncident, Operation


def operation_covers(operation: Operation, lat: float, lon: float) -> bool:
    if not (operation.min_lat <= lat <= operation.max_lat
            and operation.min_lon <= lon <= operation.max_lon):  # fmt: skip
        return False
    if operation.polygon:
        return point_in_geometry(lat, lon, operation.polygon)
    return haversine_m(lat, lon, operation.lat, operation.lon) <= operation.radius_m


def operation_covering(*, lat: float, lon: float, at: datetime) -> Operation | None:
    """The operation whose area holds (lat, lon) at `at`; with several, the smallest area (a
    march's route inside a city-wide New Year's Eve operation belongs to the march).

    Every incident created asks this, and nearly always finds nothing: one fixed statement,
    prepared on PostgreSQL (cad/prepared.py), since building the ORM's query cost 2 ms of CPU
    against 0.35 ms through `raw()` (stop 22), and `raw()` itself several times what PostgreSQL
    took (stop 42, docs/benchmarks.md). The operation's BCU is read if someone asks for it.
    """
    rows = _COVERING.instances([at, at, lat, lat, lon, lon])
    covering = [op for op in rows if operation_covers(op, lat, lon)]
    covering.sort(key=lambda op: ((op.max_lat - op.min_lat) * (op.max_lon - op.min_lon), op.pk))
    return covering[0] if covering else None


_COVERING = PreparedRows(
    Operation,
    "starts_at <= %s AND ends_at >= %s "
    "AND min_lat <= %s AND max_lat >= %s AND min_lon <= %s AND max_lon >= %s",
)


def operation_list(*, scope: str | None) -> list[dict[str, Any]]:
    rows = Operation.objects.select_related("bcu").order_by("-starts_at", "-id")
    if scope:
        rows = rows.filter(bcu__code=scope)
    return [operation_summary(op) for op in rows[:200]]


def operation_summary(op: Operation) -> dict[str, Any]:
    return {
        "id": op.pk,
        "name": op.name,
        "starts_at": op.starts_at.isoformat(),
        "ends_at": op.ends_at.isoformat(),
        "bcu": op.bcu.code,
        "location": {"lat": op.lat, "lon": op.lon, "address": op.address},
        "radius_m": op.radius_m,
        "polygon": op.polygon,
        "commander": op.commander,
        "briefing": op.briefing,
        "version": op.version,
    }


# Parts of the detail owned by higher apps, registered from their AppConfig.ready:
# resources the ring-fenced units, duties the officers on shifts marked for it.
_detail_parts: dict[str, Callable[[Operation], Any]] = {}


def register_operation_detail_part(name: str, selector: Callable[[Operation], Any]) -> None:
    _detail_parts[name] = selector


def operation_detail(*, operation: Operation) -> dict[str, Any]:
    detail = operation_summary(operation)
    detail["incidents"] = list(
        Incident.objects.filter(operation=operation)
        .order_by("created_at")
        .values("id", "reference", "status", "grade", "created_at")
    )
    for row in detail["incidents"]:
        row["created_at"] = row["created_at"].isoformat()
    detail["log"] = [
        {"at": e.at.isoformat(), "by": e.by.username if e.by else None, "text": e.text}
        for e in operation.log.select_related("by")
    ]
    for name, selector in _detail_parts.items():
        detail[name] = selector(operation)
    return detail


# The unit call signs an operation holds, for its stream (resources registers it).
_unit_lookup: list[Callable[[Operation], list[str]]] = []


def register_operation_units(lookup: Callable[[Operation], list[str]]) -> None:
    if lookup not in _unit_lookup:
        _unit_lookup.append(lookup)


STREAM_LIMIT = 500


def operation_events(*, operation: Operation, since: int) -> dict[str, Any]:
    """The operation's own stream: events after `since` that name it (its own changes, its
    tagged incidents) or one of its ring-fenced units, oldest first, in the board's envelope.

    `pruned_through` is the event log's retention watermark (decision 0018) and `truncated` says
    that `since` is below it: events the poller has not seen were pruned, so the list may lack
    its beginning and the poller should reread the operation itself. The watermark is read after
    the events, as `events_since` does, so a prune committing in between can only set
    `truncated`, never leave a gap unannounced."""
    callsigns = [c for lookup in _unit_lookup for c in lookup(operation)]
    named = Q(data__operation=operation.pk)
    if callsigns:
        named |= Q(type__startswith="unit.", data__callsign__in=callsigns)
    rows = list(
        Event.objects.filter(seq__gt=since).filter(named).order_by("seq")
        .values("seq", "type", "data")[: STREAM_LIMIT + 1]
    )  # fmt: skip
    more = len(rows) > STREAM_LIMIT
    rows = rows[:STREAM_LIMIT]
    pruned_through = events_pruned_through()
    return {"operation": operation.pk, "since": since, "more": more, "events": rows,
            "pruned_through": pruned_through, "truncated": since < pruned_through}  # fmt: skip


def major_incidents_active(*, bcu: str | None = None) -> list[dict[str, Any]]:
    """The banner's section of the board snapshot: declarations not stood down. Every desk sees
    every one, whatever its BCU (`bcu` is accepted for the snapshot's signature)."""
    rows = (
        MajorIncident.objects.filter(stood_down_at__isnull=True)
        .select_related("incident__bcu", "declared_by")
        .prefetch_related("mobilisation")
        .order_by("declared_at")
    )
    return [major_incident_row(m) for m in rows]


def major_incident_row(major: MajorIncident) -> dict[str, Any]:
    return {
        "incident": major.incident_id,
        "reference": major.incident.reference,
        "bcu": major.incident.bcu.code if major.incident.bcu is not None else None,
        "declared_at": major.declared_at.isoformat(),
        "declared_by": major.declared_by.username,
        "methane": major.methane,
        "stood_down_at": major.stood_down_at.isoformat() if major.stood_down_at else None,
        "partner_delivery": major.partner_delivery,
        "mobilisation": [
            {"kind": m.kind, "name": m.name, "task": m.task, "at": m.at.isoformat()}
            for m in major.mobilisation.all()
        ],
    }
