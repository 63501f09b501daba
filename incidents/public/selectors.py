"""Reads for the public's side: the triage queue, a report for triage, the investigation queue."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import QuerySet
from django.utils import timezone

from cad.accounts.roles import CALL_HANDLER, has_role, user_bcu_code
from incidents.public.categories import category_get
from incidents.public.models import InvestigationCase, OnlineReport, OnlineReportStatus


def triage_queue(
    *, user: User | AnonymousUser, status: str = OnlineReportStatus.NEW
) -> QuerySet[OnlineReport]:
    """Reports in `status`, oldest first (`online_report_queue_idx`). Call handlers see all
    London; a scoped supervisor their BCU's."""
    rows = OnlineReport.objects.filter(status=status).select_related("bcu", "incident")
    scope = None if has_role(user, CALL_HANDLER) else user_bcu_code(user)
    if scope is not None:
        rows = rows.filter(bcu__code=scope)
    return rows.order_by("received_at", "id")


def report_row(report: OnlineReport, *, now: datetime | None = None) -> dict[str, Any]:
    """A report in the queue: no personal data."""
    now = now or timezone.now()
    category = category_get(report.category)
    return {
        "id": report.pk,
        "reference": report.reference,
        "category": report.category,
        "category_name": category.name if category else report.category,
        "status": report.status,
        "risk_flags": list(report.risk_flags),
        "received_at": report.received_at.isoformat(),
        "age_minutes": int((now - report.received_at).total_seconds() // 60),
        "overdue": report.overdue_alerted_at is not None,
        "bcu": report.bcu.code if report.bcu_id and report.bcu else None,
        "location": {
            "address": report.address,
            "resolved_address": report.resolved_address,
            "lat": report.lat,
            "lon": report.lon,
        },  # fmt: skip
        "incident": report.incident_id,
    }


def report_detail(report: OnlineReport) -> dict[str, Any]:
    """Everything triage needs, the reporter's details included (the caller audits the read)."""
    category = category_get(report.category)
    labels = {q.key: q.label for q in category.questions} if category else {}
    return {
        **report_row(report),
        "description": report.description,
        "answers": [
            {"key": k, "question": labels.get(k, k), "answer": v} for k, v in report.answers.items()
        ],  # fmt: skip
        "occurred_at": report.occurred_at.isoformat() if report.occurred_at else None,
        "reporter": {
            "name": report.reporter_name,
            "email": report.reporter_email,
            "phone": report.reporter_phone,
        },  # fmt: skip
        "updates_by": report.updates_by,
        "decision_reason": report.decision_reason,
        "referred_to": report.referred_to,
        "incident_reference": report.incident.reference
        if report.incident_id and report.incident
        else None,
    }


def queue_age_minutes(*, user: User | AnonymousUser) -> int | None:
    """How long the oldest untriaged report has waited (the supervisors' figure)."""
    oldest = triage_queue(user=user).values_list("received_at", flat=True).first()
    return int((timezone.now() - oldest).total_seconds() // 60) if oldest else None


def investigation_queue(*, status: str | None = None) -> QuerySet[InvestigationCase]:
    rows = InvestigationCase.objects.select_related("report", "owner")
    if status:
        rows = rows.filter(status=status)
    return rows.order_by("created_at", "id")


def investigation_row(case: InvestigationCase) -> dict[str, Any]:
    return {
        "id": case.pk,
        "report": case.report.reference,
        "report_id": case.report_id,
        "category": case.report.category,
        "risk_flags": list(case.report.risk_flags),
        "owner": case.owner.username if case.owner else None,
        "status": case.status,
        "created_at": case.created_at.isoformat(),
        "updated_at": case.updated_at.isoformat(),
    }
