"""CI gate: schemathesis fuzzes every operation in /api/schema/, as every role and anonymously,
and no answer may be a 5xx.

Bad input must come back as 400/409 with field messages (docs/api.md), so a server error for
any generated request is a bug. Each role is its own user with only that role (one user holding
every role hid the paths a single role takes, issue 23), plus no user at all. For each, every
operation gets the schema's examples and fuzzing (generated data, valid and invalid, bodies sent
as JSON, form-encoded and multipart, as the schema offers all three; some with fields the API
does not know; paths often naming real incidents and units), and `make fuzz` adds the coverage
phase (boundary and invalid values for each field). Then the stateful phase follows the
schema's OpenAPI links (create an incident → assign a unit → close → reopen …,
cad/api/schema.py) with the ids the app returned.

Seeds: each role runs once with a fixed seed (the same cases on every run, so CI is
repeatable) and once with a fresh one, drawn per run and shown in the test's id
(`[despatcher-seed=123]`), so a failure found by chance is reproduced with
`FUZZ_SEED=123 make fuzz` (or the pytest id). FUZZ_EXAMPLES sets the fuzzing cases per
operation: small in CI (about three minutes for the whole gate), large in `make fuzz`.

The app runs in-process (WSGI) on the test database inside the test's transaction: all that
the fuzzer writes is rolled back. docs/reliability.md, "Fuzzing" has the figures.
"""

import logging
import os
from typing import Any

import hypothesis
import pytest
import schemathesis
from django.contrib.auth.models import Group
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.errors import FlakyStrategyDefinition
from hypothesis.stateful import get_state_machine_test
from knox.models import AuthToken
from schemathesis.checks import not_a_server_error
from schemathesis.generation.hypothesis.builder import (
    HypothesisTestConfig,
    HypothesisTestMode,
    create_test,
)

from cad.accounts.roles import ADMIN, ROLES
from cad.wsgi import application
from incidents.services import incident_close
from resources.despatch import assignment_create
from tests.factories import (
    make_closing_code,
    make_incident,
    make_incident_type,
    make_qualifier,
    make_unit,
)

FIXED_SEED = 20261130
# Drawn per run by conftest.py, which prints it in the run's header.
FRESH_SEED = int(os.environ["FUZZ_SEED"])
EXAMPLES_PER_OPERATION = int(os.environ.get("FUZZ_EXAMPLES", "4"))
STATEFUL_SCENARIOS = int(os.environ.get("FUZZ_STATEFUL", "5"))
# The coverage phase sends some 50 cases per operation whatever the seed: `make fuzz` only.
FIXED_MODES = [
    HypothesisTestMode(mode)
    for mode in os.environ.get("FUZZ_PHASES", "examples,fuzzing").split(",")
]
# The schema's examples and the coverage cases do not depend on the seed: a fresh seed only
# draws new fuzzing cases.
FRESH_MODES = [HypothesisTestMode.FUZZING]
UNIT = "CN01"  # the fixture's unit, sent by the stateful phase's assign link
ANONYMOUS = "anonymous"


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
def quiet_request_log():
    """Thousands of 4xx lines would bury the report; a 5xx is still logged, with its trace."""
    loggers = [logging.getLogger(name) for name in ("beacon.request", "django.request")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    yield
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)


@pytest.fixture
def world(db, geography, make_user):
    """What the requests can name, so the fuzzer gets past "no such …" into the services: units,
    an incident type, a closing code, a qualifier, and incidents open in each BCU, one with a
    unit on it, one closed. Returns the incidents' ids."""
    unit = make_unit(geography["kentish"], callsign=UNIT)
    make_unit(geography["kentish"], callsign="CN02")
    make_incident_type("VIOL", default_grade="I")
    make_closing_code("NFA")
    make_qualifier("DA")
    handler = make_user("call_handler", username="world-handler")
    despatcher = make_user("despatcher", username="world-despatcher")
    north, south, attended, closed = (
        make_incident(handler, type_code="VIOL", where=where)
        for where in ("camden", "lambeth", "camden", "camden")
    )
    assignment_create(incident=attended, unit=unit, by=despatcher, source="test")
    incident_close(incident=closed, by=despatcher, closing_code="NFA", source="test")
    return [north.id, south.id, attended.id, closed.id]


def token_headers(user) -> dict[str, str]:
    return {"Authorization": f"Token {AuthToken.objects.create(user=user)[1]}"}


