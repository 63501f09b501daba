"""Close a user's board sockets when their session ends: logout, idle expiry, account disabled.

Each board socket joins the group `user.<id>` (cad/live/consumers.py); these receivers send that
group a `session.close`, and the consumer closes with 4401, which the page reads as "signed
out". Receivers rather than service calls because logins, logouts and user saves also come
from Django itself (the admin, the auth views), which no Beacon service wraps.
"""

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from cad.accounts.second_factor import SESSION_KEY as SECOND_FACTOR_KEY
from cad.accounts.sessions import record_activity
from cad.audit.trail import audit_record, source_of

logger = logging.getLogger(__name__)

CLOSE_CODE = 4401


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def _send_after_commit(*, user_id: int, kind: str, reason: str) -> None:
    def send():
        layer = get_channel_layer()
        if layer is None:
            return
        try:
            async_to_sync(layer.group_send)(user_group(user_id), {"type": kind, "reason": reason})
        except Exception:  # noqa: BLE001  (a layer outage must not break logout itself)
            # The sockets still re-check themselves within RECHECK_SECONDS (cad/live/consumers.py).
            logger.warning("could not reach sockets of user %s (%s, %s)", user_id, kind, reason)

    transaction.on_commit(send)


def user_sockets_close(*, user_id: int, reason: str) -> None:
    """Tell every board socket of this user to close (after the current transaction commits)."""
    _send_after_commit(user_id=user_id, kind="session.close", reason=reason)


def user_sockets_recheck(*, user_id: int, reason: str) -> None:
    """Tell every board socket of this user to re-check who it serves (after commit): a new
    password, role or scope closes it (4401/4403) or narrows its stream."""
    _send_after_commit(user_id=user_id, kind="session.recheck", reason=reason)


@receiver(user_logged_in, dispatch_uid="cad.session_start")
def _session_start(sender, request, user, **kwargs):
    # Every login starts pending (no second factor yet) and active now, however it happened.
    if request is not None and hasattr(request, "session"):
        request.session.pop(SECOND_FACTOR_KEY, None)
        record_activity(request.session)


@receiver(user_logged_out, dispatch_uid="cad.session_end")
def _session_end(sender, request, user, **kwargs):
    if user is None:
        return
    reason = getattr(request, "cad_logout_reason", "logout")
    if reason == "logout":
        audit_record(
            user=user,
            action="login",
            obj=user,
            changes={"outcome": "logout"},
            source=source_of(request),
        )
    user_sockets_close(user_id=user.pk, reason=reason)


@receiver(post_save, sender=get_user_model(), dispatch_uid="cad.user_disabled")
def _user_saved(sender, instance, created, **kwargs):
    if not created and not instance.is_active:
        user_sockets_close(user_id=instance.pk, reason="disabled")
