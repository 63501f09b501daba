"""Two-factor sign-in (TOTP) for supervisors and admins: devices, codes and the session flag.

After the password, a session of a user who needs a second factor is *pending*: the
SecondFactorMiddleware (cad/accounts/sessions.py) lets it reach only the second-factor pages and
logout until a code is accepted, when `session_mark_verified` records it. The flag is dropped
on every login (a `user_logged_in` receiver), so no path to a session skips it.

The device's secret is stored encrypted (cad/accounts/totp_keys.py). Enrolment ends by issuing ten
single-use recovery codes, shown once and stored hashed; any of them is accepted once wherever
a code from the app is asked for.
"""

import secrets
from datetime import datetime

from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from cad.accounts import lockout, totp
from cad.accounts.roles import ADMIN, SUPERVISOR, has_role
from cad.accounts.totp_keys import secret_decrypt, secret_encrypt, secret_rotate
from cad.audit.trail import audit_record
from cad.models import RecoveryCode, TOTPDevice

RECOVERY_CODE_COUNT = 10
# 31 letters and digits that cannot be misread for one another (no 0/o, 1/l/i); 12 of them are
# 59 bits, far beyond guessing within the lockout's five tries.
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
RECOVERY_LENGTH = 12


class _RecoveryCodeHasher(PBKDF2PasswordHasher):
    """Django's PBKDF2 hasher with fewer rounds than for passwords.

    A password's rounds make up for a person choosing it; these codes are 59 random bits, which
    no number of rounds needs to shore up against an offline search, and checking one attempt
    may take up to ten hashes. At 60,000 rounds a whole failed attempt costs about what one
    password check does. The stored format is Django's own (`pbkdf2_sha256$60000$...`).
    """

    iterations = 60_000


_hasher = _RecoveryCodeHasher()

SESSION_KEY = "cad_2fa_user"


def requires_second_factor(user) -> bool:
    if not getattr(user, "is_authenticated", False):
        return False
    return user.is_staff or user.is_superuser or has_role(user, SUPERVISOR, ADMIN)


def session_is_verified(session, user) -> bool:
    return session.get(SESSION_KEY) == user.pk


def session_mark_verified(session, user) -> None:
    session[SESSION_KEY] = user.pk
    # A new session id once fully signed in, as Django does at the password step.
    session.cycle_key()


def confirmed_device(user) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed_at__isnull=False).first()


@transaction.atomic
def device_enrol_start(*, user) -> TOTPDevice:
    """The device a user is enrolling, made with a fresh secret the first time.

    Reloading the page keeps the same secret, so an app already set up from it still works.
    A confirmed device is never replaced here: only `device_reset` (an admin, via
    `manage.py cad_user --reset-2fa`) removes it, or a password alone could re-enrol.
    """
    device, created = TOTPDevice.objects.select_for_update(no_key=True).get_or_create(
        user=user, defaults={"secret_encrypted": secret_encrypt(totp.new_secret())}
    )
    if device.confirmed_at is not None:
        raise ValueError("already enrolled")
    return device


def device_secret(device: TOTPDevice) -> str:
    """The device's base32 secret, decrypted (for the enrolment page and code checks)."""
    return secret_decrypt(device.secret_encrypted)


def _accept(device: TOTPDevice, code: str) -> bool:
    """Is `code` good for this device now, and not used before? Claims its step if so."""
    step = totp.matching_step(device_secret(device), code)
    if step is None:
        return False
    # A conditional update, so two requests racing with one code cannot both win.
    return TOTPDevice.objects.filter(pk=device.pk, last_step__lt=step).update(last_step=step) == 1


def _begin(*, user: User, source: str) -> lockout.Attempt | None:
    """Count a code attempt before checking it (see lockout.attempt_begin); None when the
    pair or address is locked, in which case the code is not even looked at."""
    attempt = lockout.attempt_begin(username=user.username, source=source, second_factor=True)
    return None if isinstance(attempt, datetime) else attempt


def device_confirm(*, user: User, code: str, source: str) -> list[str] | None:
    """Finish enrolment with a first code from the app. Counts toward lockout when wrong.

    Returns the new recovery codes (to show once), or None when the code was refused.
    """
    attempt = _begin(user=user, source=source)
    if attempt is None:
        return None
    device = TOTPDevice.objects.filter(user=user, confirmed_at__isnull=True).first()
    if device is None or not _accept(device, code):
        lockout.attempt_failed(attempt, user=user)
        return None
    lockout.attempt_succeeded(attempt)
    with transaction.atomic():
        TOTPDevice.objects.filter(pk=device.pk).update(confirmed_at=timezone.now())
        audit_record(
            user=user,
            action="create",
            obj=device,
            changes={"confirmed": [None, True]},
            source=source,
        )
        codes = recovery_codes_issue(user=user, source=source)
    lockout.login_success_record(user=user, source=source)
    return codes


