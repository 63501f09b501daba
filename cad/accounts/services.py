"""Writes that belong to the control room as a whole: users and their roles and scope."""

from collections.abc import Iterator
from typing import Any

from django.contrib.auth.forms import PasswordResetForm
from django.contrib.auth.models import Group, User
from django.core.exceptions import ValidationError
from django.db import transaction

from cad.accounts.models import UserPreferences
from cad.accounts.preferences import DEFAULT_KEYS, THEMES, effective_keys, key_map_problems
from cad.accounts.roles import ADMIN, ROLES
from cad.audit.trail import audit_record, model_changes
from cad.errors import DomainError
from cad.models import BCU, UserScope


@transaction.atomic
def user_provision(
    *,
    username: str,
    role: str,
    bcu_code: str | None,
    password: str | None,
    by: User | None = None,
    source: str = "cli",
) -> tuple[User, bool]:
    """Create or update a user with exactly one role and a BCU scope. Returns (user, created).

    Admins are staff (they use the Django admin); nobody else is, so reference data is
    editable by admins only.
    """
    if role not in ROLES:
        raise DomainError(f"unknown role {role!r}; one of {', '.join(ROLES)}", code="bad_role")
    bcu = None
    if bcu_code:
        bcu = BCU.objects.filter(code=bcu_code.upper()).first()
        if bcu is None:
            raise DomainError(f"unknown BCU {bcu_code!r}", code="bad_bcu")
    user, created = User.objects.select_for_update(no_key=True).get_or_create(username=username)
    scope = getattr(user, "scope", None)  # a new user has none yet
    before = {
        "roles": sorted(user.groups.values_list("name", flat=True)) if not created else [],
        "bcu": scope.bcu.code if scope is not None and scope.bcu_id else None,
        "is_staff": user.is_staff,
    }
    if password:
        user.set_password(password)
    elif created:
        user.set_unusable_password()
    user.is_staff = role == ADMIN
    user.is_active = True
    user.save()
    # Only when the role really changes: a role change ends the user's API tokens and
    # re-checks their sockets (cad/accounts/identity_changes.py), re-running `cad_user` must not.
    held = set(user.groups.filter(name__in=ROLES).values_list("name", flat=True))
    if held - {role}:
        user.groups.remove(*Group.objects.filter(name__in=held - {role}))
    if role not in held:
        user.groups.add(Group.objects.get(name=role))
    UserScope.objects.update_or_create(user=user, defaults={"bcu": bcu})
    after = {"roles": [role], "bcu": bcu.code if bcu else None, "is_staff": user.is_staff}
    changes = {k: [before[k], v] for k, v in after.items() if before[k] != v}
    if password:
        changes["password"] = ["***", "changed"]
    audit_record(
        user=by, action="create" if created else "update", obj=user, changes=changes,
        source=source,
    )  # fmt: skip
    return user, created


def user_disable(*, user: User, by: User | None, source: str) -> bool:
    """Switch an account off (it can no longer sign in; its sockets close on commit, see
    cad/session_sockets.py). Returns False when it was already off."""
    with transaction.atomic():
        locked = User.objects.select_for_update(no_key=True).get(pk=user.pk)
        if not locked.is_active:
            return False
        locked.is_active = False
        locked.save(update_fields=["is_active"])
        audit_record(user=by, action="update", obj=locked, changes={"is_active": [True, False]},
                     source=source)  # fmt: skip
    user.is_active = False
    return True


class _ResetLinkForm(PasswordResetForm):
    """Django's reset mail, to one chosen account: also one made without a password (its
    owner sets the first through the link), which PasswordResetForm's own lookup skips."""

    def __init__(self, user: User):
        super().__init__(data={"email": user.email})
        self.user = user

    def get_users(self, email: str) -> Iterator[User]:
        yield self.user


def user_password_reset_send(
    *, user: User, by: User | None, source: str, domain: str, use_https: bool
) -> bool:
    """Mail the account's owner a single-use link to choose a password (Django's reset tokens:
    they expire after PASSWORD_RESET_TIMEOUT and once the password changes). False when the
    account has no email address or is disabled; nothing is sent then."""
    form = _ResetLinkForm(user)
    if not user.is_active or not user.email or not form.is_valid():
        return False
    with transaction.atomic():
        audit_record(user=by, action="update", obj=user, changes={"password_reset": "sent"},
                     source=source)  # fmt: skip
        # Sent last: a failed send rolls the record back with it.
        form.save(
            domain_override=domain, use_https=use_https,
            subject_template_name="registration/password_set_subject.txt",
            email_template_name="registration/password_set_email.txt",
        )  # fmt: skip
    return True


@transaction.atomic
def user_preferences_set(
    *,
    user: User,
    shortcuts: bool,
    confirm_despatch: bool,
    theme: str,
    keys: dict[str, str],
    by: User | None,
    source: str,
) -> UserPreferences:
    """Replace a user's screen settings; `keys` names only the shortcuts moved from their
    default (the others keep it). Audited when anything changed.

    Raises ValidationError (field → messages) for an unknown theme, an unknown action, a key
    that is not one visible character, or one key given to two actions.
    """
    problems = key_map_problems(keys)
    if problems:
        raise ValidationError({"keys": [f"{a}: {' '.join(m)}" for a, m in problems.items()]})
    if theme not in THEMES:
        raise ValidationError({"theme": [f"One of {', '.join(THEMES)}."]})
    prefs, created = UserPreferences.objects.select_for_update(no_key=True).get_or_create(user=user)
    before = {
        "shortcuts": prefs.shortcuts,
        "confirm_despatch": prefs.confirm_despatch,
        "theme": prefs.theme,
        "keys": effective_keys(prefs.keys),
    }
    prefs.shortcuts = shortcuts
    prefs.confirm_despatch = confirm_despatch
    prefs.theme = theme
    prefs.keys = {a: k for a, k in keys.items() if DEFAULT_KEYS[a] != k}
    after = {
        "shortcuts": shortcuts,
        "confirm_despatch": confirm_despatch,
        "theme": theme,
        "keys": effective_keys(prefs.keys),
    }
    changes: dict[str, Any] = model_changes(before, after)
    if "keys" in changes:  # only the shortcuts that moved, not the whole map twice
        old, new = changes["keys"]
        changes["keys"] = {a: [old[a], new[a]] for a in new if old[a] != new[a]}
    if changes or created:
        prefs.save()
        audit_record(user=by, action="create" if created else "update", obj=prefs,
                     changes=changes, source=source)  # fmt: skip
    return prefs
