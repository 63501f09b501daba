"""Admin base classes: every admin change is audited; append-only records are read-only.

`AuditedAdmin` writes one audit row per object the admin changes, with the change's before and
after: the object itself (its many-to-many fields included, so a user's groups or a group's
permissions are on the record) and each row added, changed or deleted in an inline. The rows
are written inside the admin's own transaction (`changeform_view` is atomic), so a change and
its record commit together.

Any model admin can use it, the User, Group and token admins included: list secret fields in
`audit_secret_fields` (their values never reach the trail, only that they changed) and override
`audit_identity` when an object's key or text is itself a secret.
"""

from collections.abc import Iterable
from datetime import date, datetime, time
from decimal import Decimal
from hashlib import sha256
from typing import Any

from django.contrib import admin
from django.db import models, transaction

from cad.audit.trail import audit_record, audit_trail_access_record, model_changes, source_of

SECRET = "***"


def _plain(value: Any) -> Any:
    """A value as JSON can hold it, readable in the trail."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return str(value)


def audit_snapshot(obj: models.Model, *, secret: Iterable[str] = ()) -> dict[str, Any]:
    """The object's fields as stored: related objects by their text, many-to-many as a sorted
    list of texts, secret fields only as a digest (so a change shows, never the value)."""
    if obj.pk is None:
        return {}
    secret = set(secret)
    values: dict[str, Any] = {}
    for f in obj._meta.concrete_fields:
        if f.primary_key or f.generated:
            # A generated column is the database's own function of the others (and stale on
            # the object after a save): the fields it comes from are in the snapshot.
            continue
        if f.name in secret:
            raw = f.value_from_object(obj)
            values[f.name] = sha256(str(raw).encode()).hexdigest() if raw else None
        elif f.is_relation:
            related = getattr(obj, f.name, None)
            values[f.name] = str(related) if related is not None else None
        else:
            values[f.name] = _plain(f.value_from_object(obj))
    for f in obj._meta.many_to_many:
        values[f.name] = sorted(str(o) for o in getattr(obj, f.name).all())
    return values


def audit_changes(before: dict, after: dict, *, secret: Iterable[str] = ()) -> dict[str, Any]:
    """{field: [old, new]} for the fields that differ; a secret field as ["***", "changed"]."""
    changes = model_changes(before, after)
    for name in secret:
        if name in changes:
            changes[name] = [SECRET, "changed"]
    return changes


def _without_secrets(snapshot: dict, secret: Iterable[str]) -> dict:
    return {k: (SECRET if k in set(secret) and v else v) for k, v in snapshot.items()}


class AuditedAdmin(admin.ModelAdmin):
    """Data edited in the admin: each save and delete, inlines included, writes audit rows."""

    audit_secret_fields: tuple[str, ...] = ()

    def audit_identity(self, obj: models.Model) -> tuple[str, str]:
        """(object_id, object_repr) for the trail; override when either is a secret."""
        return str(obj.pk), str(obj)

    def _record(self, request, obj, action: str, changes: dict, **extra) -> None:
        object_id, object_repr = self.audit_identity(obj)
        audit_record(
            user=request.user, action=action, obj=obj, object_id=object_id,
            object_repr=object_repr, changes={**changes, **extra}, source=source_of(request),
        )  # fmt: skip

    def save_model(self, request, obj, form, change):
        # Before, as stored (the form has already changed `obj` in memory). The row is written
        # in save_related, once the many-to-many fields are saved too.
        stored = type(obj)._default_manager.get(pk=obj.pk) if change else None
        form._audit_before = (
            audit_snapshot(stored, secret=self.audit_secret_fields) if stored else {}
        )
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        with transaction.atomic():
            form.save_m2m()
            obj = form.instance
            after = audit_snapshot(obj, secret=self.audit_secret_fields)
            changes = audit_changes(getattr(form, "_audit_before", {}), after,
                                    secret=self.audit_secret_fields)  # fmt: skip
            self._record(request, obj, "update" if change else "create", changes)
            for formset in formsets:
                self.save_formset(request, form, formset, change=change)

    def save_formset(self, request, form, formset, change):
        """Inline rows: one audit row each for every row added, changed or deleted."""
        model = formset.model
        stored = model._default_manager.filter(
            pk__in=[f.instance.pk for f in formset.initial_forms if f.instance.pk]
        )
        before = {o.pk: audit_snapshot(o) for o in stored}
        deleted = [(f.instance.pk, str(f.instance)) for f in formset.deleted_forms
                   if f.instance.pk]  # fmt: skip
        super().save_formset(request, form, formset, change)
        parent = [form.instance._meta.label_lower, str(form.instance.pk)]
        source = source_of(request)
        for obj in formset.new_objects:
            changes = model_changes({}, audit_snapshot(obj))
            audit_record(user=request.user, action="create", obj=obj, source=source,
                         changes={**changes, "inline_of": parent})  # fmt: skip
        for obj, _fields in formset.changed_objects:
            changes = model_changes(before.get(obj.pk, {}), audit_snapshot(obj))
            audit_record(user=request.user, action="update", obj=obj, source=source,
                         changes={**changes, "inline_of": parent})  # fmt: skip
        for pk, text in deleted:
            audit_record(
                user=request.user, action="delete", object_type=model._meta.label_lower,
                object_id=str(pk), object_repr=text, source=source,
                changes={**before.get(pk, {}), "inline_of": parent},
            )  # fmt: skip

    def delete_model(self, request, obj):
        with transaction.atomic():
            snapshot = audit_snapshot(obj, secret=self.audit_secret_fields)
            self._record(request, obj, "delete",
                         _without_secrets(snapshot, self.audit_secret_fields))  # fmt: skip
            super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for obj in queryset:
                self.delete_model(request, obj)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records written only by services (logs, audit, events): visible, never edited here."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class AuditTrailAdmin(ReadOnlyAdmin):
    """The audit trail itself: reading it names people and where they worked, so each list
    and each row opened is recorded as a consultation, with the filter (as the API's search)."""

    def changelist_view(self, request, extra_context=None):
        filters = {k: v for k, v in request.GET.items() if k not in {"p", "o"}}
        audit_trail_access_record(user=request.user, action="read_personal", via="admin",
                                  filters=filters, source=source_of(request))  # fmt: skip
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        audit_record(
            user=request.user, action="read_personal", object_type="cad.auditevent",
            object_id=str(object_id)[:64], changes={"via": "admin"}, source=source_of(request),
        )  # fmt: skip
        return super().change_view(request, object_id, form_url, extra_context)
