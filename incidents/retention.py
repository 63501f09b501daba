"""Retention: callers' details are erased once an incident has been closed for long enough.

What is erased is what the system itself treats as personal: the caller's name and phone number
on each call (`permissions.can_read_personal` guards them, and every read is audited). They never
leave those two columns: the incident log, board events, radio messages and audit rows say only
that caller details were taken (services._opening_text, incident_create's audit row), so blanking
the columns erases every copy. The narrative (summary, call notes, THRIVE, log) is the incident
record itself and is kept; docs/security.md says why and what that leaves.

Each incident erased gets `personal_erased_at` and one audit row naming the fields that held
values, never the values. Batches commit one at a time, skip incidents another transaction holds,
and a second run finds nothing left to do.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import cast

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from cad.audit.trail import audit_record
from incidents.models import Call, Incident, IncidentStatus, OnlineReport

PERSONAL_CALL_FIELDS = ("caller_name", "caller_phone")
# Online reports (issue 15): the reporter's details, erased once the report has been triaged for
# the same period. The incident a report became has its own call, erased with the incident.
PERSONAL_REPORT_FIELDS = ("reporter_name", "reporter_email", "reporter_phone")
SOURCE = "retention"


def retention_days() -> int:
    days = settings.RETENTION_CLOSED_INCIDENT_DAYS
    # Zero or less would erase every closed incident on the next run: refuse, do not guess.
    if not isinstance(days, int) or days < 1:
        raise ImproperlyConfigured("RETENTION_CLOSED_INCIDENT_DAYS must be a whole number ≥ 1")
    return days


def retention_cutoff(*, now: datetime | None = None) -> datetime:
    """Incidents closed before this moment are due for erasure."""
    return (now or timezone.now()) - timedelta(days=retention_days())


def incidents_due_for_erasure(*, cutoff: datetime) -> QuerySet[Incident]:
    """Closed before `cutoff` and not erased since they were last closed.

    An incident reopened after erasure and closed again may have taken new calls, so it is due
    again once its new closing time passes the cutoff. Uses `incident_retention_idx`.
    """
    return Incident.objects.filter(status=IncidentStatus.CLOSED, closed_at__lt=cutoff).filter(
        Q(personal_erased_at__isnull=True) | Q(personal_erased_at__lt=F("closed_at"))
    )


def incidents_erase_personal_batch(
    *, cutoff: datetime, limit: int = 200, now: datetime | None = None
) -> int:
    """Erase callers' details on up to `limit` due incidents, in one transaction; how many."""
    now = now or timezone.now()
    days = retention_days()
    with transaction.atomic():
        # The incident lock first, as every incident service takes it; skip_locked leaves an
        # incident someone is reopening or annotating right now to the next run.
        due = list(
            incidents_due_for_erasure(cutoff=cutoff)
            .select_for_update(skip_locked=True)
            .order_by("closed_at", "id")[:limit]
        )
        for incident in due:
            closed_at = cast(datetime, incident.closed_at)  # chosen by closed_at above
            calls = Call.objects.filter(incident=incident)
            held = [f for f in PERSONAL_CALL_FIELDS if calls.exclude(**{f: ""}).exists()]
            erased_calls = calls.filter(~Q(caller_name="") | ~Q(caller_phone="")).update(
                caller_name="", caller_phone=""
            )
            # A queryset update: neither `updated_at` nor `version` moves, since nothing the
            # board or an open editor shows has changed.
            Incident.objects.filter(pk=incident.pk).update(personal_erased_at=now)
            audit_record(
                user=None, action="erase", obj=incident, source=SOURCE,
                # Metadata only: which fields held something, never what they held.
                changes={"incident": incident.reference, "fields": held, "calls": erased_calls,
                         "closed_at": closed_at.isoformat(), "retention_days": days},
            )  # fmt: skip
    return len(due)


def incidents_erase_personal_expired(
    *, now: datetime | None = None, batch_size: int = 200, max_batches: int = 50
) -> int:
    """Erase every due incident, a batch per transaction, up to `max_batches` per run.

    The cap keeps one run inside the task's time limit when a backlog first meets the job (a
    deployment with years of closed incidents); the next run carries on where this one stopped.
    """
    cutoff = retention_cutoff(now=now)
    total = 0
    for _ in range(max_batches):
        done = incidents_erase_personal_batch(cutoff=cutoff, limit=batch_size, now=now)
        total += done
        if done < batch_size:
            break
    for _ in range(max_batches):
        done = online_reports_erase_personal_batch(cutoff=cutoff, limit=batch_size, now=now)
        total += done
        if done < batch_size:
            break
    return total


def online_reports_due_for_erasure(*, cutoff: datetime) -> QuerySet[OnlineReport]:
    """Triaged before `cutoff` and not erased yet (`online_report_retention_idx`). An
    untriaged report is still work in hand, and the untriaged alert keeps it from waiting."""
    return OnlineReport.objects.filter(triaged_at__lt=cutoff, personal_erased_at__isnull=True)


def online_reports_erase_personal_batch(
    *, cutoff: datetime, limit: int = 200, now: datetime | None = None
) -> int:
    """Erase reporters' details on up to `limit` due reports, in one transaction; how many."""
    now = now or timezone.now()
    days = retention_days()
    with transaction.atomic():
        due = list(
            online_reports_due_for_erasure(cutoff=cutoff)
            .select_for_update(skip_locked=True)
            .order_by("triaged_at", "id")[:limit]
        )
        for report in due:
            held = [f for f in PERSONAL_REPORT_FIELDS if getattr(report, f)]
            OnlineReport.objects.filter(pk=report.pk).update(
                reporter_name="", reporter_email="", reporter_phone="", personal_erased_at=now
            )
            audit_record(
                user=None, action="erase", obj=report, source=SOURCE,
                changes={"report": report.reference, "fields": held, "retention_days": days},
            )  # fmt: skip
    return len(due)
