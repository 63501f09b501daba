"""The API's token scheme: django-rest-knox's, without its sweep of the user's other tokens.

knox's `TokenAuthentication` reads every token the user holds, on every request, to delete the
expired ones: a query per API call, and more rows each time a client (a radio gateway, a
partner's system) signs in again without logging out. Here a request reads only its own token;
an expired one is refused and deleted, as knox does. The user's other expired tokens go when the
user signs in again (`tokens.token_issue`) and hourly (`tokens.tokens_purge_expired`, beat).

On PostgreSQL that one read is a fixed statement (the token and its user in one row), as the
other reads every request makes are (stop 22): Django building and compiling knox's
`filter(...).select_related("user")` cost about three times what PostgreSQL took to run it, 7 %
of an incident create's CPU (docs/benchmarks.md, stop 29). SQLite keeps the ORM, whose
converters its dates need.
"""

import binascii
from hmac import compare_digest

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.contrib.knox_auth_token import KnoxTokenScheme
from knox import auth as knox_auth
from knox.crypto import hash_token
from knox.models import get_token_model
from knox.settings import CONSTANTS, knox_settings
from knox.signals import token_expired
from rest_framework import exceptions

AuthToken = get_token_model()
User = get_user_model()
_TOKEN_FIELDS = [f.attname for f in AuthToken._meta.concrete_fields]
_USER_FIELDS = [f.attname for f in User._meta.concrete_fields]


def _columns(model, alias: str) -> str:
    return ", ".join(f'{alias}."{f.column}"' for f in model._meta.concrete_fields)


_TOKENS_WITH_USER = (
    f"SELECT {_columns(AuthToken, 't')}, {_columns(User, 'u')} "  # noqa: S608 (names only)
    f'FROM "{AuthToken._meta.db_table}" t JOIN "{User._meta.db_table}" u '
    f'ON u."{User._meta.pk.column}" = t."{AuthToken._meta.get_field("user").column}" '
    'WHERE t."token_key" = %s'
)


def tokens_with_user(token_key: str) -> list:
    """The tokens filed under this key (knox's first characters of a token), each with its user
    already read: one statement, the same rows as knox's query."""
    if connection.vendor != "postgresql":
        return list(AuthToken.objects.filter(token_key=token_key).select_related("user"))
    with connection.cursor() as cursor:
        cursor.execute(_TOKENS_WITH_USER, [token_key])
        rows = cursor.fetchall()
    split = len(_TOKEN_FIELDS)
    tokens = []
    for row in rows:
        token = AuthToken.from_db(connection.alias, _TOKEN_FIELDS, row[:split])
        token.user = User.from_db(connection.alias, _USER_FIELDS, row[split:])
        tokens.append(token)
    return tokens


class TokenAuthentication(knox_auth.TokenAuthentication):
    def authenticate_credentials(self, token: bytes):
        """knox's own, with its read replaced by `tokens_with_user`."""
        message = _("Invalid token.")
        text = token.decode("utf-8")
        for auth_token in tokens_with_user(text[: CONSTANTS.TOKEN_KEY_LENGTH]):
            if self._cleanup_token(auth_token):
                continue
            try:
                digest = hash_token(text)
            except (TypeError, binascii.Error) as error:
                raise exceptions.AuthenticationFailed(message) from error
            if compare_digest(digest, auth_token.digest):
                if knox_settings.AUTO_REFRESH and auth_token.expiry:
                    self.renew_token(auth_token)
                return self.validate_user(auth_token)
        raise exceptions.AuthenticationFailed(message)

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
