"""The only write path for planned operations and major incidents.

An operation tags the incidents that fall inside its area while it runs: new ones as they are
created (`operation_for_new_incident`, called by `incidents.services.incident_create` in its
transaction), and those already recorded in its window when it is created. Ring-fenced units
(resources) and shifts marked for it (duties) point down to it and write its log through
`operation_log_record`.

Bad input raises ValidationError with a field dict (400); a valid request the state forbids
raises cad.errors.Conflict (409).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from cad.api.fields import control_characters
from cad.audit.trail import audit_record
from cad.errors import Conflict
from cad.geo.geometry import bbox_of, centroid_of
from cad.models import BCU
from incidents.events import (
    incident_updated,
    major_incident_declared,
    major_incident_stood_down,
    operation_updated,
)
from incidents.models import Incident, IncidentLogEntry, IncidentStatus
from incidents.operations import partners
from incidents.operations.methane import methane_errors, methane_text
from incidents.operations.models import (
    FallbackRecord,
    MajorIncident,
    MobilisationItem,
    Operation,
    OperationLogEntry,
)
from incidents.operations.selectors import operation_covering, operation_covers

METRES_PER_DEGREE = 111_320.0
MAX_RADIUS_M = 20_000
MAX_TAGGED_AT_CREATION = 2000


def _text(errors: dict, field: str, value: Any, *, max_length: int, required: bool,
          multiline: bool = False) -> str:  # fmt: skip
    if not isinstance(value, str):
        errors.setdefault(field, []).append("Must be text.")
        return ""
    value = value.strip()
    if required and not value:
        errors.setdefault(field, []).append("This field is required.")
    if len(value) > max_length:
        errors.setdefault(field, []).append(f"At most {max_length} characters.")
    if control_characters(value, multiline=multiline):
        errors.setdefault(field, []).append("Contains control characters.")
    return value


def _polygon_errors(polygon: Any) -> list[str]:
    if not isinstance(polygon, dict) or polygon.get("type") != "Polygon":
        return ["Must be a GeoJSON Polygon."]
    rings = polygon.get("coordinates")
    if not isinstance(rings, list) or not rings or not isinstance(rings[0], list):
        return ["A Polygon needs coordinates: a list of rings of [lon, lat]."]
    ring = rings[0]
    if len(ring) < 4 or len(ring) > 2000:
        return ["The outer ring needs between 4 and 2000 points."]
    for point in ring:
        if (not isinstance(point, list) or len(point) != 2
                or not all(isinstance(v, int | float) and not isinstance(v, bool)
                           and math.isfinite(v) for v in point)
                or not (-180 <= point[0] <= 180 and -90 <= point[1] <= 90)):  # fmt: skip
            return ["Each point is [lon, lat] in degrees."]
    return []


def operation_create(
    *,
    by: User,
    name: str,
    starts_at: datetime,
    ends_at: datetime,
    bcu_code: str,
    lat: float | None = None,
    lon: float | None = None,
    address: str = "",
    radius_m: int = 500,
    polygon: dict | None = None,
    commander: str = "",
    briefing: str = "",
    source: str = "",
) -> Operation:
    """Plan an operation; incidents already recorded inside its area and window are tagged."""
    errors: dict[str, list[str]] = {}
    name = _text(errors, "name", name, max_length=200, required=True)
    address = _text(errors, "location", address, max_length=300, required=False)
    commander = _text(errors, "commander", commander, max_length=200, required=False)
    briefing = _text(errors, "briefing", briefing, max_length=20000, required=False,
                     multiline=True)  # fmt: skip
    if ends_at <= starts_at:
        errors["ends_at"] = ["The operation must end after it starts."]
    bcu = BCU.objects.filter(code=bcu_code).first()
    if bcu is None:
        errors["bcu"] = [f"Unknown BCU {str(bcu_code)[:8]!r}."]
    if (
        not isinstance(radius_m, int)
        or isinstance(radius_m, bool)
        or not (10 <= radius_m <= MAX_RADIUS_M)
    ):
        errors["radius_m"] = [f"A radius between 10 and {MAX_RADIUS_M} metres."]
    if polygon is not None:
        if problems := _polygon_errors(polygon):
            errors["polygon"] = problems
        elif lat is None or lon is None:
            lat, lon = centroid_of(polygon)
    if lat is None or lon is None:
        errors.setdefault("location", []).append("Give a position (lat and lon) or a polygon.")
    if errors or bcu is None or lat is None or lon is None:
        raise ValidationError(errors)
    if polygon is not None:
        box = bbox_of(polygon)
        min_lat, max_lat, min_lon, max_lon = box.min_lat, box.max_lat, box.min_lon, box.max_lon
    else:
        dlat = radius_m / METRES_PER_DEGREE
        dlon = dlat / max(math.cos(math.radians(lat)), 0.01)
        min_lat, max_lat, min_lon, max_lon = lat - dlat, lat + dlat, lon - dlon, lon + dlon
    with transaction.atomic():
        operation = Operation.objects.create(
            name=name, starts_at=starts_at, ends_at=ends_at, bcu=bcu, lat=lat, lon=lon,
            address=address, radius_m=radius_m, polygon=polygon, min_lat=min_lat,
            max_lat=max_lat, min_lon=min_lon, max_lon=max_lon, commander=commander,
            briefing=briefing, created_by=by,
        )  # fmt: skip
        _oplog(operation, f"Operation planned: {starts_at:%d %b %Y %H:%M} to "
                          f"{ends_at:%d %b %Y %H:%M} UTC.", by=by)  # fmt: skip
        audit_record(user=by, action="create", obj=operation, source=source,
                     changes={"name": name, "bcu": bcu.code, "starts_at": starts_at.isoformat(),
                              "ends_at": ends_at.isoformat(), "lat": lat, "lon": lon,
                              "radius_m": radius_m, "polygon": polygon is not None})  # fmt: skip
        tagged = _tag_recorded_incidents(operation, by=by)
        if tagged:
            _oplog(operation, f"{tagged} incident(s) already recorded in the area tagged.", by=by)
        operation_updated(operation, change="created")
    return operation


def _oplog(operation: Operation, text: str, *, by: User | None) -> OperationLogEntry:
    return OperationLogEntry.objects.create(operation=operation, text=text[:4000], by=by)


def _tag_recorded_incidents(operation: Operation, *, by: User | None) -> int:
    rows = (
        Incident.objects.select_for_update(no_key=True, of=("self",))
        .filter(
            operation__isnull=True,
            created_at__gte=operation.starts_at, created_at__lte=operation.ends_at,
            lat__gte=operation.min_lat, lat__lte=operation.max_lat,
            lon__gte=operation.min_lon, lon__lte=operation.max_lon,
        )
        .select_related("bcu")
        .order_by("pk")[:MAX_TAGGED_AT_CREATION]
    )  # fmt: skip
    count = 0
    for incident in rows:
        if not operation_covers(operation, incident.lat, incident.lon):
            continue
        incident.operation = operation
        incident.version = F("version") + 1
        incident.save(update_fields=["operation", "version", "updated_at"])
        IncidentLogEntry.objects.create(
            incident=incident, by=by, kind=IncidentLogEntry.Kind.SYSTEM,
            text=f"Tagged with operation {operation.name}.",
        )  # fmt: skip
        incident_updated(incident)
        count += 1
    return count


def operation_for_new_incident(*, lat: float, lon: float, at: datetime) -> Operation | None:
    """The operation a new incident at (lat, lon), received at `at`, belongs to (or None).
    Called by incident_create before it writes; it also logs the tag on the operation."""
    return operation_covering(lat=lat, lon=lon, at=at)


def operation_log_add(
    *, operation: Operation, by: User | None, text: str, source: str = ""
) -> OperationLogEntry:
    """A line in the operation's log (decisions, briefings given, changes of plan)."""
    errors: dict[str, list[str]] = {}
    text = _text(errors, "text", text, max_length=4000, required=True, multiline=True)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        operation = _lock(operation)
        entry = _oplog(operation, text, by=by)
        audit_record(user=by, action="create", obj=entry, source=source,
                     changes={"operation": operation.pk})  # fmt: skip
        operation_updated(operation, change="logged")
    return entry


