"""The API's token scheme: django-rest-knox's, without its sweep of the user's other tokens.

knox's `TokenAuthentication` reads every token the user holds, on every request, to delete the
expired ones: a query per API call, and more rows each time a client (a radio gateway, a
partner's system) signs in again without logging out. Here a request reads only its own token;
an expired one is refused and deleted, as knox does. The user's other expired tokens go when the
user signs in again (`tokens.token_issue`) and hourly (`tokens.tokens_purge_expired`, beat).
"""

from django.utils import timezone
from drf_spectacular.contrib.knox_auth_token import KnoxTokenScheme
from knox import auth as knox_auth
from knox.signals import token_expired


class TokenAuthentication(knox_auth.TokenAuthentication):
    def _cleanup_token(self, auth_token) -> bool:
        """True (and the token deleted) if this token has expired; the others are not read."""
        if auth_token.expiry is None or auth_token.expiry >= timezone.now():
            return False
        username = auth_token.user.get_username()
        auth_token.delete()
        token_expired.send(sender=self.__class__, username=username, source="auth_token")
        return True


class TokenScheme(KnoxTokenScheme):
    """The OpenAPI security scheme for it: knox's, under the same name."""

    target_class = "cad.accounts.authentication.TokenAuthentication"
