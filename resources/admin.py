from django.contrib import admin

from cad.audit.admin_base import AuditedAdmin, ReadOnlyAdmin
from resources.models import Assignment, Skill, Unit, UnitStatusChange, UnitType


@admin.register(UnitType)
class UnitTypeAdmin(AuditedAdmin):
    list_display = ["code", "name", "urban_speed_kmh", "blue_light_speed_kmh"]
    search_fields = ["code", "name"]


@admin.register(Skill)
class SkillAdmin(AuditedAdmin):
    list_display = ["code", "name"]
    search_fields = ["code", "name"]


@admin.register(Unit)
class UnitAdmin(AuditedAdmin):
    """Reference fields only: status, position and emergency move through services."""

    list_display = ["callsign", "type", "bcu", "station", "issi", "status", "emergency", "active"]
    list_filter = ["status", "type", "bcu", "emergency", "active"]
    search_fields = ["callsign", "issi"]
    readonly_fields = [
        "status", "status_at", "deployable", "lat", "lon", "position_at", "emergency",
        "emergency_at", "skills", "last_cleared_at", "version",
    ]  # fmt: skip


@admin.register(Assignment)
class AssignmentAdmin(ReadOnlyAdmin):
    list_display = ["incident", "unit", "assigned_at", "en_route_at", "at_scene_at", "cleared_at"]
    list_filter = ["message_state"]
    search_fields = ["incident__reference", "unit__callsign"]


@admin.register(UnitStatusChange)
class UnitStatusChangeAdmin(ReadOnlyAdmin):
    list_display = ["unit", "at", "from_status", "to_status", "source", "by"]
    list_filter = ["to_status", "source"]
    search_fields = ["unit__callsign"]


# Partner agencies (resources/partners/admin.py registers its models).
from resources.partners import admin as partners_admin  # noqa: E402, F401
