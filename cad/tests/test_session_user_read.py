"""A session's user, roles and BCU scope in one fixed statement (stop 35).

Every request signed in by session (every desk's screen and its API calls) asks Django's
authentication backend for its user, then asks for the user's roles and BCU scope. On
PostgreSQL `GuardedModelBackend.get_user` reads all three in one statement, as an API token's
request does (cad/accounts/authentication.py); what they say must be what the ORM reads.
"""

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cad.accounts.backends import GuardedModelBackend
from cad.accounts.roles import user_bcu_code, user_roles
from cad.models import BCU, UserScope
from tests.factories import make_incident

User = get_user_model()


@pytest.mark.parametrize("scope", ["CN", "no scope row", "a scope row with no BCU"])
def test_a_sessions_user_comes_with_roles_and_scope_in_one_statement(
    make_user, geography, postgres, scope
):
    user = make_user("supervisor", username="sue", bcu="CN" if scope == "CN" else None)
    UserScope.objects.filter(user=user).delete()
    if scope != "no scope row":
        UserScope.objects.create(
            user=user, bcu=BCU.objects.get(code="CN") if scope == "CN" else None
        )
    # Prepared on this connection first: whether an earlier test did so depends on the order.
    GuardedModelBackend().get_user(user.pk)
    with CaptureQueriesContext(connection) as queries:
        read = GuardedModelBackend().get_user(user.pk)
        roles, bcu = user_roles(read), user_bcu_code(read)
    assert len(queries.captured_queries) == 1, [q["sql"] for q in queries.captured_queries]

    stored = User.objects.get(pk=user.pk)
    fields = [f.attname for f in User._meta.concrete_fields]
    assert {f: getattr(read, f) for f in fields} == {f: getattr(stored, f) for f in fields}
    assert (roles, bcu) == (user_roles(stored), user_bcu_code(stored))
    assert (roles, bcu) == ({"supervisor"}, "CN" if scope == "CN" else None)
    assert not read._state.adding and read._state.db == connection.alias


def test_an_inactive_or_unknown_user_has_no_session(make_user, postgres):
    user = make_user("despatcher", username="gone")
    User.objects.filter(pk=user.pk).update(is_active=False)
    assert GuardedModelBackend().get_user(user.pk) is None
    assert GuardedModelBackend().get_user(user.pk + 1000) is None


def test_a_signed_in_desk_still_gets_its_role_and_scope(client, make_user, geography):
    # The whole way round, on whichever database the run has: sign in, then a list that needs
    # the role (a desk's) and the scope (CN's incidents, not AS's).
    handler = make_user("call_handler", username="hal")
    ours = make_incident(handler, where="camden")
    make_incident(handler, where="lambeth")
    make_user("despatcher", username="dee", bcu="CN")
    assert client.login(username="dee", password="a-Strong-pass-42")
    listed = client.get("/api/v1/incidents/")
    assert listed.status_code == 200, listed.content[:300]
    assert [row["reference"] for row in listed.json()["results"]] == [ours.reference]
