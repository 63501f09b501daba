"""The only write path for crime reports: draft (from the call), review, submit, record sent.

A draft is made when a handler presses "Create crime report" or when the incident is closed
with a crime outcome (CRIME_CLOSING_CODES; an after-commit reaction to `incident.closed`). The
handler reviews and corrects it, then submits it: a task hands it to the records system
(RECORDS_ADAPTER) with retries, and the crime number that comes back goes into the incident log.
The report holds personal data (victim, suspect): every read through the API is audited.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from cad.api.fields import control_characters
from cad.audit.trail import audit_record
from cad.enqueue import enqueue
from cad.errors import Conflict
from cad.prepared import PreparedValues
from incidents.crime import adapters, tasks
from incidents.crime.draft import CallFacts, draft_from_call
from incidents.crime.models import CrimeClassification, CrimeReport
from incidents.events import incident_updated
from incidents.models import Call, Incident, IncidentLogEntry

logger = logging.getLogger(__name__)
State = CrimeReport.State
EDITABLE = ("victim_description", "victim_contact", "suspect_description", "location", "mo",
            "occurred_from", "occurred_to")  # fmt: skip
LIMITS = {"victim_description": 2000, "victim_contact": 250, "suspect_description": 2000,
          "location": 300, "mo": 4000}  # fmt: skip


def classification_for(type_code: str) -> CrimeClassification | None:
    """The classification a report of this opening code starts under (the handler may change it)."""
    for c in CrimeClassification.objects.filter(active=True).order_by("code"):
        if type_code in (c.incident_types or []):
            return c
    return None


def _log(incident: Incident, text: str, by: User | None) -> None:
    IncidentLogEntry.objects.create(incident=incident, by=by, kind=IncidentLogEntry.Kind.SYSTEM,
                                    text=text[:4000])  # fmt: skip


def crime_report_draft(*, incident: Incident, by: User | None, source: str = "") -> CrimeReport:
    """Draft the crime record from the call (or return the one already drafted: 409 if it has
    gone to records, since a second crime from one incident is a records decision)."""
    with transaction.atomic():
        incident = (
            Incident.objects.select_for_update(no_key=True, of=("self",))
            .select_related("type", "bcu")
            .get(pk=incident.pk)
        )
        existing = CrimeReport.objects.filter(incident=incident).first()
        if existing is not None:
            return existing
        calls = list(Call.objects.filter(incident=incident).order_by("received_at", "id"))
        first = calls[0] if calls else None
        draft = draft_from_call(CallFacts(
            summary=incident.summary,
            call_notes=[c.notes for c in calls if c.notes],
            caller_name=first.caller_name if first else "",
            caller_phone=first.caller_phone if first else "",
            first_call_at=first.received_at if first else incident.created_at,
        ))  # fmt: skip
        report = CrimeReport.objects.create(
            incident=incident,
            classification=classification_for(incident.type.code),
            incident_reference=incident.reference,
            victim_description=draft.victim_description,
            victim_contact=draft.victim_contact,
            suspect_description=draft.suspect_description,
            location=incident.address or incident.resolved_address,
            lat=incident.lat,
            lon=incident.lon,
            bcu=incident.bcu.code if incident.bcu is not None else "",
            occurred_from=draft.occurred_from,
            occurred_to=draft.occurred_to,
            reported_at=draft.reported_at,
            mo=draft.mo,
            created_at=timezone.now(),
            created_by=by,
        )
        _log(incident, "Crime report drafted from the call, for review.", by)
        audit_record(user=by, action="create", obj=report, source=source,
                     changes={"incident": incident.reference,
                              "classification": report.classification.code
                              if report.classification else None})  # fmt: skip
        incident_updated(incident)
    return report


# Asked after every close: one prepared statement (cad/prepared.py, decision 0036); only a
# crime outcome reads the incident as a model.
CLOSING_CODE = PreparedValues(
    Incident,
    lambda *, incident_id: Incident.objects.filter(pk=incident_id).values_list(
        "closing_code__code"
    ),
)


def crime_report_draft_on_close(data: dict[str, Any]) -> None:
    """After `incident.closed`: a crime outcome drafts the report (an after-commit reaction)."""
    rows = CLOSING_CODE.rows("closing", incident_id=data["id"])
    if not rows or rows[0][0] not in settings.CRIME_CLOSING_CODES:
        return
    incident = Incident.objects.select_related("closing_code").filter(pk=data["id"]).first()
    if incident is not None:
        crime_report_draft(incident=incident, by=None, source="closing")


def _lock_report(incident: Incident) -> CrimeReport:
    report = CrimeReport.objects.select_for_update(no_key=True).filter(incident=incident).first()
    if report is None:
        raise Conflict("No crime report has been drafted for this incident.", code="no_report")
    return report


def crime_report_update(
    *, incident: Incident, by: User, changes: dict[str, Any], source: str = ""
) -> CrimeReport:
    """The handler's review: correct the draft's fields and classification (drafts only)."""
    errors: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}
    for name in EDITABLE:
        if name not in changes:
            continue
        value = changes[name]
        if name in LIMITS:
            if not isinstance(value, str):
                errors[name] = ["Must be text."]
                continue
            value = value.strip()
            if len(value) > LIMITS[name]:
                errors[name] = [f"At most {LIMITS[name]} characters."]
            elif control_characters(value, multiline=name != "victim_contact"):
                errors[name] = ["Contains control characters."]
        elif not isinstance(value, datetime):
            errors[name] = ["Must be a time with its offset."]
        clean[name] = value
    if "classification" in changes:
        c = CrimeClassification.objects.filter(code=changes["classification"], active=True).first()
        if c is None:
            errors["classification"] = [
                f"Unknown classification {str(changes['classification'])[:20]!r}."
            ]
        clean["classification"] = c
    frm = clean.get("occurred_from")
    to = clean.get("occurred_to")
    with transaction.atomic():
        report = _lock_report(incident)
        frm = frm or report.occurred_from
        to = to or report.occurred_to
        if isinstance(frm, datetime) and isinstance(to, datetime) and frm > to:
            errors["occurred_to"] = ["Must not be before occurred_from."]
        if errors:
            raise ValidationError(errors)
        if report.state != State.DRAFT:
            raise Conflict("The crime report has gone to records already.", code="report_submitted")
        changed = {}
        for name, value in clean.items():
            before = getattr(report, name)
            if before != value:
                setattr(report, name, value)
                changed[name] = True
        report.version = F("version") + 1
        report.save()
        report.refresh_from_db()
        # Values are personal data: the trail says which fields changed, not to what.
        audit_record(user=by, action="update", obj=report, source=source,
                     changes={"fields": sorted(changed)})  # fmt: skip
    return report


def crime_report_submit(*, incident: Incident, by: User, source: str = "") -> CrimeReport:
    """Reviewed: queue it for the records system (it needs a classification)."""
    with transaction.atomic():
        report = _lock_report(incident)
        if report.state != State.DRAFT:
            raise Conflict("The crime report has gone to records already.", code="report_submitted")
        if report.classification is None:
            raise ValidationError({"classification": ["Choose the crime classification first."]})
        report.state = State.SUBMITTED
        report.reviewed_by = by
        report.reviewed_at = timezone.now()
        report.save(update_fields=["state", "reviewed_by", "reviewed_at"])
        _log(report.incident, f"Crime report reviewed by {by.username}; sent to records.", by)
        audit_record(user=by, action="update", obj=report, source=source,
                     changes={"state": ["draft", "submitted"]})  # fmt: skip
        incident_updated(report.incident)
        transaction.on_commit(lambda: enqueue(tasks.send_crime_report, report.pk))
    return report


def crime_reports_requeue_stale(*, now: datetime | None = None) -> int:
    """Queue again the reports still `submitted` long after review: their task was lost (the
    enqueue was kept by a process that died while Redis was down, or the broker lost it).
    `CRIME_REPORT_SWEEP_AFTER_SECONDS` is longer than the send's whole retry schedule, so a
    report still being retried is not queued twice; a duplicate would be harmless anyway (the
    send locks the submitted row and skips one already sent)."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.CRIME_REPORT_SWEEP_AFTER_SECONDS)
    ids = list(
        CrimeReport.objects.filter(
            state=State.SUBMITTED, reviewed_at__lt=cutoff, reviewed_at__gte=now - timedelta(days=7)
        ).values_list("pk", flat=True)[:200]
    )
    for report_id in ids:
        enqueue(tasks.send_crime_report, report_id)
    return len(ids)


