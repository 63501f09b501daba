"""The recommendation's compiled queries as server-side prepared statements (decision 0028):
prepared once per PostgreSQL connection, executed after that, prepared again on a new
connection, kept through a rolled-back transaction, not used with DB_SERVER_PREPARE off, and
prepared afresh after a migration changed a column they return."""

import pytest
from dj_db_conn_pool.core import pool_container
from django.db import OperationalError, connection, transaction
from django.db.models import F
from django.db.utils import load_backend

from cad.prepared import PreparedValues, _prepared_on
from resources.models import Unit
from tests.factories import make_unit, make_unit_type


def _by_type_prefix(*, south: float, status: str):
    # startswith on another column: Django writes a literal '%%' into the SQL itself.
    return (
        Unit.objects.filter(lat__gte=south, status=status, callsign__startswith=F("type__code"))
        .order_by("callsign")
        .values_list("callsign", "lat")
    )


def _statements() -> dict[str, int]:
    """The statements this session holds, by name: how many times each has been executed."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT name, generic_plans + custom_plans FROM pg_prepared_statements")
        return dict(cursor.fetchall())


@pytest.fixture
def units(postgres, geography):
    station = geography["kentish"]
    # A type code with a percent sign: the prefix is matched literally only if the prepared
    # text turned Django's '%%' back into '%'. Left as '%%', IXV9 would match as well.
    code = "I%V"
    unit_type = make_unit_type(code, "Percent-sign type")
    for n, lat in enumerate((51.50, 51.52, 51.54)):
        make_unit(station, callsign=f"{code}{n}", lat=lat, lon=-0.1, unit_type=unit_type)
    make_unit(station, callsign="IXV9", lat=51.53, lon=-0.1, unit_type=unit_type)
    return code


def test_prepared_once_per_connection_then_only_executed(units, settings):
    settings.DB_SERVER_PREPARE = True
    before = _statements()  # an earlier test's statements may live on this connection
    prepared = PreparedValues(Unit, _by_type_prefix)
    answers = [prepared.rows("one", south=south, status="available") for south in (51.49, 51.51)]
    assert answers == [list(_by_type_prefix(south=s, status="available")) for s in (51.49, 51.51)]
    assert [c for c, _ in answers[1]] == [f"{units}1", f"{units}2"]  # not IXV9
    ours = {name: n for name, n in _statements().items() if name not in before}
    assert list(ours.values()) == [2], ours  # one statement, run twice


def test_a_new_connection_prepares_its_own(units, settings, transactional_db):
    settings.DB_SERVER_PREPARE = True
    prepared = PreparedValues(Unit, _by_type_prefix)
    first = prepared.rows("one", south=51.49, status="available")
    connection.close()  # as after a PostgreSQL restart, or another connection from the pool
    assert prepared.rows("one", south=51.49, status="available") == first
    assert list(_statements().values()) == [1]  # a new session: prepared again, run once


def test_a_statement_prepared_in_a_rolled_back_transaction_is_kept(
    units, settings, transactional_db
):
    settings.DB_SERVER_PREPARE = True
    prepared = PreparedValues(Unit, _by_type_prefix)
    with pytest.raises(RuntimeError), transaction.atomic():
        prepared.rows("one", south=51.49, status="available")
        raise RuntimeError("rolled back")
    # Remembered as prepared on this connection: PostgreSQL must still have it.
    assert len(prepared.rows("one", south=51.49, status="available")) == 3


def test_off_it_runs_the_plain_query(units, settings):
    settings.DB_SERVER_PREPARE = False
    before = _statements()  # an earlier test's statements may live on this connection
    prepared = PreparedValues(Unit, _by_type_prefix)
    assert prepared.rows("one", south=51.51, status="available") == list(
        _by_type_prefix(south=51.51, status="available")
    )
    assert _statements() == before


def test_daphnes_pool_hands_a_connection_on_with_its_statements(postgres):
    # The pool gives each request a new proxy for the same driver connection: the statements
    # must be remembered against the driver's, or the next request would PREPARE again (an
    # error: it already exists) and be answered 500.
    backend = load_backend("cad.db_pool")
    pool = {"POOL_SIZE": 1, "MAX_OVERFLOW": 0, "TIMEOUT": 5}
    settings_dict = {**connection.settings_dict, "ENGINE": "cad.db_pool", "POOL_OPTIONS": pool}
    first, second = (backend.DatabaseWrapper(settings_dict, alias="prepared_pool_test")
                     for _ in range(2))  # fmt: skip
    try:
        with first.cursor() as cursor:
            cursor.execute("PREPARE beacon_pool_test AS SELECT 41 + 1")
        _prepared_on(first)[1].add("beacon_pool_test")
        first.close()  # back to the pool, as at the end of a request
        assert "beacon_pool_test" in _prepared_on(second)[1]
        with second.cursor() as cursor:
            cursor.execute("EXECUTE beacon_pool_test")
            assert cursor.fetchone() == (42,)
    finally:
        first.close()
        second.close()
        pool_container.pop("prepared_pool_test").dispose()


def test_what_wraps_the_cursor_sees_plain_text(units, settings):
    # Django's query log, tracing and our benches' counters slice and print the SQL they see.
    settings.DB_SERVER_PREPARE = True
    seen = []

    def recording(execute, sql, params, many, context):
        seen.append(sql)
        return execute(sql, params, many, context)

    prepared = PreparedValues(Unit, _by_type_prefix)
    with connection.execute_wrapper(recording):
        prepared.rows("one", south=51.49, status="available")
        prepared.rows("one", south=51.51, status="available")
    assert [type(sql) for sql in seen] == [str, str, str]  # PREPARE once, EXECUTE twice
    assert seen[0].startswith('PREPARE "beacon_prepared_') and seen[1].startswith("EXECUTE")


def test_columns_django_adds_for_its_order_by_are_left_out(units):
    # DISTINCT ordered by a column not asked for: Django selects it too, and its own iterator
    # cuts it off again; so must the prepared rows.
    def callsigns_by_latitude(*, south: float):
        return (
            Unit.objects.filter(lat__gte=south).order_by("-lat").distinct().values_list("callsign")
        )

    prepared = PreparedValues(Unit, callsigns_by_latitude)
    rows = prepared.rows("one", south=51.49)
    assert rows == list(callsigns_by_latitude(south=51.49))
    assert rows[0] == (f"{units}2",)


def _callsign_type(sql_type: str) -> None:
    # What a migration that widens a returned column does to the table under running processes.
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE resources_unit ALTER COLUMN callsign TYPE {sql_type}")


def test_after_a_migration_outside_a_transaction_it_prepares_again_at_once(
    units, settings, transactional_db
):
    settings.DB_SERVER_PREPARE = True
    prepared = PreparedValues(Unit, _by_type_prefix)
    first = prepared.rows("one", south=51.49, status="available")
    width = Unit._meta.get_field("callsign").max_length
    _callsign_type("text")  # committed: this connection is in autocommit
    try:
        assert prepared.rows("one", south=51.49, status="available") == first
        assert prepared.rows("one", south=51.51, status="available") == first[1:]
    finally:
        _callsign_type(f"varchar({width})")


def test_after_a_migration_inside_a_transaction_that_one_fails_then_it_works(units, settings):
    settings.DB_SERVER_PREPARE = True
    prepared = PreparedValues(Unit, _by_type_prefix)
    first = prepared.rows("one", south=51.49, status="available")
    with connection.cursor() as cursor:
        # ALTER TABLE refuses while the fixture's foreign keys wait to be checked at commit.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    _callsign_type("text")  # rolled back with the test's transaction
    # The refusal aborts the transaction, so it cannot be retried inside it: the API answers
    # 503 (nothing saved, try again) and a radio task retries.
    with pytest.raises(OperationalError), transaction.atomic():
        prepared.rows("one", south=51.49, status="available")
    assert prepared.rows("one", south=51.49, status="available") == first
