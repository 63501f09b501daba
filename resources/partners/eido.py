"""Beacon incident ⇄ EIDO document (NENA-STA-021, JSON). Pure functions: no writes here.

Export (`eido_document`): the incident component (type through codes.py, grade as priority,
status), its location (a PIDF-LO point and the address as given), the log as notes, the units
as emergency resources, the agencies, and the callers as persons only when the receiver may
have personal data. Every identifier is a URN under our agency id, stable across sends, so a
partner's copy updates in place.

Import (`eido_facts`): the facts Beacon keeps from a partner's (already valid) document, or
field errors naming what is missing or unusable.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings

from incidents.models import Call, Incident, IncidentLogEntry
from resources.partners import codes
from resources.selectors import incident_assignments

EIDO_VERSION = "1.0"
GML = "http://www.opengis.net/gml"
PIDF = "urn:ietf:params:xml:ns:pidf"
SUMMARY_NOTE = "summary"
_POS = re.compile(
    r"<(?:[A-Za-z0-9_]+:)?pos>\s*(-?\d{1,3}(?:\.\d+)?)\s+(-?\d{1,3}(?:\.\d+)?)\s*</(?:[A-Za-z0-9_]+:)?pos>"
)


def agency_id() -> str:
    return settings.EIDO_AGENCY_ID


def urn(kind: str, local: str | int) -> str:
    """`urn:emergency:uid:<kind>:<local>:<our agency>` (NENA-STA-010 identifier form)."""
    return f"urn:emergency:uid:{kind}:{local}:{agency_id()}"


def incident_urn(incident: Incident) -> str:
    return urn("incidentid", incident.pk)


_OURS = re.compile(r"^urn:emergency:uid:incidentid:(\d{1,12}):(.+)$")


def our_incident_pk(uid: str) -> int | None:
    """The pk in one of our own incident URNs (a partner sending back our incident), else None."""
    m = _OURS.match(uid)
    return int(m.group(1)) if m and m.group(2) == agency_id() else None


def _iso(at: datetime) -> str:
    return at.isoformat()


def _prologue(uid: str, at: datetime) -> dict[str, Any]:
    return {"$id": uid, "lastUpdateTimeStamp": _iso(at),
            "updatedByAgencyReference": {"$ref": agency_id()}}  # fmt: skip


def _note(uid: str, at: datetime, text: str) -> dict[str, Any]:
    """A note; EIDO notes are HTML5, so our plain text is escaped."""
    return {**_prologue(uid, at), "notesActionComments": html.escape(text)}


def pidf_point(lat: float, lon: float) -> str:
    """A PIDF-LO location by value: one GML point, latitude first (RFC 5491, EPSG 4326)."""
    return (
        f'<presence xmlns="{PIDF}" xmlns:gml="{GML}"><tuple><status><geopriv><location-info>'
        f'<gml:Point srsName="urn:ogc:def:crs:EPSG::4326"><gml:pos>{lat:.6f} {lon:.6f}</gml:pos>'
        "</gml:Point></location-info></geopriv></status></tuple></presence>"
    )


def pidf_position(value: str) -> tuple[float, float] | None:
    """(lat, lon) of the first GML `pos` in a PIDF-LO, read with a pattern (no XML parser is
    handed a partner's text, so no entity tricks)."""
    m = _POS.search(value[:20_000])
    return (float(m.group(1)), float(m.group(2))) if m else None


def eido_document(
    incident: Incident, *, personal: bool, include_log: bool = True
) -> dict[str, Any]:
    """The incident as an EIDO document. `personal`: callers' names and numbers go in (only
    for a receiver allowed them; the caller of this function records the disclosure)."""
    incident = Incident.objects.select_related("type", "bcu").get(pk=incident.pk)
    at = incident.updated_at
    uid = incident_urn(incident)
    location_id = urn("locationid", f"{incident.pk}-incident")
    notes = []
    if incident.summary:
        summary_id = urn("noteid", f"{incident.pk}-{SUMMARY_NOTE}")
        notes.append(_note(summary_id, incident.created_at, incident.summary))
    if include_log:
        for entry in IncidentLogEntry.objects.filter(incident=incident).order_by("at", "id"):
            notes.append(_note(urn("noteid", entry.pk), entry.at, f"[{entry.kind}] {entry.text}"))
    resources = []
    for a in incident_assignments(incident):
        primary, secondary = codes.UNIT_STATUS_TO_EIDO[a["status"]]
        resources.append({
            **_prologue(urn("resourceid", a["unit"]), incident.updated_at),
            "emergencyResourceTypeCommonRegistryText": "LawEnforcementPatrolUnit",
            "emergencyResourceName": a["unit"],
            "agentReference": [{"$ref": agency_id()}],
            "primaryUnitStatusRegistryText": primary,
            "secondaryUnitStatusRegistryText": secondary,
            "resourceAttributeRegistryText": [],
            "unitStatusInternal": [a["status"]],
        })  # fmt: skip
    persons: list[dict[str, Any]] = []
    callbacks: list[dict[str, Any]] = []
    if personal:
        for call in Call.objects.filter(incident=incident).order_by("received_at", "id"):
            if not (call.caller_name or call.caller_phone):
                continue
            person: dict[str, Any] = {
                **_prologue(urn("personid", f"caller-{call.pk}"), call.received_at),
                "personIncidentRoleRegistryText": ["ReportingParty"],
            }
            if call.caller_name:
                # NIEM nc:PersonType as NENA converted it: name[].personFullName[].value
                person["ncPersonComponent"] = {
                    "name": [{"personFullName": [{"value": call.caller_name}]}]
                }
            if call.caller_phone:
                callback_id = urn("callbackid", f"caller-{call.pk}")
                uri = [f"tel:{call.caller_phone}"]
                callbacks.append(
                    {**_prologue(callback_id, call.received_at), "callBackInformationUri": uri}
                )
                person["callBackReference"] = {"$ref": callback_id}
            persons.append(person)
    incident_component: dict[str, Any] = {
        **_prologue(uid, at),
        "incidentTypeCommonRegistryText": codes.INCIDENT_TYPE_TO_EIDO.get(
            incident.type.code, codes.NO_CODE
        ),
        "incidentTypeInternalCode": incident.type.code,
        "incidentTypeInternalText": incident.type.name,
        "incidentStatusCommonRegistryText": [codes.STATUS_TO_EIDO[incident.status]],
        "incidentStatusInternalText": [incident.status],
        "internalIncidentId": incident.reference,
        "incidentPriorityInternalText": incident.grade,
        "incidentCommonPriorityNumber": codes.GRADE_TO_PRIORITY[incident.grade],
        "locationReference": [{"$ref": location_id}],
        "notesReference": [{"$ref": n["$id"]} for n in notes],
    }
    if incident.bcu is not None:
        incident_component["beatOrDispatchGroupText"] = incident.bcu.code
    if persons:
        incident_component["personReference"] = [{"$ref": p["$id"]} for p in persons]
    document: dict[str, Any] = {
        **_prologue(uid, at),
        "eidoVersion": EIDO_VERSION,
        "issuingElementIdentification": f"cad.{agency_id()}",
        "incidentComponent": incident_component,
        "agencyComponent": [
            {
                **_prologue(agency_id(), at),
                "agencyRoleDescriptionRegistryText": ["Dispatching"],
                "agencyType": ["police"],
                "incidentOwningAgencyIndicator": True,
            }
        ],  # fmt: skip
        "locationComponent": [
            {
                **_prologue(location_id, incident.created_at),
                "locationTypeDescriptionRegistryText": "Current Incident",
                "locationByValue": pidf_point(incident.lat, incident.lon),
                "locationDescriptionText": incident.address or incident.resolved_address,
            }
        ],  # fmt: skip
    }
    if notes:
        document["notesComponent"] = notes
    if resources:
        document["emergencyResourceComponent"] = resources
    if persons:
        document["personComponent"] = persons
    if callbacks:
        document["callbackComponent"] = callbacks
    return document


@dataclass
class EidoFacts:
    """What Beacon takes from a partner's document."""

    agency: str
    partner_incident_id: str
    type_code: str
    grade: str | None
    lat: float
    lon: float
    address: str
    summary: str
    notes: list[tuple[str, str]] = field(default_factory=list)  # (note id, text)


def reference(value: Any) -> str | None:
    """The `$ref` of a ReferenceType. The published schema gives ReferenceType no `type`, so a
    valid document may hold a string or a list where a reference belongs: that is no reference."""
    ref = value.get("$ref") if isinstance(value, dict) else None
    return ref if isinstance(ref, str) else None


def _text(value: str) -> str:
    """A note's HTML as plain text (tags dropped, entities read), for our log."""
    return html.unescape(re.sub(r"<[^>]{0,500}>", " ", value)).strip()


def eido_facts(document: dict[str, Any], *, known_type_codes: set[str]) -> EidoFacts:
    """The facts of a schema-valid document; raises ValueError({field: [message]}) when a part
    Beacon needs is missing (the schema lets a document leave out what we cannot do without)."""
    errors: dict[str, list[str]] = {}
    incident = document.get("incidentComponent")
    if not isinstance(incident, dict):
        raise ValueError({"incidentComponent": ["Required: the incident itself."]})
    internal = incident.get("incidentTypeInternalCode")
    if isinstance(internal, str) and internal in known_type_codes:
        type_code = internal
    else:
        common = incident.get("incidentTypeCommonRegistryText", "")
        type_code = codes.EIDO_TO_INCIDENT_TYPE.get(common, codes.INBOUND_FALLBACK_TYPE)
    priority = incident.get("incidentCommonPriorityNumber")
    grade = None
    if priority is not None:
        grade = codes.PRIORITY_TO_GRADE.get(priority)
        if grade is None:
            errors["incidentComponent/incidentCommonPriorityNumber"] = [
                "Priority must be 1 to 4 (1 = immediate)."
            ]
    locations = {loc.get("$id"): loc for loc in document.get("locationComponent") or []}
    wanted = [reference(r) for r in incident.get("locationReference") or []]
    location = next((locations[r] for r in wanted if r in locations), None)
    if location is None and locations:
        location = next(iter(locations.values()))
    position = pidf_position(location.get("locationByValue") or "") if location else None
    lat = lon = 0.0
    if location is None:
        errors["locationComponent"] = ["Required: where the incident is."]
    elif position is None:
        errors["locationComponent/locationByValue"] = [
            "A PIDF-LO with a GML point (<gml:pos>lat lon</gml:pos>) is required."
        ]
    else:
        lat, lon = position
    notes = []
    summary = ""
    for note in document.get("notesComponent") or []:
        text = _text(note.get("notesActionComments", ""))
        if _local(note).endswith(f"-{SUMMARY_NOTE}"):
            summary = text
        elif text:
            notes.append((str(note.get("$id", ""))[:200], text[:3500]))
    if errors:
        raise ValueError(errors)
    return EidoFacts(
        agency=str(reference(document.get("updatedByAgencyReference"))),
        partner_incident_id=str(incident["$id"])[:200],
        type_code=type_code,
        grade=grade,
        lat=lat,
        lon=lon,
        address=str((location or {}).get("locationDescriptionText", ""))[:300],
        summary=summary[:4000],
        notes=notes,
    )


def _local(note: dict[str, Any]) -> str:
    """The local part of a `urn:emergency:uid:noteid:<local>:<agency>` id ('' otherwise)."""
    parts = str(note.get("$id", "")).split(":")
    return parts[4] if len(parts) >= 6 and parts[3] == "noteid" else ""
