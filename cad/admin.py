from django.contrib import admin, messages
from knox.models import AuthToken

from cad.accounts.lockout import lockout_lift
from cad.accounts.tokens import token_revoke
from cad.audit.admin_base import AuditedAdmin, ReadOnlyAdmin
from cad.audit.trail import source_of
from cad.models import BCU, AuditEvent, Borough, Event, LoginFailure, Station, UserScope


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


# knox registers an admin that can mint tokens and saves without the audit trail: replaced.
if admin.site.is_registered(AuthToken):
    admin.site.unregister(AuthToken)


@admin.register(AuthToken)
class APITokenAdmin(AuditedAdmin):
    """API tokens: an admin sees who holds one and until when, and may end one (a lost
    device). None is made or edited here: clients get theirs from POST /api/v1/auth/token/."""

    list_display = ["user", "token", "created", "expiry"]
    list_filter = ["expiry"]
    search_fields = ["user__username"]
    fields = ["user", "token", "created", "expiry"]
    readonly_fields = fields

    @admin.display(description="token")
    def token(self, obj) -> str:
        # The digest's first characters name the token as the audit trail does; the rest of
        # the digest is of no use to anyone reading the page.
        return f"{obj.digest[:12]}…"

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def delete_model(self, request, obj):
        token_revoke(token=obj, by=request.user, source=source_of(request), reason="admin")


@admin.register(LoginFailure)
class LoginFailureAdmin(ReadOnlyAdmin):
    """Recent failed sign-ins, and the one thing an admin may do with them: lift a lockout
    early (the same audited service as `manage.py unlock_login`)."""

    list_display = ["at", "username", "source", "second_factor"]
    list_filter = ["second_factor"]
    search_fields = ["username", "source"]
    date_hierarchy = "at"
    actions = ["lift_lockout"]

    def has_lift_lockout_permission(self, request) -> bool:
        return request.user.has_perm("cad.delete_loginfailure")

    @admin.action(
        description="Lift the lockout of the selected username and address",
        permissions=["lift_lockout"],
    )
    def lift_lockout(self, request, queryset):
        pairs = set(queryset.values_list("username", "source"))
        cleared = sum(
            lockout_lift(
                username=username, address=address, by=request.user, source=source_of(request)
            )  # fmt: skip
            for username, address in sorted(pairs)
        )
        self.message_user(
            request,
            f"Lockout lifted for {len(pairs)} username and address pair(s); "
            f"{cleared} failure(s) cleared.",
            messages.SUCCESS,
        )