# Bodies the API accepts, by operation: random ones almost never get past validation, so the
# services behind it (and the stateful phase's create → assign → close) would go untried.
VALID_BODIES: dict[str, dict[str, Any]] = {
    "POST /api/v1/incidents/": {
        "type": "VIOL",
        "summary": "fight outside the pub",
        "location": {"lat": 51.539, "lon": -0.1426, "address": "the pub on the corner"},
        "caller": {"name": "Ann Caller", "phone": "07700 900123"},
    },
    "POST /api/v1/incidents/{id}/assign/": {"unit": UNIT},
    "POST /api/v1/incidents/{id}/unassign/": {"unit": UNIT},
    "POST /api/v1/incidents/{id}/close/": {"closing_code": "NFA", "note": "all quiet"},
    "POST /api/v1/incidents/{id}/reopen/": {"reason": "caller rang back"},
    "POST /api/v1/incidents/{id}/thrive/": {"threat": "high", "harm": "injury"},
    "POST /api/v1/incidents/{id}/grade/": {"grade": "S", "reason": "calmer now"},
    "POST /api/v1/incidents/{id}/log/": {"text": "units on scene"},
    "POST /api/v1/incidents/{id}/qualifiers/": {"qualifiers": ["DA"]},
    "POST /api/v1/units/{callsign}/status/": {"status": "available"},
}
LINK_BODIES = {
    "assign_create": VALID_BODIES["POST /api/v1/incidents/{id}/assign/"],
    "unassign_create": VALID_BODIES["POST /api/v1/incidents/{id}/unassign/"],
    "close_create": VALID_BODIES["POST /api/v1/incidents/{id}/close/"],
    "reopen_create": VALID_BODIES["POST /api/v1/incidents/{id}/reopen/"],
    "thrive_create": VALID_BODIES["POST /api/v1/incidents/{id}/thrive/"],
    "log_create": VALID_BODIES["POST /api/v1/incidents/{id}/log/"],
}


def with_valid_and_unknown_fields():
    """A schema hook on bodies: some are a body the API accepts, and some carry fields the API
    does not know (the THRIVE 500 of issue 23 was one; an open JSON schema lets the generator
    add them, but rarely)."""
    junk = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20))
    extra = st.dictionaries(st.text(min_size=1, max_size=12), junk, min_size=1, max_size=3)

    def flatmap_body(context, body):
        operation = context.operation
        valid = VALID_BODIES.get(f"{operation.method.upper()} {operation.path}")
        bodies = [st.just(body)] if valid is None else [st.just(body), st.just(valid)]
        if not isinstance(body, dict):
            return st.one_of(bodies)
        return st.one_of(*bodies, st.tuples(st.one_of(bodies), extra).map(
            lambda pair: {**pair[1], **pair[0]} if isinstance(pair[0], dict) else pair[0]
        ))  # fmt: skip

    return flatmap_body


def with_known_ids(incidents: list[int]):
    """A schema hook: most requests name an incident or unit that exists. Random ids only find
    404s; the checks and services behind them are where the faults are (issue 23)."""

    def flatmap_path_parameters(context, parameters):
        path = context.operation.path
        known: dict[str, Any] = {}
        if path.startswith(("/api/v1/incidents/{id}", "/api/v1/me/incidents/{id}")):
            known["id"] = st.sampled_from(incidents)
        if "{callsign}" in path:
            known["callsign"] = st.sampled_from([UNIT, "CN02"])
        if not known:
            return st.just(parameters)
        # `parameters` can be None in the stateful phase (`{**None}` stopped it).
        real = st.fixed_dictionaries(known).map(lambda ids: {**(parameters or {}), **ids})
        return st.one_of(real, st.just(parameters))

    return flatmap_path_parameters


def load_schema(wsgi_app, admin_headers, incidents: list[int]) -> Any:
    """The app's own schema, its links given bodies the API accepts, and the hooks."""
    raw = schemathesis.openapi.from_wsgi("/api/schema/", wsgi_app, headers=admin_headers).raw_schema
    for operations in raw["paths"].values():
        for operation in operations.values():
            for response in operation["responses"].values():
                for name, link in response.get("links", {}).items():
                    if name in LINK_BODIES:
                        link["requestBody"] = LINK_BODIES[name]
    schema = schemathesis.openapi.from_dict(raw)
    schema.app = wsgi_app
    schema.hook("flatmap_path_parameters")(with_known_ids(incidents))
    schema.hook("flatmap_body")(with_valid_and_unknown_fields())
    return schema


