"""CI gate: schemathesis fuzzes every operation in /api/schema/ and no answer may be a 5xx.

Bad input must come back as 400/409 with field messages (docs/api.md), so a server error for
any generated request is a bug. The schema is fetched from the running app (in-process WSGI,
same test database) by a user who holds every role, so each operation gets past its permission
check and into its validation and services. Everything it writes is rolled back with the
test's transaction.

Examples per operation are bounded (25, derandomized so CI is repeatable) to keep the gate near
a minute and a half; FUZZ_EXAMPLES=200 digs deeper on a developer machine. A failure names the
operation and prints a curl line that reproduces it.
"""

import os

import pytest
import schemathesis
from django.contrib.auth.models import Group
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from knox.models import AuthToken
from schemathesis.checks import not_a_server_error

from cad.accounts.roles import ROLES
from cad.wsgi import application
from tests.factories import make_unit

EXAMPLES_PER_OPERATION = int(os.environ.get("FUZZ_EXAMPLES", "25"))


@pytest.fixture
def wsgi_app():
    """The real WSGI app, minus its per-request connection clean-up.

    Django's test client does the same: closing "old" connections would close the one that
    holds the test's transaction.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield application
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def auth_headers(db, make_user, geography):
    user = make_user("supervisor", username="fuzzer")
    # Every role at once, so no operation stops at its permission check.
    user.groups.add(*Group.objects.filter(name__in=ROLES))
    make_unit(geography["kentish"], callsign="CN01")
    return {"Authorization": f"Token {AuthToken.objects.create(user=user)[1]}"}


@pytest.fixture
def api_schema(wsgi_app, auth_headers):
    return schemathesis.openapi.from_wsgi("/api/schema/", wsgi_app, headers=auth_headers)


def test_no_operation_answers_with_a_server_error(api_schema, auth_headers):
    # Each operation is fuzzed on its own so one failure does not hide the others. (The pytest
    # plugin's lazy loader is not used: it relies on pytest internals that pytest 9 removed.)
    failures = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 30  # the whole API, not an empty or truncated schema
    # Logging out ends the token every other operation is sent with: fuzz it last.
    operations.sort(key=lambda operation: operation.path == "/api/v1/auth/logout/")

    for operation in operations:

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def fuzz(case):
            case.call_and_validate(headers=auth_headers, checks=[not_a_server_error])

        try:
            fuzz()
        # schemathesis reports its failures as a BaseExceptionGroup; collect every operation's.
        except (Exception, BaseExceptionGroup) as exc:
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)


# --- What the fuzzer found, pinned as plain tests ------------------------------------------------


def test_roster_csv_refuses_a_bcu_that_is_not_a_code(client, auth_headers):
    # A newline or non-Latin-1 character went into the Content-Disposition header: 500.
    response = client.get("/api/v1/roster/csv/", {"bcu": "$\n:샀", "days": 7}, headers=auth_headers)
    assert response.status_code == 400
    assert response.json()["bcu"] == ["Not a BCU code."]
