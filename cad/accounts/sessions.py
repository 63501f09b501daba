"""Session rules enforced on every request: idle expiry, and the second factor before anything.

Idle expiry (issue 8): a session ends after SESSION_IDLE_SECONDS without *user* activity. What
counts is what a person does: page navigation, form posts, API writes and the "stay signed in"
button. Live-board traffic is not: the socket (which never passes through here), polls of
/board/snapshot/, and any fetch a page marks with `X-Beacon-Background: 1`. The last activity
is kept in the session itself, so the board socket can check it too (cad/live/consumers.py).
"""

import time
from importlib import import_module

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import HASH_SESSION_KEY, logout
from django.contrib.auth import SESSION_KEY as AUTH_USER_KEY
from django.contrib.sessions.backends.base import SessionBase
from django.http import JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.crypto import constant_time_compare
from django.utils.http import urlencode

from cad.accounts.second_factor import SESSION_KEY as SECOND_FACTOR_KEY
from cad.accounts.second_factor import requires_second_factor, session_is_verified
from cad.audit.trail import audit_record, source_of

LAST_ACTIVITY_KEY = "cad_last_activity"
BACKGROUND_HEADER = "HTTP_X_BEACON_BACKGROUND"
# Polled by pages in the background even where a script forgets the header.
BACKGROUND_PATHS = ("/board/snapshot/",)
# Saving the session on every click costs a write each time; a minute's precision is not
# needed for a thirty-minute limit, so activity is recorded at most this often.
RECORD_EVERY_SECONDS = 15
IDLE_MESSAGE = "You were signed out after 30 minutes without activity."
# Where a pending (password-only) session may still go.
SECOND_FACTOR_OPEN_PREFIXES = ("/accounts/", "/static/")


def _wants_json(request) -> bool:
    return (
        request.path_info.startswith("/api/")
        or "application/json" in request.headers.get("Accept", "")
        or BACKGROUND_HEADER in request.META
    )


def is_user_activity(request) -> bool:
    if request.META.get(BACKGROUND_HEADER, "") not in ("", "0"):
        return False
    return not request.path_info.startswith(BACKGROUND_PATHS)


def idle_seconds_left(session: SessionBase | dict, now: float | None = None) -> float:
    """Seconds before this session expires from idleness (negative once it has)."""
    last = session.get(LAST_ACTIVITY_KEY)
    if last is None:
        return float(settings.SESSION_IDLE_SECONDS)
    return float(last) + settings.SESSION_IDLE_SECONDS - (now or time.time())


def record_activity(session: SessionBase) -> None:
    session[LAST_ACTIVITY_KEY] = time.time()


class IdleSessionMiddleware:
    """Signs out sessions idle too long; records user activity on the rest."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        session = getattr(request, "session", None)
        if session is not None and session.get(AUTH_USER_KEY):
            self._check(request, session)
        return self.get_response(request)

    def _check(self, request, session) -> None:
        now = time.time()
        last = session.get(LAST_ACTIVITY_KEY)
        if last is not None and now - float(last) > settings.SESSION_IDLE_SECONDS:
            user = request.user
            if user.is_authenticated:
                audit_record(
                    user=user,
                    action="login",
                    obj=user,
                    changes={"outcome": "idle_timeout"},
                    source=source_of(request),
                )
            request.cad_logout_reason = "idle"
            logout(request)  # the next view sees an anonymous user: login page or 401/403
            if not _wants_json(request):
                messages.info(request, IDLE_MESSAGE)
            return
        due = last is None or now - float(last) >= RECORD_EVERY_SECONDS
        if due and (last is None or is_user_activity(request)):
            record_activity(session)


class SecondFactorMiddleware:
    """Until a supervisor's or admin's code is accepted, only sign-in pages and logout answer.

    Fail-closed: the flag is set only by the second-factor views (cad/accounts/views.py), and it
    covers pages, the API's session authentication and the Django admin alike.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and not session_is_verified(request.session, user)
            and not request.path_info.startswith(SECOND_FACTOR_OPEN_PREFIXES)
            and requires_second_factor(user)
        ):
            if _wants_json(request):
                return JsonResponse(
                    {
                        "detail": "Finish signing in with your second factor at /accounts/2fa/.",
                        "code": "second_factor_required",
                    },
                    status=403,
                )
            target = reverse("second_factor")
            return redirect(f"{target}?{urlencode({'next': request.get_full_path()})}")
        return self.get_response(request)


def board_session_seconds_left(session_key: str, user) -> float:
    """For the board socket: how long its session stays good, or <= 0 if it is not now.

    Good means: the stored session still belongs to this user under their current password
    (Django's session hash, as `get_user` checks on every request), is not idle, and is past
    any second factor. Read from the session store, so a logout or a flush elsewhere counts.
    """
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key=session_key)
    data = store.load()  # {} when the session is gone (logged out, flushed, expired)
    if str(data.get(AUTH_USER_KEY, "")) != str(user.pk) or not _hash_matches(data, user):
        return 0.0
    if requires_second_factor(user) and data.get(SECOND_FACTOR_KEY) != user.pk:
        return 0.0
    return idle_seconds_left(data)


def _hash_matches(data: dict, user) -> bool:
    session_hash = data.get(HASH_SESSION_KEY) or ""
    if not session_hash:
        return False
    if constant_time_compare(session_hash, user.get_session_auth_hash()):
        return True
    return any(
        constant_time_compare(session_hash, fallback)
        for fallback in user.get_session_auth_fallback_hash()
    )


def board_session_ok(session_key: str, user) -> bool:
    """For the board socket: the stored session is open, not idle, and past any second factor."""
    return board_session_seconds_left(session_key, user) > 0
