from django.contrib import admin

from cad.audit.admin_base import AuditedAdmin, ReadOnlyAdmin
from cad.models import BCU, AuditEvent, Borough, Event, Station, UserScope


@admin.register(BCU)
class BCUAdmin(AuditedAdmin):
    list_display = ["code", "name"]
    search_fields = ["code", "name"]


@admin.register(Borough)
class BoroughAdmin(AuditedAdmin):
    list_display = ["name", "gss_code", "bcu", "boundary_source"]
    list_filter = ["bcu", "boundary_source"]
    search_fields = ["name", "gss_code"]


@admin.register(Station)
class StationAdmin(AuditedAdmin):
    list_display = ["code", "name", "bcu", "borough", "lat", "lon"]
    list_filter = ["bcu"]
    search_fields = ["code", "name"]


@admin.register(UserScope)
class UserScopeAdmin(AuditedAdmin):
    list_display = ["user", "bcu"]
    list_filter = ["bcu"]
    search_fields = ["user__username"]


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["at", "username", "action", "object_type", "object_id", "object_repr", "source"]
    list_filter = ["action", "object_type"]
    search_fields = ["username", "object_id", "object_repr"]
    date_hierarchy = "at"


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ["seq", "at", "type", "bcu"]
    list_filter = ["type"]
    search_fields = ["seq", "bcu"]
