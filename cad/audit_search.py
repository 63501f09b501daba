"""Reading the audit trail: who may search it, over which rows, and the CSV a search exports.

Admins and all-London supervisors search every row. A supervisor scoped to a BCU searches the
trail of incidents in that BCU (whoever touched them) and of the staff scoped to that BCU, and
is refused (403) an incident or a person of another BCU: the trail names who looked at what,
which is itself personal data about staff.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Q, QuerySet
from django.db.models.fields.json import KeyTextTransform

from cad.models import AuditEvent
from cad.roles import ADMIN, SUPERVISOR, has_role, user_bcu_code


class AuditScopeError(Exception):
    """The filter names an incident or a person outside the searcher's BCU."""


def can_search_audit(user) -> bool:
    return has_role(user, SUPERVISOR, ADMIN)


def audit_bcu_limit(user) -> str | None:
    """The BCU a searcher is limited to, or None for every row (admins, central supervisors)."""
    if has_role(user, ADMIN):
        return None
    return user_bcu_code(user)


@dataclass(frozen=True)
class AuditFilter:
    incident: Any = None  # an incidents.Incident, already looked up
    username: str = ""
    start: datetime | None = None
    end: datetime | None = None
    action: str = ""

    def as_record(self) -> dict[str, Any]:
        """The filter as the audit row of the search records it."""
        return {
            "incident": self.incident.reference if self.incident is not None else None,
            "user": self.username or None,
            "from": self.start.isoformat() if self.start else None,
            "to": self.end.isoformat() if self.end else None,
            "action": self.action or None,
        }


def _incident_rows(incident) -> Q:
    """Rows about the incident, its calls and log entries, its assignments and their messages.

    Calls, log entries and assignments name the incident by reference in `changes`
    (`audit_incident_ref_idx`); later changes to an assignment or its radio messages name only
    themselves, so their ids are collected first (a handful per incident).
    """
    from radio.models import RadioMessage
    from resources.models import Assignment

    assignment_ids = Assignment.objects.filter(incident=incident).values_list("id", flat=True)
    message_ids = RadioMessage.objects.filter(assignment__incident=incident).values_list(
        "id", flat=True
    )
    assignments = [str(i) for i in assignment_ids]
    messages = [str(i) for i in message_ids]
    if connection.vendor == "postgresql":
        named = Q(incident_ref=incident.reference)  # `changes ->> 'incident'`, indexed
    else:
        # SQLite compares a key transform with JSON, and a bare reference is not JSON.
        named = Q(changes__incident=incident.reference)
    rows = Q(object_type="incidents.incident", object_id=str(incident.pk)) | named
    if assignments:
        rows |= Q(object_type="resources.assignment", object_id__in=assignments)
    if messages:
        rows |= Q(object_type="radio.radiomessage", object_id__in=messages)
    return rows


def audit_search(*, user, filters: AuditFilter) -> QuerySet[AuditEvent]:
    """The rows this user may see that match the filter, newest first.

    Raises AuditScopeError for an incident or a person outside a BCU-limited searcher's scope.
    """
    bcu = audit_bcu_limit(user)
    rows = AuditEvent.objects.alias(incident_ref=KeyTextTransform("incident", "changes"))
    if filters.incident is not None:
        incident_bcu = filters.incident.bcu.code if filters.incident.bcu_id else None
        if bcu is not None and incident_bcu != bcu:
            raise AuditScopeError("That incident is outside your BCU.")
        rows = rows.filter(_incident_rows(filters.incident))
    if filters.username:
        if bcu is not None:
            person = get_user_model().objects.filter(username=filters.username).first()
            if person is None or user_bcu_code(person) != bcu:
                raise AuditScopeError("That person is outside your BCU.")
        rows = rows.filter(username=filters.username)
    if bcu is not None and filters.incident is None and not filters.username:
        rows = rows.filter(user__scope__bcu__code=bcu)
    if filters.start:
        rows = rows.filter(at__gte=filters.start)
    if filters.end:
        rows = rows.filter(at__lt=filters.end)
    if filters.action:
        rows = rows.filter(action=filters.action)
    return rows.order_by("-at", "-id")


def audit_row(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "at": event.at.isoformat(),
        "user": event.username,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "object_repr": event.object_repr,
        "changes": event.changes,
        "source": event.source,
    }


CSV_COLUMNS = ["id", "at", "user", "action", "object_type", "object_id", "object_repr",
               "source", "changes"]  # fmt: skip


class _Line:
    """A file-like that hands back what csv.writer writes, so rows stream one at a time."""

    def write(self, value: str) -> str:
        return value


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    # A spreadsheet would run a cell starting like a formula (CSV injection).
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


def audit_csv_lines(rows: QuerySet[AuditEvent]) -> Iterator[str]:
    """The CSV of `rows`, a line at a time, read from the database in chunks."""
    writer = csv.writer(_Line())
    yield writer.writerow(CSV_COLUMNS)
    for event in rows.iterator(chunk_size=2000):
        row = audit_row(event)
        yield writer.writerow([_cell(str(row[c]) if c == "id" else row[c]) for c in CSV_COLUMNS])
