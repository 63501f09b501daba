"""Crime classifications (reference data, audited) and crime reports (service-written; their
victim and suspect details are personal data, so the admin does not show them)."""

from django.contrib import admin

from cad.audit.admin_base import AuditedAdmin, ReadOnlyAdmin
from incidents.crime.models import CrimeClassification, CrimeReport


@admin.register(CrimeClassification)
class CrimeClassificationAdmin(AuditedAdmin):
    list_display = ["code", "name", "group", "ho_code", "active"]
    list_filter = ["group", "active"]
    search_fields = ["code", "name"]


@admin.register(CrimeReport)
class CrimeReportAdmin(ReadOnlyAdmin):
    list_display = ["incident_reference", "classification", "state", "crime_number", "created_at"]
    list_filter = ["state"]
    fields = ["incident_reference", "classification", "state", "crime_number", "created_at",
              "reviewed_at", "sent_at", "attempts", "last_error"]  # fmt: skip