def fuzz_operations(
    schema, headers: dict, seed: int, modes: list[HypothesisTestMode], failures: list[str]
) -> int:
    """The examples, coverage and fuzzing phases, operation by operation; returns the cases
    sent. Each operation on its own, so one failure does not hide the others."""
    sent = 0
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 30  # the whole API, not an empty or truncated schema
    # Logging out ends the token every other operation is sent with: fuzz it last.
    operations.sort(key=lambda operation: operation.path == "/api/v1/auth/logout/")
    config = HypothesisTestConfig(
        project=schema.config,
        modes=modes,
        settings=settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            derandomize=False,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.generate],  # no shrinking: the seed reproduces it
        ),
        seed=seed,
    )
    for operation in operations:

        def send(case):
            nonlocal sent
            sent += 1
            case.call_and_validate(headers=headers, checks=[not_a_server_error])

        try:
            create_test(operation=operation, test_func=send, config=config)()
        # schemathesis reports its failures as a BaseExceptionGroup; collect every operation's.
        except (Exception, BaseExceptionGroup) as exc:
            failures.append(f"{operation.label}: {exc}")
            # A long `make fuzz` run shows each fault as it is found (with -s), not at the end.
            print(f"\nFAILED seed={seed} {operation.label}: {exc}", flush=True)
    return sent


def fuzz_workflows(schema, headers: dict, seed: int, failures: list[str]) -> int:
    """The stateful phase: scenarios that follow the schema's links."""
    sent = 0

    class Workflows(schema.as_state_machine()):  # type: ignore[misc]
        # Each scenario starts from the same database: what one wrote is rolled back to a
        # savepoint. Otherwise the same draws meet other answers in a later scenario, and
        # Hypothesis stops the run ("Inconsistent data generation").
        def setup(self):
            self.scenario = transaction.atomic()
            self.scenario.__enter__()

        def teardown(self):
            transaction.set_rollback(True)
            self.scenario.__exit__(None, None, None)

        def get_call_kwargs(self, case):
            return {"headers": headers}

        def after_call(self, response, case):
            nonlocal sent
            sent += 1

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            try:
                case.validate_response(response, checks=[not_a_server_error])
            except (Exception, BaseExceptionGroup) as exc:
                # Recorded when it happens: Hypothesis' replay of the scenario may not reach
                # it again (see below).
                failures.append(f"stateful: {exc}")
                print(f"\nFAILED seed={seed} stateful: {exc}", flush=True)
                raise

    test = get_state_machine_test(
        Workflows,
        settings=settings(
            max_examples=STATEFUL_SCENARIOS,
            stateful_step_count=8,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.generate],
        ),
    )
    try:
        hypothesis.seed(seed)(test)()
    except FlakyStrategyDefinition:
        # Schemathesis feeds what the app answered (ids, values) back into what it generates,
        # so the same draws can meet other choices in a later scenario, and Hypothesis stops
        # ("Inconsistent data generation"). That ends the exploration early; it is not a fault
        # of the app, and any server error before it is already in `failures`.
        print(f"\nstateful phase stopped early (seed={seed}): inconsistent generation")
    except (Exception, BaseExceptionGroup) as exc:
        if not any(failure.startswith("stateful") for failure in failures):
            failures.append(f"stateful: {exc}")
    return sent


@pytest.mark.parametrize(
    "seed", [FIXED_SEED, FRESH_SEED], ids=[f"seed={FIXED_SEED}", f"seed={FRESH_SEED}"]
)
@pytest.mark.parametrize("role", [*ROLES, ANONYMOUS])
def test_no_request_answers_with_a_server_error(
    wsgi_app, world, make_user, quiet_request_log, role, seed
):
    admin = make_user(ADMIN, username="schema-reader")
    schema = load_schema(wsgi_app, token_headers(admin), world)
    user = None if role == ANONYMOUS else make_user(role, username=f"fuzz-{role}")
    if user is not None:
        assert set(user.groups.values_list("name", flat=True)) == {role}

    def headers() -> dict[str, str]:
        return {} if user is None else token_headers(user)

    failures: list[str] = []
    modes = FIXED_MODES if seed == FIXED_SEED else FRESH_MODES
    cases = fuzz_operations(schema, headers(), seed, modes, failures)
    # The operations fuzzed include logout, which ended their token: a new one for the rest.
    steps = fuzz_workflows(schema, headers(), seed, failures)
    print(f"\nfuzz {role} seed={seed}: {cases} cases, {steps} stateful steps")
    assert not failures, f"seed={seed} (FUZZ_SEED={seed} make fuzz)\n\n" + "\n\n".join(failures)


# --- What the fuzzer found, pinned as plain tests ------------------------------------------------


@pytest.fixture
def auth_headers(db, make_user, geography):
    user = make_user("supervisor", username="fuzzer")
    user.groups.add(*Group.objects.filter(name__in=ROLES))
    return token_headers(user)


def test_roster_csv_refuses_a_bcu_that_is_not_a_code(client, auth_headers):
    # A newline or non-Latin-1 character went into the Content-Disposition header: 500.
    response = client.get("/api/v1/roster/csv/", {"bcu": "$\n:샀", "days": 7}, headers=auth_headers)
    assert response.status_code == 400
    assert response.json()["bcu"] == ["Not a BCU code."]