def crime_report_payload(report: CrimeReport) -> dict[str, Any]:
    """What the records system receives (and the API shows)."""
    c = report.classification
    return {
        "incident_reference": report.incident_reference,
        "classification": None if c is None else {
            "code": c.code, "name": c.name, "group": c.group, "ho_code": c.ho_code,
        },
        "victim_description": report.victim_description,
        "victim_contact": report.victim_contact,
        "suspect_description": report.suspect_description,
        "location": {"address": report.location, "lat": report.lat, "lon": report.lon,
                     "bcu": report.bcu},
        "occurred_from": report.occurred_from.isoformat(),
        "occurred_to": report.occurred_to.isoformat(),
        "reported_at": report.reported_at.isoformat(),
        "mo": report.mo,
    }  # fmt: skip


def crime_report_send(*, report_id: int, give_up: bool = False) -> str:
    """Hand a submitted report to the records system; the crime number goes into the log.
    Raises RecordsUnavailable to retry (unless `give_up`: then it is marked failed)."""
    unavailable: adapters.RecordsUnavailable | None = None
    with transaction.atomic():
        report = (
            CrimeReport.objects.select_for_update(no_key=True, of=("self",))
            .select_related("incident", "classification")
            .filter(pk=report_id, state=State.SUBMITTED)
            .first()
        )
        if report is None:
            return "skipped"
        report.attempts += 1
        try:
            number = adapters.get_adapter().submit(crime_report_payload(report))
        except adapters.RecordsRefused as exc:
            return _finish(report, State.FAILED, error=str(exc))
        except adapters.RecordsUnavailable as exc:
            if give_up:
                return _finish(report, State.FAILED, error=str(exc))
            report.last_error = str(exc)[:300]
            report.save(update_fields=["attempts", "last_error"])
            unavailable = exc
        else:
            report.crime_number = number
            return _finish(report, State.SENT)
    raise unavailable


def _finish(report: CrimeReport, state: str, *, error: str = "") -> str:
    report.state = state
    report.last_error = error[:300]
    report.sent_at = timezone.now() if state == State.SENT else None
    report.save(update_fields=["state", "last_error", "sent_at", "attempts", "crime_number"])
    if state == State.SENT and report.crime_number:
        text = f"Crime number {report.crime_number} recorded for this incident."
    elif state == State.SENT:
        text = "Crime report logged only: no records system is configured, so no crime number."
    else:
        text = f"Crime report NOT accepted by the records system: {error[:200]}. Enter it by hand."
    _log(report.incident, text, None)
    audit_record(user=None, action="update", obj=report, source="records",
                 changes={"state": state, "crime_number": report.crime_number,
                          "attempts": report.attempts})  # fmt: skip
    incident_updated(report.incident)
    return state
