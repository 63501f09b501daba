"""`Idempotency-Key` on creating requests (api.md "Conventions"): the first answer is stored with
the change and replayed when the client repeats its key, so a retry after a lost response
never creates a second incident or sends a second unit."""

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any, cast

from django.contrib.auth.models import User
from django.db import connection, transaction
from django.utils import timezone
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from cad.api.fields import control_characters
from cad.errors import Conflict
from cad.models import IdempotencyKey
from cad.prepared import PreparedSQL


def idempotent(request: Request, produce: Callable[[], Response]) -> Response:
    """Run `produce()` (which returns a Response) at most once per (user, Idempotency-Key).

    The key row, the change and the stored answer commit together; a repeat gets the stored
    answer. Errors (4xx) roll back the key with everything else, so a corrected request may
    reuse it.
    """
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return produce()
    if not key or len(key) > 200 or control_characters(key, multiline=False):
        raise ValidationError({"Idempotency-Key": ["1 to 200 printable characters."]})
    user = cast(User, request.user)  # every creating endpoint requires sign-in
    fingerprint = request_fingerprint(request.method, request.path, request.data)
    with transaction.atomic():
        stored = idempotency_claim(user=user, key=key, fingerprint=fingerprint)
        if stored is not None:
            response = Response(stored.body, status=stored.status_code)
            response["Idempotent-Replayed"] = "true"
            return response
        response = produce()
        idempotency_store(user=user, key=key, status_code=response.status_code, body=response.data)
    return response


def request_fingerprint(method: str | None, path: str, body: Any) -> str:
    raw = json.dumps([method, path, body], sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()


def idempotency_claim(*, user: User, key: str, fingerprint: str) -> IdempotencyKey | None:
    """Claim `key` for this request inside the caller's transaction.

    Returns None when the key is new (the caller goes on and later stores its answer with
    idempotency_store), or the stored row when it was used before. A concurrent repeat blocks
    on the unique index until the first request commits, then reads its answer. The same key
    with a different request is a client bug: 409.
    """
    # One statement for the common case (a new key), where a read, a savepoint and an insert
    # cost four round trips on every create. On a conflict the database waits for the other
    # transaction holding the key, then inserts nothing; its committed answer is read below.
    with connection.cursor() as cursor:
        _CLAIM.execute(
            cursor,
            [user.pk, key, fingerprint, connection.ops.adapt_datetimefield_value(timezone.now())],
        )
        if cursor.fetchone() is not None:
            return None
    existing = IdempotencyKey.objects.filter(user=user, key=key).first()
    if existing is None:  # the other request rolled back in the meantime
        raise Conflict(
            "a request with this Idempotency-Key is in progress; try again",
            code="idempotency_in_progress",
        )
    if existing.fingerprint != fingerprint:
        raise Conflict(
            "this Idempotency-Key was used for a different request", code="idempotency_key_reused"
        )
    return existing


def idempotency_store(*, user: User, key: str, status_code: int, body: Any) -> None:
    """Keep the answer to a claimed key. One fixed statement, as the claim is: every create
    runs both (the ORM's update cost more to build than to run)."""
    with connection.cursor() as cursor:
        _STORE.execute(cursor, [status_code, json.dumps(body, default=str), user.pk, key])


# Both run on every create: fixed statements, prepared on the server (cad/prepared.py).
_CLAIM = PreparedSQL(
    f"INSERT INTO {IdempotencyKey._meta.db_table} "  # noqa: S608
    "(user_id, key, fingerprint, status_code, body, created_at) "
    "VALUES (%s, %s, %s, 0, '{}', %s) ON CONFLICT (user_id, key) DO NOTHING RETURNING id"
)
_STORE = PreparedSQL(
    f"UPDATE {IdempotencyKey._meta.db_table} SET status_code = %s, body = %s "  # noqa: S608
    "WHERE user_id = %s AND key = %s"
)


def idempotency_keys_purge(*, older_than: timedelta) -> int:
    """Forget stored answers older than `older_than`; returns how many went.

    A client retries within seconds or minutes, so a day's keys are plenty, and the stored
    bodies hold caller details that should not outlive their use.
    """
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=timezone.now() - older_than).delete()
    return deleted
