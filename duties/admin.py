from django.contrib import admin

from cad.audit.admin_base import AuditedAdmin, ReadOnlyAdmin
from duties.models import (
    Crewing,
    Officer,
    OfficerSkill,
    Shift,
    ShiftAssignment,
    ShiftSkillRequirement,
    Team,
)


@admin.register(Team)
class TeamAdmin(AuditedAdmin):
    list_display = ["name", "bcu"]
    list_filter = ["bcu"]
    search_fields = ["name"]


class OfficerSkillInline(admin.TabularInline):
    model = OfficerSkill
    extra = 0


@admin.register(Officer)
class OfficerAdmin(AuditedAdmin):
    list_display = ["collar_number", "last_name", "first_name", "rank", "bcu", "team", "active"]
    list_filter = ["bcu", "rank", "team", "active"]
    search_fields = ["collar_number", "last_name", "first_name"]
    inlines = [OfficerSkillInline]
    raw_id_fields = ["user"]


class ShiftSkillInline(admin.TabularInline):
    model = ShiftSkillRequirement
    extra = 0


@admin.register(Shift)
class ShiftAdmin(AuditedAdmin):
    list_display = ["bcu", "team", "kind", "starts_at", "ends_at", "minimum_strength"]
    list_filter = ["bcu", "kind", "team"]
    date_hierarchy = "starts_at"
    inlines = [ShiftSkillInline]


@admin.register(ShiftAssignment)
class ShiftAssignmentAdmin(ReadOnlyAdmin):
    list_display = ["shift", "officer", "created_by", "created_at", "override_reason"]
    search_fields = ["officer__collar_number"]


@admin.register(Crewing)
class CrewingAdmin(ReadOnlyAdmin):
    list_display = ["unit", "officer", "shift", "booked_on_at", "booked_off_at"]
    search_fields = ["unit__callsign", "officer__collar_number"]
