"""Backup and restore: the event sequence and the audit trail survive the round trip."""

import uuid

import psycopg2
import pytest
from django.core.management import CommandError, call_command
from django.db import transaction

from cad.audit.trail import audit_record
from cad.live.events import event_emit
from cad.ops.backup import Server

pytestmark = pytest.mark.django_db(transaction=True)  # pg_dump must see committed rows


@pytest.fixture
def restored_name():
    name = f"beacon_restore_{uuid.uuid4().hex[:10]}"
    yield name
    server = Server.from_settings()
    admin = server.connect("postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
    admin.close()


def _rows(server: Server, dbname: str, query: str) -> list[tuple]:
    conn = server.connect(dbname)
    try:
        with conn.cursor() as cursor:
            cursor.execute(query)
            return cursor.fetchall()
    finally:
        conn.close()


def test_event_sequence_and_audit_trail_survive_backup_and_restore(
    postgres, make_user, tmp_path, restored_name
):
    user = make_user("despatcher")
    for n in range(5):
        with transaction.atomic():
            event_emit(type="unit.updated", data={"n": n}, bcus=["CN"] if n % 2 else [])
            audit_record(user=user, action="update", object_type="resources.unit",
                         object_id=str(n), changes={"status": ["available", "en_route"]},
                         source="10.0.0.1")  # fmt: skip
    server = Server.from_settings()
    events_q = "SELECT seq, type, bcu, data::text FROM cad_event ORDER BY seq"
    audit_q = (
        "SELECT id, at, username, action, object_type, object_id, changes::text, source"
        " FROM cad_auditevent ORDER BY id"
    )
    counter_q = "SELECT last_seq FROM cad_eventcounter"
    before = [_rows(server, server.name, q) for q in (events_q, audit_q, counter_q)]
    assert len(before[0]) == 5 and len(before[1]) >= 5

    dump = tmp_path / "beacon.dump"
    call_command("db_backup", str(dump))
    assert dump.stat().st_size > 0
    call_command("db_restore", str(dump), "--into", restored_name)

    after = [_rows(server, restored_name, q) for q in (events_q, audit_q, counter_q)]
    assert after == before
    # The copy is still append-only: its audit trail cannot be rewritten.
    conn = server.connect(restored_name)
    try:
        with conn.cursor() as cursor, pytest.raises(psycopg2.Error):
            cursor.execute("UPDATE cad_auditevent SET action = 'delete'")
    finally:
        conn.rollback()
        conn.close()


def test_restore_refuses_an_existing_database(postgres, tmp_path):
    dump = tmp_path / "beacon.dump"
    call_command("db_backup", str(dump))
    with pytest.raises(CommandError, match="exists: restore only into a fresh one"):
        call_command("db_restore", str(dump), "--into", Server.from_settings().name)
