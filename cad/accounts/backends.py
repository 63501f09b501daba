"""The one authentication backend: Django's, behind the login lockout (cad/lockout.py).

Every password check made with a request (the login page, the Django admin's login, the API
token endpoint) passes through here, so none of them can be used to guess around the lock.
Every request signed in by session reads its user here too (`get_user`), with the user's roles
and BCU scope in the same statement.
"""

from datetime import datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied

from cad.accounts import lockout
from cad.accounts.authentication import user_with_roles_and_scope
from cad.audit.trail import source_of


class GuardedModelBackend(ModelBackend):
    def get_user(self, user_id):
        """The session's user, as Django's backend reads it, with their roles and BCU scope
        read in the same statement: every request signed in by session asks for all three."""
        user = user_with_roles_and_scope(user_id)
        return user if user is not None and self.user_can_authenticate(user) else None

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if request is None or username is None:
            # Not a sign-in (e.g. a script calling authenticate() directly): nothing to count.
            return super().authenticate(request, username=username, password=password, **kwargs)
        source = source_of(request)
        # The lock is checked and the attempt counted in one step, so parallel guesses cannot
        # all slip past the check before any of them is counted (cad/lockout.py).
        attempt = lockout.attempt_begin(username=username, source=source)
        if isinstance(attempt, datetime):
            lockout.login_refused_record(username=username, source=source, until=attempt)
            # Read by the login form and the token view to say why, without naming the user.
            request.cad_login_locked = True
            raise PermissionDenied("locked")  # authenticate() stops at this backend
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            known = get_user_model()._default_manager.filter(username=username).first()
            if lockout.attempt_failed(attempt, user=known):
                request.cad_login_locked = True
        else:
            lockout.attempt_succeeded(attempt)
        return user