def operation_log_record(*, operation: Operation, text: str, by: User | None) -> None:
    """A log line written by another app's service inside its own transaction (a unit
    ring-fenced, a ring-fenced unit sent elsewhere on an override, a shift marked). The caller
    audits its change; this emits the operation's event so its stream hears of it."""
    _oplog(operation, text, by=by)
    operation_updated(_lock(operation), change=text[:100])


def _lock(operation: Operation) -> Operation:
    return (
        Operation.objects.select_for_update(no_key=True, of=("self",))
        .select_related("bcu")
        .get(pk=operation.pk)
    )


# --- major incidents -----------------------------------------------------------------------------


def major_incident_declare(
    *, incident: Incident, by: User, methane: Any, source: str = ""
) -> MajorIncident:
    """A supervisor declares a major incident on an incident, with its METHANE report.

    The declaration is audited, logged on the incident and goes up as a banner on every desk;
    the report goes to partners through the CAD-to-CAD adapter after commit, or, with none
    connected, the incident's log says it was not sent (partners.py).
    """
    if errors := methane_errors(methane):
        raise ValidationError(errors)
    now = timezone.now()
    senders = partners.partner_senders()
    delivery = "to the CAD-to-CAD adapter" if senders else partners.NOT_CONNECTED
    with transaction.atomic():
        incident = Incident.objects.select_for_update(no_key=True, of=("self",)).select_related(
            "bcu").get(pk=incident.pk)  # fmt: skip
        if incident.status == IncidentStatus.CLOSED:
            raise Conflict(f"{incident.reference} is closed", code="incident_closed")
        existing = MajorIncident.objects.filter(incident=incident).first()
        if existing is not None:
            raise Conflict(
                f"{incident.reference} has already been declared a major incident",
                code="already_declared",
            )
        major = MajorIncident.objects.create(
            incident=incident, declared_at=now, declared_by=by, methane=methane,
            partner_delivery=delivery,
        )  # fmt: skip
        IncidentLogEntry.objects.create(
            incident=incident, by=by, kind=IncidentLogEntry.Kind.SYSTEM,
            text=f"MAJOR INCIDENT DECLARED by {by.username}.\n{methane_text(methane)}\n"
                 f"METHANE to partners: {delivery}.",
        )  # fmt: skip
        audit_record(user=by, action="create", obj=major, source=source,
                     changes={"incident": incident.reference, "methane": methane,
                              "partners": delivery})  # fmt: skip
        major_incident_declared(major)
        incident_updated(incident)
        if senders:
            transaction.on_commit(lambda: partners.partner_send(major.pk), robust=True)
    return major


