"""Reading the audit trail: who may search it, over which rows, and the CSV a search exports.

Admins and all-London supervisors search every row. A supervisor scoped to a BCU searches the
trail of incidents in that BCU (whoever touched them) and of the staff scoped to that BCU, and
is refused (403) an incident or a person of another BCU: the trail names who looked at what,
which is itself personal data about staff.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Q, QuerySet
from django.db.models.fields.json import KeyTextTransform

from cad.accounts.roles import ADMIN, SUPERVISOR, has_role, user_bcu_code
from cad.models import AuditEvent


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
class AuditIncident:
    """What the search needs to know of an incident; the incidents app supplies it."""

    pk: int
    reference: str
    bcu_code: str | None


# The feature apps sit above `cad` and tell the search what it needs of them, from their
# AppConfig.ready(): how to find an incident by id or reference, and which of their own rows
# belong to an incident (assignments, radio messages), so `cad` never imports them.
_incident_lookup: list[Callable[[str], AuditIncident | None]] = []
_incident_rows_providers: list[Callable[[int], Q | None]] = []


def register_incident_lookup(lookup: Callable[[str], AuditIncident | None]) -> None:
    _incident_lookup[:] = [lookup]


def register_incident_rows(provider: Callable[[int], Q | None]) -> None:
    """`provider(incident_pk)` → a filter on AuditEvent for that app's rows of the incident."""
    if provider not in _incident_rows_providers:
        _incident_rows_providers.append(provider)


def audit_incident_find(value: str) -> AuditIncident | None:
    """The incident with this id or reference, or None."""
    return _incident_lookup[0](value) if _incident_lookup else None


@dataclass(frozen=True)
class AuditFilter:
    incident: AuditIncident | None = None
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


def _incident_rows(incident: AuditIncident) -> Q:
    """Rows about the incident, its calls and log entries, and what other apps hang on it.

    Calls, log entries and assignments name the incident by reference in `changes`
    (`audit_incident_ref_idx`); later changes to an assignment or its radio messages name only
    themselves, so the apps that own them supply their rows (a handful per incident).
    """
    if connection.vendor == "postgresql":
        named = Q(incident_ref=incident.reference)  # `changes ->> 'incident'`, indexed
    else:
        # SQLite compares a key transform with JSON, and a bare reference is not JSON.
        named = Q(changes__incident=incident.reference)
    rows = Q(object_type="incidents.incident", object_id=str(incident.pk)) | named
    for provider in _incident_rows_providers:
        extra = provider(incident.pk)
        if extra is not None:
            rows |= extra
    return rows


def audit_search(*, user, filters: AuditFilter) -> QuerySet[AuditEvent]:
    """The rows this user may see that match the filter, newest first.

    Raises AuditScopeError for an incident or a person outside a BCU-limited searcher's scope.
    """
    bcu = audit_bcu_limit(user)
    rows = AuditEvent.objects.alias(incident_ref=KeyTextTransform("incident", "changes"))
    if filters.incident is not None:
        if bcu is not None and filters.incident.bcu_code != bcu:
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
