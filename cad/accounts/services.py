"""Writes that belong to the control room as a whole: users and their roles and scope."""

from django.contrib.auth.models import Group, User
from django.db import transaction

from cad.accounts.roles import ADMIN, ROLES
from cad.audit.trail import audit_record
from cad.errors import DomainError
from cad.models import BCU, UserScope


@transaction.atomic
def user_provision(
    *,
    username: str,
    role: str,
    bcu_code: str | None,
    password: str | None,
    by=None,
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
    user, created = User.objects.select_for_update().get_or_create(username=username)
    before = {
        "roles": sorted(user.groups.values_list("name", flat=True)) if not created else [],
        "bcu": getattr(getattr(user, "scope", None), "bcu_id", None) and user.scope.bcu.code,
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
