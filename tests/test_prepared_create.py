"""A create's fixed statements run prepared on the server (cad/prepared.py's PreparedSQL).

The statements decision 0031 wrote as SQL (the token read, the near-a-point reads, the
idempotency claim and store, the day's number and the reference) were still planned afresh by
PostgreSQL on every create. On PostgreSQL each must now run as an EXECUTE of its prepared
statement and never as its own text; with `DB_SERVER_PREPARE=0` (PgBouncer's transaction
pooling) and on SQLite, as its own text. Either way the create answers as before.
"""

import json
import random
import re
from datetime import date, timedelta

from django.db import connection
from django.test import Client
from django.utils import timezone
from knox.models import AuthToken

from cad.accounts.authentication import _TOKENS_WITH_USER
from cad.api.idempotency import _CLAIM, _STORE
from incidents.models import Incident
from incidents.selectors import (
    _INCIDENTS_NEAR_NEWEST_FIRST,
    _OPEN_INCIDENTS_NEAR,
    _WARNINGS_NEAR,
    location_history,
    possible_duplicates,
)
from incidents.services import _INCIDENT_INSERT_KEYED, _REFERENCE_NEXT, _REFERENCE_SET
from tests.factories import CAMDEN, make_incident_type
from tests.row_writes import row_writes

COMMON = {
    "token read": _TOKENS_WITH_USER,
    "open incidents near": _OPEN_INCIDENTS_NEAR,
    "incidents near, newest first": _INCIDENTS_NEAR_NEWEST_FIRST,
    "warnings near": _WARNINGS_NEAR,
    "idempotency claim": _CLAIM,
    "idempotency store": _STORE,
    "the day's number": _REFERENCE_NEXT,
}


def _statements() -> dict:
    """On PostgreSQL the incident's key is drawn ahead and its row written once, numbered;
    elsewhere the row is written under a placeholder and then given its reference."""
    if connection.vendor == "postgresql":
        return {**COMMON, "the incident's key": _INCIDENT_INSERT_KEYED._key_next}
    return {**COMMON, "the reference": _REFERENCE_SET}


def _create(cast, key: str) -> tuple[int, list[str]]:
    """POST one incident with a token and an Idempotency-Key; its status and every SQL text
    the request ran."""
    make_incident_type("VIOL", default_grade="I", name="Violence")
    token = AuthToken.objects.create(user=cast.handler)[1]
    client = Client(HTTP_AUTHORIZATION=f"Token {token}")
    body = {
        "type": "VIOL",
        "summary": "fight outside the pub",
        "location": {"lat": CAMDEN[0], "lon": CAMDEN[1], "address": "the pub on the corner"},
        "caller": {"name": "Ann Caller", "phone": "07700 900123"},
    }
    ran: list[str] = []

    def record(execute, sql, params, many, context):
        ran.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        response = client.post(
            "/api/v1/incidents/", json.dumps(body), content_type="application/json",
            headers={"Idempotency-Key": key},
        )  # fmt: skip
    return response.status_code, ran


def test_a_create_runs_its_fixed_statements_prepared(postgres, cast):
    status, ran = _create(cast, "prepared-1")

    assert status == 201
    executes = {sql for sql in ran if sql.startswith("EXECUTE ")}
    for what, statement in _statements().items():
        assert any(f'"{statement.name}"' in sql for sql in executes), f"{what}: not prepared"
        assert statement.sql not in ran, f"{what}: run as plain text"
    assert Incident.objects.filter(summary="fight outside the pub").count() == 1


def test_the_incident_row_is_written_once_with_its_reference(postgres, cast):
    """An UPDATE of the reference wrote the row again, an entry in each of the incident
    table's indexes, and left a dead row behind (stop 46): on PostgreSQL the row is inserted
    once, numbered. (This test's transaction holds the create's, so the counters are its.)"""
    before = row_writes("incidents_incident")
    status, ran = _create(cast, "written-once")
    written = row_writes("incidents_incident") - before

    assert status == 201
    assert (written.inserted, written.updated) == (1, 0)
    assert not any(_REFERENCE_SET.name in sql or "UPDATE incidents_incident" in sql for sql in ran)
    incident = Incident.objects.get(summary="fight outside the pub")
    assert re.fullmatch(r"CAD \d{4}/\d{2}[A-Z][a-z]{2}\d{2}", incident.reference)
    assert incident.reference_number < 2_000_000_000  # a day's number, not a placeholder
    assert incident.calls.get().incident_id == incident.pk


def test_without_server_prepares_they_run_as_text(db, cast, settings):
    settings.DB_SERVER_PREPARE = False

    status, ran = _create(cast, "prepared-2")

    assert status == 201
    assert not [sql for sql in ran if sql.startswith(("EXECUTE ", "PREPARE "))]
    for what, statement in _statements().items():
        if what == "token read" and connection.vendor != "postgresql":
            continue  # SQLite reads the token through knox's own query (decision 0031)
        assert statement.sql in ran, f"{what}: not run"
    assert Incident.objects.filter(summary="fight outside the pub").count() == 1


def test_the_near_reads_keep_their_index_under_the_generic_plan(postgres, cast):
    """After five runs PostgreSQL may keep a prepared statement's generic plan, which cannot
    see how small the box is (a rare type's search lost its index that way: decision 0028,
    stop 37). The duplicate check and the address history must still range-scan
    incident_position_idx over a year of a busy force's incidents, not read the table."""
    itype = make_incident_type("VIOL", default_grade="I", name="Violence")
    rng = random.Random(5)
    now = timezone.now()
    Incident.objects.bulk_create(
        Incident(reference=f"GEN {n}", reference_date=date(1990, 1, 1), reference_number=n + 1,
                 type=itype, grade="I", lat=rng.uniform(51.3, 51.7), lon=rng.uniform(-0.5, 0.3),
                 created_at=now - timedelta(minutes=rng.uniform(0, 365 * 24 * 60)),
                 created_by=cast.handler)
        for n in range(20_000)
    )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE incidents_incident")
    runs: list[tuple[str, list]] = []

    def keep(execute, sql, params, many, context):
        runs.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(keep):
        possible_duplicates(lat=CAMDEN[0], lon=CAMDEN[1])
        location_history(lat=CAMDEN[0], lon=CAMDEN[1])
    for name in (_OPEN_INCIDENTS_NEAR.name, _INCIDENTS_NEAR_NEWEST_FIRST.name):
        [(sql, params)] = [(s, p) for s, p in runs if s.startswith(f'EXECUTE "{name}"')]
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
            cursor.execute("EXPLAIN " + sql, params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        assert "incident_position_idx" in plan, plan
        assert not re.search(r"Seq Scan on incidents_incident\s", plan), plan
