from django import forms
from django.contrib import admin, messages
from django.contrib.admin.forms import AdminPasswordChangeForm
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import UsernameField
from django.contrib.auth.models import Group, User
from django.contrib.auth.views import PasswordChangeView
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.urls import reverse
from knox.models import AuthToken

from cad.accounts.lockout import lockout_lift
from cad.accounts.roles import ADMIN, ROLES
from cad.accounts.services import user_disable, user_password_reset_send
from cad.accounts.tokens import token_revoke
from cad.audit.admin_base import AuditedAdmin, AuditTrailAdmin, ReadOnlyAdmin
from cad.audit.trail import audit_record, source_of
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


# --- accounts ------------------------------------------------------------------------------------
#
# Who may change an account here (docs/security.md, "The admin"): superusers, anyone's. An admin
# who is not a superuser: accounts with no admin power (not staff, not superuser, no `admin`
# role) other than their own, and only their roles below `admin`, scope, names, email and
# whether they are active. Never a password: a new account has none, and its owner sets one
# through a reset link. Staff accounts and their own are the superuser's (or `cad_user`'s).


def may_manage_account(request, user: User | None) -> bool:
    """May this admin change `user`'s account (None: a new one)?"""
    if request.user.is_superuser:
        return True
    if user is None:
        return True
    if user.pk == request.user.pk or user.is_staff or user.is_superuser:
        return False
    return not user.groups.filter(name=ADMIN).exists()


class UserScopeInline(admin.StackedInline):
    """The BCU scope on the user's own page, so a scope change is saved (and audited) with it."""

    model = UserScope
    can_delete = False
    max_num = 1
    fields = ["bcu"]
    verbose_name = verbose_name_plural = "BCU scope (none: all London)"

    def has_add_permission(self, request, obj=None):
        return may_manage_account(request, obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return may_manage_account(request, obj) and super().has_change_permission(request, obj)


class ManagedUserCreationForm(forms.ModelForm):
    """A new account without a password: its owner chooses one through a reset link."""

    class Meta:
        model = User
        fields = ["username", "first_name", "last_name", "email", "groups"]
        field_classes = {"username": UsernameField}

    def save(self, commit=True):
        user = super().save(commit=False)
        user.set_unusable_password()
        if commit:
            user.save()
            self._save_m2m()  # type: ignore[attr-defined]  # ModelForm sets it; stubs omit it
        return user


@admin.action(description="Disable the selected accounts", permissions=["change"])
def disable_accounts(modeladmin, request, queryset):
    done = skipped = 0
    for user in queryset:
        if not may_manage_account(request, user):
            skipped += 1
            continue
        done += user_disable(user=user, by=request.user, source=source_of(request))
    modeladmin.message_user(request, f"{done} account(s) disabled.")
    if skipped:
        modeladmin.message_user(
            request, f"{skipped} account(s) left alone: not yours to change.", messages.WARNING
        )


@admin.action(
    description="Email the selected accounts a link to set their password", permissions=["change"]
)
def send_password_reset(modeladmin, request, queryset):
    sent, unsent = 0, []
    for user in queryset:
        if may_manage_account(request, user) and user_password_reset_send(
            user=user, by=request.user, source=source_of(request), domain=request.get_host(),
            use_https=request.is_secure(),
        ):  # fmt: skip
            sent += 1
        else:
            unsent.append(user.username)
    modeladmin.message_user(request, f"{sent} reset link(s) sent.")
    if unsent:
        modeladmin.message_user(
            request,
            "Not sent (not yours to change, disabled, or no email address): " + ", ".join(unsent),
            messages.WARNING,
        )


admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class UserAdmin(AuditedAdmin, DjangoUserAdmin):
    """Accounts, their roles (groups) and scope, all on the record; see may_manage_account."""

    audit_secret_fields = ("password",)
    inlines = [UserScopeInline]
    actions = [disable_accounts, send_password_reset]
    list_display = ["username", "email", "first_name", "last_name", "is_active", "is_staff"]
    managed_fieldsets = (
        (None, {"fields": ("username",)}),
        ("Personal info", {"fields": ("first_name", "last_name", "email")}),
        ("Roles", {"fields": ("is_active", "groups")}),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    managed_add_fieldsets = (
        (None, {"fields": ("username", "first_name", "last_name", "email", "groups")}),
    )

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and may_manage_account(request, obj)

    def get_fieldsets(self, request, obj=None):
        if request.user.is_superuser:
            return super().get_fieldsets(request, obj)
        return self.managed_fieldsets if obj else self.managed_add_fieldsets

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None and not request.user.is_superuser:
            kwargs["form"] = ManagedUserCreationForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        if request.user.is_superuser:
            return super().get_readonly_fields(request, obj)
        return ["last_login", "date_joined"]

    def formfield_for_manytomany(self, db_field, request=None, **kwargs):
        # The role groups only; the admin role (staff, and the power to do all this) is given
        # by superusers and `cad_user`.
        if db_field.name == "groups" and not request.user.is_superuser:
            kwargs["queryset"] = Group.objects.filter(name__in=ROLES).exclude(name=ADMIN)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def user_change_password(self, request, id, form_url=""):
        # Only superusers set another account's password; everyone else sends a reset link.
        user = self.get_object(request, unquote(id))
        if not request.user.is_superuser:
            raise PermissionDenied
        request._beacon_setting_password = user
        with transaction.atomic():
            return super().user_change_password(request, id, form_url)

    def log_change(self, request, obj, message):
        # Django calls this once the password form has saved (and nowhere else in that view).
        if getattr(request, "_beacon_setting_password", None) is not None:
            audit_record(
                user=request.user, action="update", obj=obj, source=source_of(request),
                changes={"password": ["***", "changed"]},
            )  # fmt: skip
        return super().log_change(request, obj, message)


@admin.register(Group)
class GroupAdmin(AuditedAdmin, DjangoGroupAdmin):
    """Role groups and their permissions (superusers only: no role holds group permissions)."""


@admin.register(UserScope)
class UserScopeAdmin(AuditedAdmin):
    list_display = ["user", "bcu"]
    list_filter = ["bcu"]
    search_fields = ["user__username"]

    def has_change_permission(self, request, obj=None):
        allowed = obj is None or may_manage_account(request, obj.user)
        return allowed and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        allowed = obj is None or may_manage_account(request, obj.user)
        return allowed and super().has_delete_permission(request, obj)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user" and not request.user.is_superuser:
            kwargs["queryset"] = (
                User.objects.filter(is_staff=False, is_superuser=False)
                .exclude(pk=request.user.pk)
                .exclude(groups__name=ADMIN)
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class OwnPasswordChangeView(PasswordChangeView):
    """The admin's "change password" (old password required), on the record like any change."""

    form_class = AdminPasswordChangeForm

    def form_valid(self, form):
        with transaction.atomic():
            response = super().form_valid(form)
            audit_record(
                user=self.request.user, action="update", obj=self.request.user,  # type: ignore[arg-type]  # signed in: a User
                changes={"password": ["***", "changed"]}, source=source_of(self.request),
            )  # fmt: skip
        return response


def own_password_change(request):
    """Served at /admin/password_change/ in place of the admin site's own (cad/urls.py)."""
    request.current_app = admin.site.name
    view = OwnPasswordChangeView.as_view(
        success_url=reverse("admin:password_change_done"),
        extra_context=admin.site.each_context(request),
    )
    return view(request)


admin_own_password_change = admin.site.admin_view(own_password_change)


@admin.register(AuditEvent)
class AuditEventAdmin(AuditTrailAdmin):
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
    readonly_fields = ("user", "token", "created", "expiry")

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
