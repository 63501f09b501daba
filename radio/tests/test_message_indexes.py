"""The radio messages' assignment index leaves out the rows with no assignment (most GPS fixes,
radio migration 0005) and still serves every lookup by assignment the code makes."""

import pytest
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
