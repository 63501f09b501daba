"""Two-factor sign-in (TOTP) for supervisors and admins: devices, codes and the session flag.

After the password, a session of a user who needs a second factor is *pending*: the
SecondFactorMiddleware (cad/accounts/sessions.py) lets it reach only the second-factor pages and
logout until a code is accepted, when `session_mark_verified` records it. The flag is dropped
on every login (a `user_logged_in` receiver), so no path to a session skips it.
"""

from django.db import transaction
from django.utils import timezone

from cad.accounts import lockout, totp
from cad.accounts.roles import ADMIN, SUPERVISOR, has_role
from cad.audit.trail import audit_record
from cad.models import TOTPDevice

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
    device, created = TOTPDevice.objects.select_for_update().get_or_create(
        user=user, defaults={"secret": totp.new_secret()}
    )
    if device.confirmed_at is not None:
        raise ValueError("already enrolled")
    return device


def _accept(device: TOTPDevice, code: str) -> bool:
    """Is `code` good for this device now, and not used before? Claims its step if so."""
    step = totp.matching_step(device.secret, code)
    if step is None:
        return False
    # A conditional update, so two requests racing with one code cannot both win.
    return TOTPDevice.objects.filter(pk=device.pk, last_step__lt=step).update(last_step=step) == 1


def _failed(*, user, source: str) -> None:
    lockout.login_failure_record(
        username=user.username, source=source, user=user, second_factor=True
    )


def device_confirm(*, user, code: str, source: str) -> bool:
    """Finish enrolment with a first code from the app. Counts toward lockout when wrong."""
    device = TOTPDevice.objects.filter(user=user, confirmed_at__isnull=True).first()
    if device is None or not _accept(device, code):
        _failed(user=user, source=source)
        return False
    with transaction.atomic():
        TOTPDevice.objects.filter(pk=device.pk).update(confirmed_at=timezone.now())
        audit_record(
            user=user,
            action="create",
            obj=device,
            changes={"confirmed": [None, True]},
            source=source,
        )
    lockout.login_success_record(user=user, source=source)
    return True


def code_verify(*, user, code: str, source: str) -> bool:
    """Check a sign-in code: right, within one step of now, and not used before."""
    device = confirmed_device(user)
    if device is None or not _accept(device, code):
        _failed(user=user, source=source)
        return False
    lockout.login_success_record(user=user, source=source)
    return True


@transaction.atomic
def device_reset(*, user, by=None, source: str = "cli") -> bool:
    """Remove a user's device (lost phone): they enrol again at their next sign-in."""
    device = TOTPDevice.objects.filter(user=user).first()
    if device is None:
        return False
    audit_record(user=by, action="delete", obj=device, changes={"reset": True}, source=source)
    device.delete()
    return True
