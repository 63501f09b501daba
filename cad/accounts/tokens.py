"""API tokens: issued by `POST /api/v1/auth/token/`, sent as `Authorization: Token <key>`.

django-rest-knox stores each token as a SHA-512 digest (and the key's first 15 characters, to
find the row), so a copy of the database holds no usable token. A token ends when it expires
(TOKEN_TTL_SECONDS, 12 hours by default) or is revoked here: at logout, and whenever its user's
password, roles, scope or active flag change (cad/accounts/identity_changes.py). Every issue
and every revocation is audited. See docs/decisions/0008-api-tokens.md.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone
from knox.models import AuthToken

from cad.audit.trail import audit_record

OBJECT_TYPE = "knox.authtoken"


@transaction.atomic
def token_issue(*, user: User, source: str) -> tuple[AuthToken, str]:
    """A new token for `user`: returns the row and the key, which is never stored or shown again.

    The user's expired tokens go at the same time, so they do not pile up for clients (radio
    gateways) that sign in again every shift.
    """
    AuthToken.objects.filter(user=user, expiry__lt=timezone.now()).delete()
    instance, key = AuthToken.objects.create(
        user=user, expiry=timedelta(seconds=settings.TOKEN_TTL_SECONDS)
    )
    audit_record(
        user=user,
        action="create",
        object_type=OBJECT_TYPE,
        object_id=str(user.pk),
        # A prefix of the digest names the token in the trail without revealing any of it.
        changes={"token": instance.digest[:12], "expiry": instance.expiry.isoformat()},
        source=source,
    )
    return instance, key


def tokens_purge_expired(*, now: datetime | None = None) -> int:
    """Delete every token that has expired (hourly, by beat). Not audited: an expired token
    already answers 401, and the trail has its issue and its expiry. Returns how many."""
    count, _ = AuthToken.objects.filter(expiry__lt=now or timezone.now()).delete()
    return count


@transaction.atomic
def token_revoke(*, token: AuthToken, by: User | None, source: str, reason: str = "logout") -> None:
    """End one token: an API client logging out, or an admin ending it."""
    audit_record(
        user=by,
        action="delete",
        object_type=OBJECT_TYPE,
        object_id=str(token.user_id),
        changes={"reason": reason, "tokens": 1, "token": token.digest[:12]},
        source=source,
    )
    token.delete()


@transaction.atomic
def tokens_revoke_all(
    *, user_id: int, reason: str, by: User | None = None, source: str = ""
) -> int:
    """End every token of a user. Audited when there was one to end. Returns how many."""
    count, _ = AuthToken.objects.filter(user_id=user_id).delete()
    if count:
        audit_record(
            user=by,
            action="delete",
            object_type=OBJECT_TYPE,
            object_id=str(user_id),
            changes={"reason": reason, "tokens": count},
            source=source,
        )
    return count
