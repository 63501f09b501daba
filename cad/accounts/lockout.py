"""Login lockout: failures counted per (username, address), and per address across usernames.

A control room shares one NAT address, so locking an *address* after a few failures would let
one mistyping despatcher lock out the whole room. Instead:

- five failures (password or second factor) for one username from one address within ten
  minutes lock that pair for ten minutes; the same user from another desk's address, and other
  users from the same address, are unaffected;
- an address that fails fifty times within ten minutes, whatever the usernames (a spray), is
  refused for ten minutes; the same users from other addresses are unaffected.

Refused attempts are not counted, so a lock ends on time however often someone knocks.
Failures live in PostgreSQL (cad.models.LoginFailure), not the cache, which may not be shared
between processes or survive a restart. Every outcome is audited with action `login`.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone

from cad.audit.trail import audit_record
from cad.models import LoginFailure

LOCKED_MESSAGE = (
    "Too many failed attempts. Sign-in from here is paused for up to 10 minutes; "
    "try again later or ask a supervisor."
)


def _window() -> timedelta:
    return timedelta(seconds=settings.LOGIN_LOCKOUT_SECONDS)


def normalise(username: str) -> str:
    return (username or "").strip().lower()[:150]


def _locked_until(newest_first: list[datetime], limit: int, now: datetime) -> datetime | None:
    """Locked if the `limit` newest failures fit within one window; for a window after the last.

    Measuring the lock from the failure that reached the limit (not from the oldest one) makes
    it a full ten minutes, as the issue asks.
    """
    if len(newest_first) < limit:
        return None
    window = _window()
    if newest_first[0] - newest_first[limit - 1] > window:
        return None
    until = newest_first[0] + window
    return until if now < until else None


def lockout_until(*, username: str, source: str, now: datetime | None = None) -> datetime | None:
    """When sign-in for this (username, address) may resume, or None if it may now."""
    now = now or timezone.now()
    since = now - 2 * _window()
    pair_limit = settings.LOGIN_FAILURE_LIMIT
    pair = list(
        LoginFailure.objects.filter(username=normalise(username), source=source, at__gt=since)
        .order_by("-at")
        .values_list("at", flat=True)[:pair_limit]
    )
    address_limit = settings.LOGIN_ADDRESS_FAILURE_LIMIT
    address = list(
        LoginFailure.objects.filter(source=source, at__gt=since)
        .order_by("-at")
        .values_list("at", flat=True)[:address_limit]
    )
    locks = [
        until
        for until in (
            _locked_until(pair, pair_limit, now),
            _locked_until(address, address_limit, now),
        )
        if until
    ]
    return max(locks) if locks else None


def _user_ref(user, username: str) -> dict:
    if user is not None:
        return {"object_type": "auth.user", "object_id": str(user.pk)}
    return {"object_type": "auth.user", "object_id": ""}


def _serialise(source: str) -> None:
    """Make attempts from one address take their turn at `attempt_begin`'s check-and-count.

    PostgreSQL: a transaction-scoped advisory lock on the address (held for a count and an
    insert, milliseconds, never across a password check). SQLite: Beacon opens every
    transaction with BEGIN IMMEDIATE (settings), which already lets one writer in at a time.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"login:{source}"])


@dataclass(frozen=True)
class Attempt:
    """A sign-in attempt let through the lock: `failure` is the row already counting it."""

    username: str
    source: str
    failure: int
    second_factor: bool


def attempt_begin(*, username: str, source: str, second_factor: bool = False) -> Attempt | datetime:
    """Check the lock and count this attempt as a failure in one atomic step.

    Returns the Attempt, or the lock's end if the attempt may not go ahead. The attempt counts
    as failed *before* its password (or code) is checked, so attempts racing each other all see
    each other: of twenty wrong passwords sent at once no more than the limit reach the check.
    A right password then takes its row away again (`attempt_succeeded`). A request that dies
    half-way leaves its row as a failure: fail-closed.
    """
    with transaction.atomic():
        _serialise(source)
        now = timezone.now()
        until = lockout_until(username=username, source=source, now=now)
        if until:
            return until
        # Rows older than two windows can no longer affect any lock.
        LoginFailure.objects.filter(at__lt=now - 2 * _window()).delete()
        row = LoginFailure.objects.create(
            username=normalise(username), source=source, at=now, second_factor=second_factor
        )
    return Attempt(normalise(username), source, row.pk, second_factor)


def attempt_failed(attempt: Attempt, *, user=None) -> datetime | None:
    """The password or code was wrong: audit it (it is already counted). Returns the lock's end
    if this failure locked the pair or the address."""
    until = lockout_until(username=attempt.username, source=attempt.source)
    outcome = "second_factor_failed" if attempt.second_factor else "failed"
    changes = {"outcome": outcome, "username": attempt.username}
    if until:
        changes["locked_until"] = until.isoformat()
    audit_record(user=None, action="login", changes=changes, source=attempt.source,
                 **_user_ref(user, attempt.username))  # fmt: skip
    return until


def attempt_succeeded(attempt: Attempt) -> None:
    """The password or code was right: this attempt is no failure after all."""
    LoginFailure.objects.filter(pk=attempt.failure).delete()


def login_failure_record(
    *, username: str, source: str, user=None, second_factor: bool = False
) -> datetime | None:
    """Count one failed attempt that was not begun with `attempt_begin`, and audit it."""
    attempt = attempt_begin(username=username, source=source, second_factor=second_factor)
    if isinstance(attempt, datetime):
        return attempt
    return attempt_failed(attempt, user=user)


def login_refused_record(*, username: str, source: str, until: datetime) -> None:
    """Audit an attempt turned away by a lock (not counted as a failure)."""
    audit_record(
        user=None,
        action="login",
        object_type="auth.user",
        changes={
            "outcome": "locked",
            "username": normalise(username),
            "locked_until": until.isoformat(),
        },
        source=source,
    )


@transaction.atomic
def login_success_record(*, user, source: str, outcome: str = "success") -> None:
    """Clear this pair's failures and audit the sign-in.

    `outcome` is `password_ok` when a second factor is still to come (the pair's failures are
    then kept, so wrong codes add to wrong passwords), `success` when the user is fully in.
    """
    if outcome == "success":
        LoginFailure.objects.filter(username=normalise(user.username), source=source).delete()
    audit_record(user=user, action="login", obj=user, changes={"outcome": outcome}, source=source)


@transaction.atomic
def lockout_lift(*, username: str = "", address: str = "", by=None, source: str = "cli") -> int:
    """Lift a lockout early: forget the failures of `username` (from `address`, if given), or
    of everyone from `address` (a spray lock). Audited; returns how many failures were cleared.

    For a person locked out by their own typing who has since been identified (a supervisor
    vouches, the service desk calls back), not for waving an attack through: the audit row says
    who lifted which lock.
    """
    if not username and not address:
        raise ValueError("name a username, an address or both")
    failures = LoginFailure.objects.all()
    if username:
        failures = failures.filter(username=normalise(username))
    if address:
        failures = failures.filter(source=address)
    count, _ = failures.delete()
    changes = {"outcome": "unlocked", "failures_cleared": count}
    if username:
        changes["username"] = normalise(username)
    if address:
        changes["address"] = address
    target = (
        get_user_model()._default_manager.filter(username__iexact=username).first()
        if (username)
        else None
    )
    audit_record(user=by, action="login", changes=changes, source=source,
                 **_user_ref(target, username))  # fmt: skip
    return count
