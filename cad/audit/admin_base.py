"""Admin base classes: every admin change is audited; append-only records are read-only."""

from django.contrib import admin
from django.db import transaction
from django.forms.models import model_to_dict

from cad.audit.trail import audit_record, model_changes, source_of


def _snapshot(obj) -> dict:
    if obj.pk is None:
        return {}
    return {k: str(v) for k, v in model_to_dict(obj).items()}


class AuditedAdmin(admin.ModelAdmin):
    """Reference data edited by admins: each save and delete writes an audit row atomically."""

    def save_model(self, request, obj, form, change):
        before = _snapshot(type(obj).objects.get(pk=obj.pk)) if change else {}
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            audit_record(
                user=request.user,
                action="update" if change else "create",
                obj=obj,
                changes=model_changes(before, _snapshot(obj)),
                source=source_of(request),
            )

    def delete_model(self, request, obj):
        with transaction.atomic():
            audit_record(
                user=request.user, action="delete", obj=obj, changes=_snapshot(obj),
                source=source_of(request),
            )  # fmt: skip
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
