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


@pytest.fixture
def probe(cost, postgres, transactional_db):
    """write(chars): 1,000 rows of `chars` characters into a table with an index on them (not
    a temporary table: its rows would not be logged); the WAL position before the write."""
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE bench_wal_probe (filler text)")
        cursor.execute("CREATE INDEX bench_wal_probe_filler ON bench_wal_probe (filler)")

    def write(chars: int) -> str:
        start = cost.wal_lsn()
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO bench_wal_probe SELECT repeat(md5(i::text), %s) "
                "FROM generate_series(1, 1000) AS i",
                [chars // 32],
            )
        return start

    yield write
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_wal_probe")


def test_the_wal_a_write_makes_is_counted(cost, probe):
    # About 1 MB of rows: under the size PostgreSQL compresses in a table (not in an index).
    written = cost.wal_bytes_since(probe(1_024))
    # Other databases of this cluster (other test workers') write meanwhile: hence the margin.
    assert 1_000 * 1_024 <= written < 50 * 1_000 * 1_024


def test_the_wal_is_charged_to_the_relation_written(cost, probe):
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('server_version_num')::int")
        walinspect = cursor.fetchone()[0] >= 150_000
    start = probe(256)  # each row also an entry of the index
    by_relation = cost.wal_by_relation(start, cost.wal_flushed())
    if not walinspect:  # PostgreSQL 14 and before have no pg_walinspect: the bench says so
        assert by_relation is None
        return
    written = dict(by_relation)
    assert 1_000 * 256 <= written["bench_wal_probe"] < 4 * 1_000 * 256
    assert 1_000 * 256 <= written["bench_wal_probe_filler"] < 4 * 1_000 * 256
    # Records only, within the range (other test workers' included): never more than it.
    assert sum(written.values()) <= cost.wal_bytes_since(start)
    assert [b for _, b in by_relation] == sorted((b for _, b in by_relation), reverse=True)
    with connection.cursor() as cursor:  # not left behind in the database it looked at
        cursor.execute("SELECT count(*) FROM pg_extension WHERE extname = 'pg_walinspect'")
        assert cursor.fetchone() == (0,)