def major_incident_stand_down(
    *, major: MajorIncident, by: User, reason: str, source: str = ""
) -> MajorIncident:
    """Stand down: the banner comes down everywhere; the record and its METHANE stay."""
    errors: dict[str, list[str]] = {}
    reason = _text(errors, "reason", reason, max_length=1000, required=True, multiline=True)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        incident = Incident.objects.select_for_update(no_key=True, of=("self",)).select_related(
            "bcu").get(pk=major.incident_id)  # fmt: skip
        major = MajorIncident.objects.select_for_update(no_key=True, of=("self",)).select_related(
            "declared_by").get(pk=major.pk)  # fmt: skip
        if major.stood_down_at is not None:
            raise Conflict("this major incident has already been stood down",
                           code="already_stood_down")  # fmt: skip
        major.stood_down_at = timezone.now()
        major.stood_down_by = by
        major.stand_down_reason = reason
        major.save(update_fields=["stood_down_at", "stood_down_by", "stand_down_reason"])
        major.incident = incident
        IncidentLogEntry.objects.create(
            incident=incident, by=by, kind=IncidentLogEntry.Kind.SYSTEM,
            text=f"Major incident stood down by {by.username}: {reason}",
        )  # fmt: skip
        audit_record(user=by, action="update", obj=major, source=source,
                     changes={"stood_down_at": major.stood_down_at.isoformat(),
                              "reason": reason})  # fmt: skip
        major_incident_stood_down(major)
        incident_updated(incident)
    return major


def mobilisation_add(
    *, major: MajorIncident, by: User, kind: str, name: str, task: str = "", source: str = ""
) -> MobilisationItem:
    """Add a unit or a serial to the mobilisation list of a declared major incident."""
    errors: dict[str, list[str]] = {}
    if kind not in MobilisationItem.Kind.values:
        errors["kind"] = ["One of unit, serial."]
    name = _text(errors, "name", name, max_length=50, required=True)
    task = _text(errors, "task", task, max_length=300, required=False)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        major = MajorIncident.objects.select_for_update(no_key=True, of=("self",)).select_related(
            "incident__bcu", "declared_by").get(pk=major.pk)  # fmt: skip
        if major.stood_down_at is not None:
            raise Conflict("this major incident has been stood down", code="stood_down")
        item = MobilisationItem.objects.create(
            major_incident=major, kind=kind, name=name, task=task, by=by
        )
        IncidentLogEntry.objects.create(
            incident=major.incident, by=by, kind=IncidentLogEntry.Kind.SYSTEM,
            text=f"Mobilised {kind} {name}" + (f": {task}" if task else "."),
        )  # fmt: skip
        audit_record(user=by, action="create", obj=item, source=source,
                     changes={"incident": major.incident.reference, "kind": kind,
                              "name": name})  # fmt: skip
        incident_updated(major.incident)
    return item


# --- the fallback log, imported after an outage --------------------------------------------------


def fallback_record_create(
    *, key: str, incident: Incident, by: User | None, source_file: str, line: int
) -> FallbackRecord:
    """Remember that a fallback-log row became this incident (import_fallback's natural key):
    the same row imported again is found here and creates nothing. Called inside the import's
    transaction for the row; a second import racing the first fails on the unique key."""
    record = FallbackRecord.objects.create(
        key=key, incident=incident, imported_by=by, source_file=source_file[:300], line=line
    )
    audit_record(user=by, action="create", obj=record, source="import_fallback",
                 changes={"incident": incident.reference, "key": key, "line": line})  # fmt: skip
    return record
