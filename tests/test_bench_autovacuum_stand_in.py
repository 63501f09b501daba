"""bench/autovacuum_stand_in.py: where the server's autovacuum is off, the soak does what
autovacuum would (its thresholds and pace), not `VACUUM (ANALYZE)` of everything every minute.
"""

import dataclasses
import importlib

import pytest
from django.db import connection

from tests.servers import ROOT


@pytest.fixture
def stand_in(monkeypatch):
    # Only for this import: bench/ holds modules (stats, replay) that would shadow others.
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    return importlib.import_module("autovacuum_stand_in")


def table(stand_in, reltuples=0.0, dead=0, inserted=0, changed=0):
    return stand_in.TableStats("t", reltuples, dead, inserted, changed)


def test_dead_rows_past_the_threshold_and_a_fifth_of_the_table_call_for_a_vacuum(stand_in):
    rules = stand_in.Rules()  # PostgreSQL's own defaults
    # 10,000 rows: 50 + 0.2 x 10,000 = 2,050 dead rows are the line, and the rule is "more than".
    assert not stand_in.due(table(stand_in, 10_000, dead=2_050), rules).vacuum
    assert stand_in.due(table(stand_in, 10_000, dead=2_051), rules).vacuum


def test_a_table_only_inserted_into_is_vacuumed_by_the_insert_rule(stand_in):
    rules = stand_in.Rules()  # PostgreSQL's own defaults
    assert not stand_in.due(table(stand_in, 10_000, inserted=3_000), rules).vacuum
    assert stand_in.due(table(stand_in, 10_000, inserted=3_001), rules).vacuum


def test_the_radio_log_is_not_vacuumed_for_every_few_thousand_updates(stand_in):
    """The old stand-in vacuumed the growing radio log every minute for the status messages'
    dead rows, scanning its indexes whole each time. Autovacuum waits for a fifth of it."""
    rules = stand_in.Rules()  # PostgreSQL's own defaults
    radio_log = table(stand_in, 3_000_000, dead=20_000, inserted=120_000, changed=140_000)
    assert stand_in.due(radio_log, rules) == ("t", False, False)


def test_analyze_follows_the_rows_changed_since_the_last_one(stand_in):
    rules = stand_in.Rules()  # PostgreSQL's own defaults
    assert not stand_in.due(table(stand_in, 1_000, changed=150), rules).analyze
    assert stand_in.due(table(stand_in, 1_000, changed=151), rules).analyze


def test_a_table_never_vacuumed_counts_as_empty(stand_in):
    # pg_class.reltuples is -1 until the first VACUUM or ANALYZE; autovacuum reads it as 0.
    rules = stand_in.Rules()  # PostgreSQL's own defaults
    assert stand_in.due(table(stand_in, -1, dead=51), rules).vacuum
    assert stand_in.due(table(stand_in, -1, changed=51), rules).analyze


def test_the_servers_own_settings_are_the_rules(stand_in):
    changed = dataclasses.replace(stand_in.Rules(), vacuum_threshold=5_000)
    assert not stand_in.due(table(stand_in, 0, dead=4_000), changed).vacuum


def flush_counters(cursor):
    """This backend's table counters into the statistics now, not up to a second later."""
    cursor.execute("SELECT pg_stat_force_next_flush()")
    cursor.execute("SELECT 1")  # flushed as the backend went idle after the statement before


@pytest.mark.django_db(transaction=True)  # VACUUM cannot run inside the test's transaction
def test_a_round_vacuums_the_churned_table_and_leaves_the_quiet_one(postgres, stand_in):
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE soak_churned (id int PRIMARY KEY, v int)")
        cursor.execute("CREATE TABLE soak_quiet (id int PRIMARY KEY, v int)")
        try:
            cursor.execute("INSERT INTO soak_churned SELECT g, 0 FROM generate_series(1, 2000) g")
            cursor.execute("INSERT INTO soak_quiet SELECT g, 0 FROM generate_series(1, 2000) g")
            flush_counters(cursor)  # or they would land after the VACUUM and count since it
            cursor.execute("VACUUM ANALYZE soak_quiet")
            cursor.execute("UPDATE soak_churned SET v = 1 WHERE id <= 1500")
            cursor.execute("UPDATE soak_quiet SET v = 1 WHERE id <= 10")
            flush_counters(cursor)
            rules = stand_in.server_rules(cursor)
            assert rules.cost_limit > 0 and rules.vacuum_scale_factor >= 0

            done = stand_in.stand_in_round(cursor, rules)

            assert "soak_churned" in done.vacuumed and "soak_churned" in done.analyzed
            assert "soak_quiet" not in done.vacuumed and "soak_quiet" not in done.analyzed
            flush_counters(cursor)
            cursor.execute(
                "SELECT relname, vacuum_count FROM pg_stat_user_tables "
                "WHERE relname IN ('soak_churned', 'soak_quiet') ORDER BY relname"
            )
            assert cursor.fetchall() == [("soak_churned", 1), ("soak_quiet", 1)]
        finally:
            cursor.execute("DROP TABLE soak_churned")
            cursor.execute("DROP TABLE soak_quiet")