def code_verify(*, user: User, code: str, source: str) -> bool:
    """Check a sign-in code: a TOTP code (right, within one step of now, and not used before)
    or, in its place, an unused recovery code."""
    attempt = _begin(user=user, source=source)
    if attempt is None:
        return False
    device = confirmed_device(user)
    if device is not None and _looks_like_recovery_code(code):
        remaining = _recovery_code_use(user=user, code=code)
        if remaining is not None:
            lockout.attempt_succeeded(attempt)
            lockout.login_success_record(user=user, source=source)
            audit_record(user=user, action="login", obj=user, source=source,
                         changes={"outcome": "recovery_code", "remaining": remaining})  # fmt: skip
            return True
    elif device is not None and _accept(device, code):
        lockout.attempt_succeeded(attempt)
        lockout.login_success_record(user=user, source=source)
        return True
    lockout.attempt_failed(attempt, user=user)
    return False


# --- recovery codes ------------------------------------------------------------------------------


def _recovery_normalise(code: str) -> str:
    return "".join(ch for ch in (code or "").lower() if ch not in " -")


def _looks_like_recovery_code(code: str) -> bool:
    normal = _recovery_normalise(code)
    return len(normal) == RECOVERY_LENGTH and all(ch in RECOVERY_ALPHABET for ch in normal)


def _recovery_code_new() -> str:
    raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, RECOVERY_LENGTH, 4))


@transaction.atomic
def recovery_codes_issue(*, user: User, source: str, by: User | None = None) -> list[str]:
    """Ten new recovery codes for `user`, replacing any before. The codes are returned to be
    shown once; only their hashes are kept."""
    RecoveryCode.objects.filter(user=user).delete()
    codes = [_recovery_code_new() for _ in range(RECOVERY_CODE_COUNT)]
    RecoveryCode.objects.bulk_create(
        RecoveryCode(user=user, code_hash=_hasher.encode(_recovery_normalise(code), _hasher.salt()))
        for code in codes
    )
    audit_record(user=by or user, action="create", object_type="cad.recoverycode",
                 object_id=str(user.pk), changes={"issued": len(codes)},
                 source=source)  # fmt: skip
    return codes


def _recovery_code_use(*, user: User, code: str) -> int | None:
    """Spend the unused recovery code equal to `code`: the number left after it, or None.

    The conditional UPDATE makes the spend race-safe: two sign-ins racing with one code both
    match its hash, but only one changes `used_at` from NULL.
    """
    normal = _recovery_normalise(code)
    for row in RecoveryCode.objects.filter(user=user, used_at__isnull=True):
        if _hasher.verify(normal, row.code_hash):
            spent = RecoveryCode.objects.filter(pk=row.pk, used_at__isnull=True).update(
                used_at=timezone.now()
            )
            if spent != 1:
                return None
            return RecoveryCode.objects.filter(user=user, used_at__isnull=True).count()
    return None


@transaction.atomic
def device_reset(*, user, by=None, source: str = "cli") -> bool:
    """Remove a user's device (lost phone): they enrol again at their next sign-in."""
    device = TOTPDevice.objects.filter(user=user).first()
    if device is None:
        return False
    audit_record(user=by, action="delete", obj=device, changes={"reset": True}, source=source)
    device.delete()
    # The recovery codes belonged to that enrolment; the next one issues new ones.
    RecoveryCode.objects.filter(user=user).delete()
    return True


def devices_reencrypt(*, source: str = "cli") -> int:
    """Re-encrypt every device's secret under the newest TOTP_ENCRYPTION_KEYS key (after a new
    key is put in front), one audited row per device. Returns how many."""
    count = 0
    for pk in TOTPDevice.objects.values_list("pk", flat=True):
        with transaction.atomic():
            device = TOTPDevice.objects.select_for_update(no_key=True).get(pk=pk)
            device.secret_encrypted = secret_rotate(device.secret_encrypted)
            device.save(update_fields=["secret_encrypted"])
            audit_record(user=None, action="update", obj=device,
                         changes={"encryption": "re-encrypted under the newest key"},
                         source=source)  # fmt: skip
        count += 1
    return count
