"""The database itself refuses to change, delete or empty the audit trail (issue 8, point 4).

Raw SQL on the application's own connection, so no Python guard is involved.
"""

import pytest
from django.db import IntegrityError, connection, transaction

from cad.audit.trail import audit_record
from cad.models import AuditEvent

APPEND_ONLY = ["cad_auditevent", "cad_event", "incidents_incidentlogentry", "incidents_gradechange"]


@pytest.fixture
def audit_row(postgres, make_user):
    return audit_record(user=make_user("despatcher"), action="read_personal",
                        object_type="incidents.incident", object_id="1", source="test")  # fmt: skip


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE cad_auditevent SET username = 'someone else'",
        "UPDATE cad_auditevent SET changes = '{}'::jsonb",
        "DELETE FROM cad_auditevent",
    ],
)
def test_raw_update_and_delete_are_refused(audit_row, statement):
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)
    row = AuditEvent.objects.get(pk=audit_row.pk)
    assert row.username == audit_row.username and row.changes == audit_row.changes


@pytest.mark.parametrize("table", APPEND_ONLY)
def test_truncate_is_refused(audit_row, table):
    """Row triggers never see TRUNCATE; the statement trigger does.

    Test databases let TRUNCATE through so Django can empty them between tests;
    `beacon.guard_truncate` asks for the behaviour every other database has.
    """
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        # Deferred foreign-key checks from the fixture's insert would block TRUNCATE first.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET LOCAL beacon.guard_truncate = 'on'")
        cursor.execute(f"TRUNCATE {table} CASCADE")
    assert AuditEvent.objects.filter(pk=audit_row.pk).exists()


def test_only_test_databases_may_truncate(postgres):
    """The exception is keyed to Django's `test_` prefix, nothing a request can set."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT prosrc FROM pg_proc WHERE proname = 'cad_auditevent_no_truncate'")
        (source,) = cursor.fetchone()
    assert "current_database() LIKE 'test\\_%'" in source
    assert connection.settings_dict["NAME"].startswith("test_")
