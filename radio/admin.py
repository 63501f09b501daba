from django.contrib import admin

from cad.audit.admin_base import AuditedAdmin, ReadOnlyAdmin
from radio.models import RadioMessage, StatusCodeMapping


@admin.register(StatusCodeMapping)
class StatusCodeMappingAdmin(AuditedAdmin):
    list_display = ["code", "description", "status", "deployable", "emergency"]
    list_filter = ["status", "emergency"]
    search_fields = ["description"]


@admin.register(RadioMessage)
class RadioMessageAdmin(ReadOnlyAdmin):
    list_display = ["received_at", "direction", "kind", "issi", "code", "state", "gateway_id",
                    "alerted_at"]  # fmt: skip
    list_filter = ["direction", "kind", "state"]
    search_fields = ["issi", "gateway_id"]
