"""The audit trail: every change and every read of personal data, attributable (DPA 2018 s.62)."""

from typing import Any

from django.db import models

from cad.models import AuditEvent


def source_of(request) -> str:
    """Where a request came from. Behind a proxy, trust only the proxy's last hop."""
    if request is None:
        return ""
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if forwarded:
        return forwarded.split(",")[-1].strip()[:100]
    return request.META.get("REMOTE_ADDR", "")[:100]


def audit_record(
    *,
    user,
    action: str,
    obj: models.Model | None = None,
    object_type: str = "",
    object_id: str = "",
    changes: dict[str, Any] | None = None,
    source: str = "",
) -> AuditEvent:
    """Write one audit row. Call it inside the transaction of the change it records."""
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
        object_repr = str(obj)[:200]
    else:
        object_repr = ""
    real_user = user if getattr(user, "is_authenticated", False) else None
    return AuditEvent.objects.create(
        user=real_user,
        username=getattr(real_user, "username", "") or "",
        action=action,
        object_type=object_type,
        object_id=object_id,
        object_repr=object_repr,
        changes=changes or {},
        source=source,
    )


def model_changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    """{field: [old, new]} for the fields that differ."""
    return {k: [before.get(k), v] for k, v in after.items() if before.get(k) != v}
