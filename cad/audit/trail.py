"""The audit trail: every change and every read of personal data, attributable (DPA 2018 s.62)."""

from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.db import models
from django.http import HttpRequest

from cad.models import AuditEvent
from cad.prepared import PreparedInsert


def source_of(request: HttpRequest | None) -> str:
    """Where a request came from. Behind a proxy, trust only the proxy's last hop.

    Without a proxy any client can send X-Forwarded-For, which would let it pick the address
    that login lockout counts against, so the header is read only when TRUST_X_FORWARDED_FOR is
    on (off by default in every profile; the operator turns it on behind a proxy that sets it).
    """
    if request is None:
        return ""
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if forwarded and getattr(settings, "TRUST_X_FORWARDED_FOR", False):
        return forwarded.split(",")[-1].strip()[:100]
    return request.META.get("REMOTE_ADDR", "")[:100]


def audit_record(
    *,
    user: User | AnonymousUser | None,
    action: str,
    obj: models.Model | None = None,
    object_type: str = "",
    object_id: str = "",
    changes: dict[str, Any] | None = None,
    source: str = "",
    object_repr: str | None = None,
) -> AuditEvent:
    """Write one audit row. Call it inside the transaction of the change it records.

    `object_id` and `object_repr` default to the object's key and str(); give them for objects
    whose key or text is a secret (an API token's key is both).
    """
    row = audit_row(user=user, action=action, obj=obj, object_type=object_type,
                    object_id=object_id, object_repr=object_repr or "", changes=changes,
                    source=source)  # fmt: skip
    _AUDIT_INSERT.insert(row)
    return row


_AUDIT_INSERT = PreparedInsert(AuditEvent)  # every change writes one


def audit_row(
    *,
    user: User | AnonymousUser | None,
    action: str,
    obj: models.Model | None = None,
    object_type: str = "",
    object_id: str = "",
    object_repr: str = "",
    changes: dict[str, Any] | None = None,
    source: str = "",
) -> AuditEvent:
    """The row `audit_record` writes, not yet saved: build many, then `audit_records_write`."""
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
        object_repr = object_repr or str(obj)[:200]
    real_user = user if isinstance(user, User) and user.is_authenticated else None
    return AuditEvent(
        user=real_user,
        username=getattr(real_user, "username", "") or "",
        action=action,
        object_type=object_type,
        object_id=object_id,
        object_repr=object_repr,
        changes=changes or {},
        source=source,
    )


def audit_records_write(rows: list[AuditEvent]) -> None:
    """Write many rows from `audit_row` in one insert (a roster pattern audits every officer).
    Inside the transaction of the change they record."""
    AuditEvent.objects.bulk_create(rows, batch_size=1000)


def model_changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    """{field: [old, new]} for the fields that differ."""
    return {k: [before.get(k), v] for k, v in after.items() if before.get(k) != v}


def audit_trail_access_record(
    *,
    user: User | AnonymousUser | None,
    action: str,
    via: str,
    filters: dict[str, Any],
    source: str,
) -> AuditEvent:
    """Record a search (consultation) or an export (disclosure) of the audit trail itself.

    The trail names people and where they worked from, so reading it is on the record too, with
    the filter used: what the reader could have seen can be rebuilt from it.
    """
    return audit_record(user=user, action=action, object_type="cad.auditevent", source=source,
                        changes={"via": via, "filters": filters})  # fmt: skip
