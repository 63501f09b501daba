from django import forms
from django.contrib import admin

from cad.audit.admin_base import AuditedAdmin, ReadOnlyAdmin
from cad.audit.trail import source_of
from cad.errors import DomainError
from incidents.models import (
    Call,
    ClosingCode,
    GazetteerEntry,
    GradeChange,
    Incident,
    IncidentLogEntry,
    IncidentType,
    MessageTemplate,
    Qualifier,
    ResponsePlanItem,
    WarningMarker,
)
from incidents.public.texts import template_errors
from incidents.selectors import gazetteer_normalise
from incidents.services import warning_marker_expire


class ResponsePlanInline(admin.TabularInline):
    model = ResponsePlanItem
    extra = 1


@admin.register(IncidentType)
class IncidentTypeAdmin(AuditedAdmin):
    list_display = ["code", "name", "category", "default_grade", "active"]
    list_filter = ["category", "default_grade", "active"]
    search_fields = ["code", "name"]
    inlines = [ResponsePlanInline]


@admin.register(ClosingCode)
class ClosingCodeAdmin(AuditedAdmin):
    list_display = ["code", "name", "active"]
    list_filter = ["active"]
    search_fields = ["code", "name"]


@admin.register(Qualifier)
class QualifierAdmin(AuditedAdmin):
    list_display = ["code", "name", "active"]
    list_filter = ["active"]
    search_fields = ["code", "name"]


@admin.register(WarningMarker)
class WarningMarkerAdmin(AuditedAdmin):
    list_display = ["address", "text", "expires_at", "created_by", "created_at"]
    list_filter = ["expires_at"]
    search_fields = ["address", "text"]
    readonly_fields = ["created_by", "created_at"]
    actions = ["expire_now"]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    @admin.action(description="Expire the selected warnings now")
    def expire_now(self, request, queryset):
        expired = 0
        for marker in queryset:
            try:
                warning_marker_expire(marker=marker, by=request.user, source=source_of(request))
                expired += 1
            except DomainError:
                pass  # already expired: nothing to do
        self.message_user(request, f"{expired} warning(s) expired.")


@admin.register(GazetteerEntry)
class GazetteerEntryAdmin(AuditedAdmin):
    list_display = ["address", "postcode", "kind", "uprn", "lat", "lon", "source"]
    list_filter = ["kind", "source"]
    search_fields = ["search", "uprn", "postcode"]
    readonly_fields = ["search"]

    def save_model(self, request, obj, form, change):
        # Keep the autocomplete key in step with what the admin typed.
        obj.search = gazetteer_normalise(f"{obj.address} {obj.postcode}")[:320]
        super().save_model(request, obj, form, change)


class LogInline(admin.TabularInline):
    model = IncidentLogEntry
    extra = 0
    can_delete = False
    readonly_fields = ["at", "by", "kind", "text"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Incident)
class IncidentAdmin(ReadOnlyAdmin):
    """Incidents change only through the call-handling and despatch services."""

    list_display = ["reference", "type", "grade", "status", "bcu", "created_at", "due_at"]
    list_filter = ["status", "grade", "bcu", "type"]
    search_fields = ["reference", "address", "summary"]
    date_hierarchy = "created_at"
    inlines = [LogInline]


@admin.register(Call)
class CallAdmin(ReadOnlyAdmin):
    # Caller details are personal data: list only what identifies the call, not the caller.
    list_display = ["incident", "channel", "received_at", "taken_by"]
    list_filter = ["channel"]
    search_fields = ["incident__reference"]
    exclude = ["caller_name", "caller_phone"]


@admin.register(IncidentLogEntry)
class IncidentLogEntryAdmin(ReadOnlyAdmin):
    list_display = ["incident", "at", "by", "kind", "text"]
    list_filter = ["kind"]
    search_fields = ["incident__reference", "text"]


@admin.register(GradeChange)
class GradeChangeAdmin(ReadOnlyAdmin):
    list_display = ["incident", "at", "by", "from_grade", "to_grade", "reason"]
    list_filter = ["to_grade"]
    search_fields = ["incident__reference"]


# Crime reports (incidents/crime/admin.py registers its models).
from incidents.crime import admin as crime_admin  # noqa: E402, F401

# --- the public's side (issue 15) ------------------------------------------------------------


class MessageTemplateForm(forms.ModelForm):
    """Only $reference and $status: a text never names an officer or gives a position."""

    class Meta:
        model = MessageTemplate
        fields = ["kind", "channel", "subject", "body"]

    def clean_body(self):
        body = self.cleaned_data["body"]
        if problems := template_errors(body):
            raise forms.ValidationError(problems)
        return body

    def clean_subject(self):
        subject = self.cleaned_data["subject"]
        if problems := template_errors(subject):
            raise forms.ValidationError(problems)
        return subject


@admin.register(MessageTemplate)
class MessageTemplateAdmin(AuditedAdmin):
    form = MessageTemplateForm
    list_display = ["kind", "channel", "body"]
    list_filter = ["channel"]
