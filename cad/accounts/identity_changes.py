"""When who a user is changes, what they hold ends or is re-checked.

A new password, a role added or removed, a new BCU scope, or a deactivated account: each ends
the user's API tokens (inside the transaction of the change, so a token cannot outlive it) and,
after commit, makes each of their open board sockets re-check itself (closed with 4401/4403, or
narrowed to the new scope; cad/live/consumers.py).

Receivers rather than calls from the services, because these changes also come from Django
itself (the admin's user, group and scope forms, `set_password` in the password views), which
no Beacon service wraps. The `before` values are read in `pre_save`, so a save that changes
nothing that matters (a login's `last_login`, a new first name) ends nothing.
"""

from django.contrib.auth.models import Group, User
from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save
from django.dispatch import receiver

from cad.accounts.roles import ROLES
from cad.accounts.tokens import tokens_revoke_all
from cad.audit.trail import source_of
from cad.live.session_sockets import user_sockets_recheck
from cad.models import UserScope

PASSWORD_CHANGED = "password_changed"
ROLE_CHANGED = "role_changed"
SCOPE_CHANGED = "scope_changed"
DEACTIVATED = "deactivated"
LOGOUT = "logout"


def identity_changed(*, user_id: int, reason: str) -> None:
    """End the user's tokens now; re-check their sockets once the change is committed."""
    tokens_revoke_all(user_id=user_id, reason=reason)
    user_sockets_recheck(user_id=user_id, reason=reason)


# --- password and active flag ----------------------------------------------------------------


@receiver(pre_save, sender=User, dispatch_uid="cad.identity.user_before")
def _user_before(sender, instance, raw=False, update_fields=None, **kwargs):
    instance._cad_identity_before = None
    if raw or instance.pk is None:
        return
    if update_fields is not None and not {"password", "is_active"} & set(update_fields):
        return  # e.g. a login writing last_login
    instance._cad_identity_before = (
        User.objects.filter(pk=instance.pk).values("password", "is_active").first()
    )


@receiver(post_save, sender=User, dispatch_uid="cad.identity.user_after")
def _user_after(sender, instance, created, raw=False, **kwargs):
    before = getattr(instance, "_cad_identity_before", None)
    instance._cad_identity_before = None
    if raw or created or before is None:
        return
    if before["is_active"] and not instance.is_active:
        identity_changed(user_id=instance.pk, reason=DEACTIVATED)
    elif before["password"] != instance.password:
        identity_changed(user_id=instance.pk, reason=PASSWORD_CHANGED)


# --- roles (groups) ------------------------------------------------------------------------------


def _role_ids() -> set[int]:
    return set(Group.objects.filter(name__in=ROLES).values_list("pk", flat=True))


@receiver(m2m_changed, sender=User.groups.through, dispatch_uid="cad.identity.groups")
def _groups_changed(sender, instance, action, reverse, pk_set, **kwargs):
    """`user.groups.add/remove/clear/set`, and the same from the group's side."""
    if action == "pre_clear":
        # Which users lose a role is known only before the rows go.
        if reverse:
            users = (
                set(instance.user_set.values_list("pk", flat=True))
                if (instance.name in ROLES)
                else set()
            )
        else:
            users = {instance.pk} if instance.groups.filter(name__in=ROLES).exists() else set()
        instance._cad_role_clear = users
        return
    if action == "post_clear":
        users = getattr(instance, "_cad_role_clear", set())
    elif action in ("post_add", "post_remove"):
        if reverse:  # instance is a Group, pk_set its users
            users = set(pk_set or ()) if instance.name in ROLES else set()
        else:  # instance is a User, pk_set its groups
            users = {instance.pk} if set(pk_set or ()) & _role_ids() else set()
    else:
        return
    for user_id in users:
        identity_changed(user_id=user_id, reason=ROLE_CHANGED)


# --- BCU scope ---------------------------------------------------------------------------------


@receiver(pre_save, sender=UserScope, dispatch_uid="cad.identity.scope_before")
def _scope_before(sender, instance, raw=False, **kwargs):
    instance._cad_bcu_before = (
        None
        if raw or instance.pk is None
        else UserScope.objects.filter(pk=instance.pk).values_list("bcu_id", flat=True).first()
    )


@receiver(post_save, sender=UserScope, dispatch_uid="cad.identity.scope_after")
def _scope_after(sender, instance, created, raw=False, **kwargs):
    if raw:
        return
    # No row and a row with no BCU both mean all London: creating one of those changes nothing.
    if getattr(instance, "_cad_bcu_before", None) != instance.bcu_id:
        identity_changed(user_id=instance.user_id, reason=SCOPE_CHANGED)


@receiver(post_delete, sender=UserScope, dispatch_uid="cad.identity.scope_deleted")
def _scope_deleted(sender, instance, **kwargs):
    if instance.bcu_id is not None:
        identity_changed(user_id=instance.user_id, reason=SCOPE_CHANGED)


# --- logout --------------------------------------------------------------------------------------


@receiver(user_logged_out, dispatch_uid="cad.identity.logout")
def _logged_out(sender, request, user, **kwargs):
    """Signing out of the browser ends the person's API tokens too ("sign out everywhere").

    Idle expiry does not: it is the browser that went quiet, not the person who left.
    """
    if user is None or getattr(request, "cad_logout_reason", LOGOUT) != LOGOUT:
        return
    tokens_revoke_all(user_id=user.pk, reason=LOGOUT, by=user, source=source_of(request))
