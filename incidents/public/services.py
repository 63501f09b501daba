"""The only write path for online reports: making one, triaging it, the investigation queue,
and the untriaged alert.

A report is made by a member of the public (no user), so its audit row names the client
address as the source. Triage is a call handler's decision, made once: the report's row lock
makes two handlers pressing at once get one decision and one 409. Texts and emails to the
reporter are queued inside the transaction and sent after it commits (incidents/public/texts.py).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from cad.api.fields import control_characters
from cad.audit.trail import audit_record
from cad.errors import Conflict
from cad.geo.geometry import bcu_at
from incidents import selectors
from incidents.events import online_report_created, online_report_overdue, online_report_triaged
from incidents.models import Call, Grade, IncidentType
from incidents.public.categories import Category, category_get
from incidents.public.models import (
    InvestigationCase,
    MessageKind,
    OnlineReport,
    OnlineReportStatus,
    UpdatesBy,
    WebDailySequence,
)
from incidents.public.texts import report_message_queue
from incidents.public.validation import email_ok, looks_like_script, risk_flags, uk_mobile
from incidents.services import CallDetails, incident_create, london_date, position_errors

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
DESCRIPTION_MAX = 4000
REPEAT_DAYS = 365


@dataclass(frozen=True)
class ReportInput:
    """What the public sends, as plain values (the API and the /report/ form both build one)."""

    category: str
    description: str
    address: str = ""
    lat: float | None = None
    lon: float | None = None
    resolved_address: str = ""
    occurred_at: datetime | None = None
    reporter_name: str = ""
    reporter_email: str = ""
    reporter_phone: str = ""
    updates_by: str = "none"
    answers: dict[str, Any] = field(default_factory=dict)


def web_reference_format(day: date, number: int) -> str:
    """`WEB 0017/30Nov26`, like the CAD reference so a call handler reads both the same way."""
    return f"WEB {number:04d}/{day.day:02d}{MONTHS[day.month - 1]}{day.year % 100:02d}"


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def status_token_matches(report: OnlineReport, token: str) -> bool:
    return isinstance(token, str) and hmac.compare_digest(
        report.status_token_digest, token_digest(token)
    )


def _web_number(day: date) -> int:
    # One upsert creates and increments the day's row, held until the transaction ends
    # (as incidents.services.reference_next).
    table = WebDailySequence._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (date, last_number) VALUES (%s, 1) "  # noqa: S608 (our table name)
            f"ON CONFLICT (date) DO UPDATE SET last_number = {table}.last_number + 1 "
            "RETURNING last_number",
            [day.isoformat()],
        )
        return cursor.fetchone()[0]


def _text(errors: dict, field_name: str, value: Any, *, max_length: int, multiline: bool = False,
          required: bool = False, label: str = "this") -> str:  # fmt: skip
    if value is None:
        value = ""
    if not isinstance(value, str):
        errors.setdefault(field_name, []).append("Must be text.")
        return ""
    value = value.strip()
    if required and not value:
        errors.setdefault(field_name, []).append(f"Enter {label}.")
    if len(value) > max_length:
        errors.setdefault(field_name, []).append(
            f"Use {max_length} characters or fewer (you used {len(value)})."
        )
    if control_characters(value, multiline=multiline):
        errors.setdefault(field_name, []).append("Remove the unusual characters.")
    if looks_like_script(value):
        errors.setdefault(field_name, []).append("Remove the script or code: write in plain words.")
    return value


def _answers(errors: dict, category: Category | None, answers: Any) -> dict[str, str]:
    if category is None:
        return {}
    if not isinstance(answers, dict):
        errors["answers"] = ["Must be an object of answers."]
        return {}
    known = {q.key: q for q in category.questions}
    unknown = sorted(str(k)[:30] for k in answers if k not in known)
    if unknown:
        errors["answers"] = [f"Unknown question(s) for this category: {', '.join(unknown)}."]
        return {}
    clean: dict[str, str] = {}
    for key, q in known.items():
        value = _text(errors, f"answers.{key}", answers.get(key, ""), max_length=q.max_length,
                      required=q.required, label="an answer")  # fmt: skip
        if value and q.choices and value not in {c for c, _ in q.choices}:
            errors.setdefault(f"answers.{key}", []).append("Choose one of the options.")
        if value:
            clean[key] = value
    return clean


def online_report_validate(data: ReportInput, *, at: datetime) -> tuple[dict, dict[str, Any]]:
    """(errors by field, clean values). Field names follow the API body: `category`,
    `description`, `answers.<key>`, `occurred_at`, `location`, `reporter.name|email|phone`,
    `updates_by`."""
    errors: dict[str, list[str]] = {}
    category = category_get(data.category)
    if category is None:
        errors["category"] = ["Choose what you are reporting from the list."]
    description = _text(errors, "description", data.description, max_length=DESCRIPTION_MAX,
                        multiline=True, required=True, label="what happened")  # fmt: skip
    answers = _answers(errors, category, data.answers)
    address = _text(errors, "location.address", data.address, max_length=300)
    resolved = _text(errors, "location.address", data.resolved_address, max_length=300)
    if data.lat is None or data.lon is None:
        errors.setdefault("location", []).append(
            "Give the place: an address, or a point on the map."
        )
    elif problems := position_errors(data.lat, data.lon):
        errors.setdefault("location", []).extend(problems)
    if data.occurred_at is not None and data.occurred_at > at + timedelta(minutes=5):
        errors["occurred_at"] = ["The time it happened cannot be in the future."]
    name = _text(errors, "reporter.name", data.reporter_name, max_length=200, required=True,
                 label="your name")  # fmt: skip
    email = _text(errors, "reporter.email", data.reporter_email, max_length=254)
    phone = _text(errors, "reporter.phone", data.reporter_phone, max_length=30)
    if email and not email_ok(email):
        errors.setdefault("reporter.email", []).append(
            "Enter an email address in the right format, like name@example.com."
        )
    normal_phone = uk_mobile(phone) if phone else ""
    if phone and normal_phone is None:
        errors.setdefault("reporter.phone", []).append(
            "Enter a UK mobile number, like 07700 900 982."
        )
    if data.updates_by not in UpdatesBy.values:
        errors["updates_by"] = ["Choose text message, email or no updates."]
    elif data.updates_by == UpdatesBy.SMS and not phone:
        errors.setdefault("reporter.phone", []).append("Enter a mobile number for text updates.")
    elif data.updates_by == UpdatesBy.EMAIL and not email:
        errors.setdefault("reporter.email", []).append("Enter an email address for email updates.")
    clean = {
        "category": data.category, "description": description, "answers": answers,
        "address": address, "resolved_address": resolved, "lat": data.lat, "lon": data.lon,
        "occurred_at": data.occurred_at, "reporter_name": name, "reporter_email": email,
        "reporter_phone": normal_phone or "", "updates_by": data.updates_by,
    }  # fmt: skip
    return errors, clean


def _repeat_address(lat: float, lon: float, resolved: str, at: datetime) -> bool:
    if selectors.location_history(lat=lat, lon=lon, at=at, limit=1):
        return True
    if not resolved:
        return False
    return OnlineReport.objects.filter(
        resolved_address=resolved, received_at__gte=at - timedelta(days=REPEAT_DAYS)
    ).exists()


def online_report_create(
    *, data: ReportInput, source: str = "", at: datetime | None = None
) -> tuple[OnlineReport, str]:
    """Record a report from the public: (the report, its status token, shown once).

    Nothing is stored when anything is wrong (ValidationError with every field's problem).
    """
    at = at or timezone.now()
    errors, v = online_report_validate(data, at=at)
    if errors:
        raise ValidationError(errors)
    flags = risk_flags([v["description"], *v["answers"].values()])
    if _repeat_address(v["lat"], v["lon"], v["resolved_address"], at):
        flags.append("repeat_address")
    token = secrets.token_urlsafe(24)
    bcu = bcu_at(v["lat"], v["lon"])
    with transaction.atomic():
        day = london_date(at)
        number = _web_number(day)
        report = OnlineReport.objects.create(
            reference=web_reference_format(day, number), reference_date=day,
            reference_number=number, status_token_digest=token_digest(token), bcu=bcu,
            risk_flags=flags, received_at=at, **v,
        )  # fmt: skip
        audit_record(
            user=None, action="create", obj=report, source=source,
            # Personal data: the trail says it was given, never what it is.
            changes={"category": report.category, "risk_flags": flags,
                     "reporter_details": True, "updates_by": report.updates_by,
                     "bcu": bcu.code if bcu else None},
        )  # fmt: skip
        report_message_queue(report=report, kind=MessageKind.ACKNOWLEDGED, at=at)
        online_report_created(report)
    return report, token


# --- triage --------------------------------------------------------------------------------

DECISIONS = ("incident", "investigate", "refer", "close")
STATUS_WORDS: dict[str, str] = {
    OnlineReportStatus.NEW: "received, waiting to be looked at",
    OnlineReportStatus.INCIDENT: "passed to officers to deal with",
    OnlineReportStatus.INVESTIGATION: "passed to an investigator, who will contact you",
    OnlineReportStatus.REFERRED: "passed to another organisation better placed to help",
    OnlineReportStatus.CLOSED: "closed",
}


def _lock(report: OnlineReport) -> OnlineReport:
    return (
        OnlineReport.objects.select_for_update(no_key=True, of=("self",))
        .select_related("bcu")
        .get(pk=report.pk)
    )


def _call_notes(report: OnlineReport) -> str:
    category = category_get(report.category)
    labels = {q.key: q.label for q in category.questions} if category else {}
    lines = [
        f"Online report {report.reference} ({category.name if category else report.category})."
    ]
    if report.occurred_at:
        lines.append(f"Happened: {report.occurred_at.isoformat()}")
    lines += [f"{labels.get(k, k)} {v}" for k, v in report.answers.items()]
    return "\n".join(lines)[:4000]


def online_report_triage(
    *,
    report: OnlineReport,
    by: User,
    decision: str,
    reason: str,
    grade: str | None = None,
    type_code: str | None = None,
    agency: str = "",
    source: str = "",
) -> OnlineReport:
    """Decide what happens to a report, once: an incident (channel `online`, linked), the
    investigation queue, a referral, or closed with a reason. The reporter is told if they asked."""
    errors: dict[str, list[str]] = {}
    if decision not in DECISIONS:
        errors["decision"] = [f"One of {', '.join(DECISIONS)}."]
    reason = _text(errors, "reason", reason, max_length=1000, multiline=True, required=True,
                   label="the reason for the decision")  # fmt: skip
    agency = _text(errors, "agency", agency, max_length=200)
    if decision == "refer" and not agency and "agency" not in errors:
        errors["agency"] = ["Name the agency the report is referred to."]
    if grade not in (None, "") and grade not in Grade.values:
        errors["grade"] = [f"Grade must be one of {', '.join(Grade.values)}."]
    if errors:
        raise ValidationError(errors)
    at = timezone.now()
    with transaction.atomic():
        report = _lock(report)
        if report.status != OnlineReportStatus.NEW:
            raise Conflict(f"{report.reference} has already been triaged", code="already_triaged")
        if decision == "incident":
            if report.lat is None or report.lon is None:  # every report is made with a place
                raise ValidationError({"location": ["This report has no position."]})
            category = category_get(report.category)
            code = type_code or (category.incident_type if category else "")
            if not IncidentType.objects.filter(code=code, active=True).exists():
                raise ValidationError(
                    {"type": [f"Choose an incident type ({code or 'none'} is not in use)."]}
                )
            # The reporter's choice of texts is their consent to the despatch texts too.
            incident = incident_create(
                by=by, type_code=code, grade=grade or None, summary=report.description,
                lat=report.lat, lon=report.lon, address=report.address,
                resolved_address=report.resolved_address, source=source, at=at,
                call=CallDetails(caller_name=report.reporter_name,
                                 caller_phone=report.reporter_phone,
                                 channel=Call.Channel.ONLINE, address=report.address,
                                 notes=_call_notes(report),
                                 updates=report.updates_by == UpdatesBy.SMS),
            )  # fmt: skip
            report.incident = incident
            report.status = OnlineReportStatus.INCIDENT
        elif decision == "investigate":
            InvestigationCase.objects.create(report=report, created_at=at)
            report.status = OnlineReportStatus.INVESTIGATION
        elif decision == "refer":
            report.referred_to = agency
            report.status = OnlineReportStatus.REFERRED
        else:
            report.status = OnlineReportStatus.CLOSED
        report.triaged_at, report.triaged_by, report.decision_reason = at, by, reason
        report.save(update_fields=["status", "incident", "referred_to", "triaged_at",
                                   "triaged_by", "decision_reason", "updated_at"])  # fmt: skip
        audit_record(user=by, action="update", obj=report, source=source,
                     changes={"status": ["new", report.status], "decision": decision,
                              "reason": reason, "agency": agency or None,
                              "incident": getattr(report.incident, "reference", None)})  # fmt: skip
        report_message_queue(report=report, kind=MessageKind.TRIAGED,
                             status=STATUS_WORDS[report.status], at=at)  # fmt: skip
        online_report_triaged(report)
    return report


def personal_report_read_record(
    *, report: OnlineReport, by: User | None, source: str, what: str
) -> None:
    """Someone was shown a reporter's name, email or phone (DPA 2018 s.62)."""
    audit_record(user=by, action="read_personal", obj=report, source=source,
                 changes={"fields": ["reporter_name", "reporter_email", "reporter_phone"],
                          "via": what})  # fmt: skip


# --- investigation queue --------------------------------------------------------------------


def investigation_update(
    *, case: InvestigationCase, by: User, owner: User | None, status: str, source: str = ""
) -> InvestigationCase:
    """Take, hand over or finish an investigation case."""
    if status not in InvestigationCase.Status.values:
        raise ValidationError({"status": [f"One of {', '.join(InvestigationCase.Status.values)}."]})
    if status != InvestigationCase.Status.UNALLOCATED and owner is None:
        raise ValidationError({"owner": ["A case in progress or finished has an owner."]})
    with transaction.atomic():
        case = InvestigationCase.objects.select_for_update(no_key=True).get(pk=case.pk)
        if case.status == InvestigationCase.Status.FINISHED:
            raise Conflict("this investigation is finished", code="investigation_finished")
        before = {"owner": case.owner.username if case.owner else None, "status": case.status}
        case.owner, case.status = owner, status
        case.save(update_fields=["owner", "status", "updated_at"])
        audit_record(user=by, action="update", obj=case, source=source,
                     changes={"owner": [before["owner"], owner.username if owner else None],
                              "status": [before["status"], status],
                              "report": case.report.reference})  # fmt: skip
    return case


# --- the untriaged alert -------------------------------------------------------------------


def online_reports_alert_overdue(*, now: datetime | None = None) -> int:
    """Raise the alert, once each, for reports untriaged after the configured time."""
    now = now or timezone.now()
    cutoff = now - timedelta(minutes=settings.ONLINE_REPORT_TRIAGE_ALERT_MINUTES)
    with transaction.atomic():
        due = list(
            OnlineReport.objects.filter(
                status=OnlineReportStatus.NEW, received_at__lt=cutoff, overdue_alerted_at=None
            )
            .select_for_update(no_key=True, skip_locked=True, of=("self",))
            .select_related("bcu")[:200]
        )
        for report in due:
            report.overdue_alerted_at = now
            report.save(update_fields=["overdue_alerted_at"])
            waited = int((now - report.received_at).total_seconds() // 60)
            audit_record(user=None, action="alert", obj=report, source="triage-alert",
                         changes={"untriaged_minutes": waited})  # fmt: skip
            online_report_overdue(report)
    return len(due)
