"""bench/create_cost.py's account of PostgreSQL's CPU by statement: each statement's notice
joined to the statement that ran it, the transaction's BEGIN and COMMIT apart, a prepared
statement named by its text. Checked on a few known statements, so that a misjoined table
cannot pass for a finding about the create."""

import importlib

import pytest
from django.db import connection, transaction

from cad.prepared import PreparedSQL
from tests.servers import ROOT

PLUS_ONE = PreparedSQL("SELECT %s::int + 1")


@pytest.fixture
def cost(monkeypatch):
    # Only for this import: bench/ holds modules (stats, replay) that would shadow others.
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    return importlib.import_module("create_cost")


def test_each_statement_is_charged_its_own_notice(cost, postgres, transactional_db):
    def post():
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM generate_series(1, 1000)")
            for _ in range(2):
                PLUS_ONE.execute(cursor, [41])
                assert cursor.fetchone() == (42,)

    post()  # prepares PLUS_ONE on this connection
    rows = cost.statement_cpu(post, 4)

    times = {label: per_create for label, _, per_create in rows}
    assert times == {
        "BEGIN": 1.0,
        "SELECT count(*) FROM generate_series(1, 1000)": 1.0,
        "EXECUTE SELECT $1::int + 1": 2.0,
        "COMMIT": 1.0,
    }
    assert all(ms >= 0 for _, ms, _ in rows)
    assert [ms for _, ms, _ in rows] == sorted((ms for _, ms, _ in rows), reverse=True)
    # The connection is left as it was: no statistics, its own notice list.
    with connection.cursor() as cursor:
        cursor.execute("SHOW log_statement_stats")
        assert cursor.fetchone() == ("off",)
    assert not isinstance(connection.connection.notices, cost.Notices)


def test_the_wal_a_write_makes_is_counted(cost, postgres, transactional_db):
    # Not a temporary table: its rows would not be logged.
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE bench_wal_probe (filler text)")
    try:
        start = cost.wal_lsn()
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO bench_wal_probe SELECT repeat(md5(i::text), 32) "
                "FROM generate_series(1, 1000) AS i"
            )  # 1,000 rows of 1,024 characters, about 1 MB: under the size PostgreSQL compresses
        written = cost.wal_bytes_since(start)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE bench_wal_probe")
    # Other databases of this cluster (other test workers') write meanwhile: hence the margin.
    assert 1_000 * 1_024 <= written < 50 * 1_000 * 1_024
