"""The radio messages' assignment index leaves out the rows with no assignment (most GPS fixes,
radio migration 0005) and still serves every lookup by assignment the code makes."""

from importlib import import_module

import pytest
from django.apps import apps
from django.db import connection
from django.db.models import Exists, OuterRef

from radio.models import RadioMessage

INDEX = "radio_assignment_idx"


def _plan(queryset) -> str:
    """PostgreSQL's plan for the queryset with sequential scans priced out: the index is used
    if it can serve the query at all (the test tables are too small for it to be worth it)."""
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.parametrize(
    "lookup",
    [
        pytest.param(lambda: RadioMessage.objects.filter(assignment_id=7), id="one assignment"),
        pytest.param(
            lambda: RadioMessage.objects.filter(assignment_id__in=[7, 8]),
            id="several (a delete's protection check)",
        ),
        pytest.param(
            lambda: RadioMessage.objects.filter(
                Exists(
                    RadioMessage.objects.filter(
                        assignment_id=OuterRef("assignment_id"), pk__gt=OuterRef("pk")
                    )
                )
            ),
            id="a newer message for the same assignment (the delivery alert)",
        ),
        pytest.param(
            lambda: RadioMessage.objects.filter(assignment__incident_id=3),
            id="an incident's messages (its audit view)",
        ),
    ],
)
def test_lookups_by_assignment_can_use_the_partial_index(postgres, lookup):
    assert INDEX in _plan(lookup())


def _valid(name: str) -> bool | None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE c.relname = %s",
            [name],
        )
        row = cursor.fetchone()
    return row[0] if row else None


@pytest.mark.django_db(transaction=True)
def test_running_the_migration_again_rebuilds_an_index_a_failed_build_left_invalid(postgres):
    """CREATE INDEX CONCURRENTLY that fails (a cancelled deploy) leaves an invalid index of that
    name; IF NOT EXISTS alone would then keep it for good."""
    migration = import_module("radio.migrations.0005_fewer_message_indexes")
    with connection.cursor() as cursor:
        # What a failed concurrent build leaves, made directly (the tests run as a superuser).
        cursor.execute(
            "UPDATE pg_index SET indisvalid = false WHERE indexrelid = %s::regclass", [INDEX]
        )
    assert _valid(INDEX) is False
    with connection.schema_editor(atomic=False) as schema_editor:
        migration.forwards(apps, schema_editor)
    assert _valid(INDEX) is True
    assert _valid("radio_radiomessage_issi_3a0871b2") is None
