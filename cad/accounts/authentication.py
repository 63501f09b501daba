"""The API's token scheme: django-rest-knox's, without its sweep of the user's other tokens.

knox's `TokenAuthentication` reads every token the user holds, on every request, to delete the
expired ones: a query per API call, and more rows each time a client (a radio gateway, a
partner's system) signs in again without logging out. Here a request reads only its own token;
an expired one is refused and deleted, as knox does. The user's other expired tokens go when the
user signs in again (`tokens.token_issue`) and hourly (`tokens.tokens_purge_expired`, beat).

On PostgreSQL that one read is a fixed statement (the token and its user in one row), as the
other reads every request makes are (stop 22): Django building and compiling knox's
`filter(...).select_related("user")` cost about three times what PostgreSQL took to run it, 7 %
of an incident create's CPU (docs/benchmarks.md, stop 29). The same row brings what every API
request then asks of the user (stop 34): the names of their groups (their roles) and their BCU
scope with its BCU, so neither costs a statement of its own. A request signed in by session
reads its user, roles and scope the same way, by id (stop 35). SQLite keeps the ORM, whose
converters its dates need.
"""

import binascii
from hmac import compare_digest

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.models import User as AuthUser
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

from cad.accounts.roles import user_roles_known
from cad.models import BCU, UserScope
from cad.prepared import PreparedSQL

AuthToken = get_token_model()
User = get_user_model()
_TOKEN_FIELDS = [f.attname for f in AuthToken._meta.concrete_fields]
_USER_FIELDS = [f.attname for f in User._meta.concrete_fields]
_SCOPE_FIELDS = [f.attname for f in UserScope._meta.concrete_fields]
_BCU_FIELDS = [f.attname for f in BCU._meta.concrete_fields]


def _columns(model, alias: str) -> str:
    return ", ".join(f'{alias}."{f.column}"' for f in model._meta.concrete_fields)


_GROUPS = User.groups.through._meta
# The user's columns, their scope row's and its BCU's, and their group names: what every
# request asks of its user, whether it came with a token or a session.
_USER_SCOPE_ROLES = (
    f"{_columns(User, 'u')}, {_columns(UserScope, 's')}, {_columns(BCU, 'b')}, "  # noqa: S608
    f'ARRAY(SELECT g."name" FROM "{Group._meta.db_table}" g JOIN "{_GROUPS.db_table}" ug '
    f'ON ug."{_GROUPS.get_field("group").column}" = g."{Group._meta.pk.column}" '
    f'WHERE ug."{_GROUPS.get_field("user").column}" = u."{User._meta.pk.column}")'
)
_SCOPE_JOINS = (
    f'LEFT JOIN "{UserScope._meta.db_table}" s '
    f'ON s."{UserScope._meta.get_field("user").column}" = u."{User._meta.pk.column}" '
    f'LEFT JOIN "{BCU._meta.db_table}" b '
    f'ON b."{BCU._meta.pk.column}" = s."{UserScope._meta.get_field("bcu").column}"'
)
_TOKENS_WITH_USER = PreparedSQL(
    f"SELECT {_columns(AuthToken, 't')}, {_USER_SCOPE_ROLES} "  # noqa: S608 (names only)
    f'FROM "{AuthToken._meta.db_table}" t JOIN "{User._meta.db_table}" u '
    f'ON u."{User._meta.pk.column}" = t."{AuthToken._meta.get_field("user").column}" '
    f'{_SCOPE_JOINS} WHERE t."token_key" = %s'
)
# Not prepared, unlike the token's read: many tests count a page's statements, and a PREPARE
# made on whichever request first reads a session's user on a connection would make those
# counts depend on the order the tests run in.
_USER_BY_ID = (
    f'SELECT {_USER_SCOPE_ROLES} FROM "{User._meta.db_table}" u '  # noqa: S608 (names only)
    f'{_SCOPE_JOINS} WHERE u."{User._meta.pk.column}" = %s'
)


def tokens_with_user(token_key: str) -> list:
    """The tokens filed under this key (knox's first characters of a token), each with its user
    already read: one statement, the same rows as knox's query."""
    if connection.vendor != "postgresql":
        return list(AuthToken.objects.filter(token_key=token_key).select_related("user"))
    with connection.cursor() as cursor:
        _TOKENS_WITH_USER.execute(cursor, [token_key])
        rows = cursor.fetchall()
    tokens = []
    for row in rows:
        values = iter(row)
        token = AuthToken.from_db(connection.alias, _TOKEN_FIELDS, _take(values, _TOKEN_FIELDS))
        token.user = _user_from(values)
        tokens.append(token)
    return tokens


def user_with_roles_and_scope(user_id: int) -> "AuthUser | None":
    """The user with this id, their roles and BCU scope already read with them: one statement
    on PostgreSQL, as for a token. A session's every request asks for its user this way
    (`backends.GuardedModelBackend.get_user`)."""
    if connection.vendor != "postgresql":
        return User._default_manager.filter(pk=user_id).first()
    with connection.cursor() as cursor:
        cursor.execute(_USER_BY_ID, [user_id])
        row = cursor.fetchone()
    return None if row is None else _user_from(iter(row))


def _user_from(values) -> "AuthUser":
    """A user from `_USER_SCOPE_ROLES`' columns, its scope and roles cached on it."""
    user = User.from_db(connection.alias, _USER_FIELDS, _take(values, _USER_FIELDS))
    _scope_known(user, _take(values, _SCOPE_FIELDS), _take(values, _BCU_FIELDS))
    user_roles_known(user, next(values))
    return user


def _take(values, fields: list[str]) -> list:
    return [next(values) for _ in fields]


def _scope_known(user, scope_row: list, bcu_row: list) -> None:
    """Cache the user's scope row (or its absence) and its BCU on the user, as the ORM's
    `user.scope` and `scope.bcu` would after reading them."""
    scope = None
    if scope_row[0] is not None:
        scope = UserScope.from_db(connection.alias, _SCOPE_FIELDS, scope_row)
        bcu = BCU.from_db(connection.alias, _BCU_FIELDS, bcu_row) if bcu_row[0] else None
        UserScope.bcu.field.set_cached_value(scope, bcu)
        UserScope.user.field.set_cached_value(scope, user)
    User.scope.related.set_cached_value(user, scope)


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
