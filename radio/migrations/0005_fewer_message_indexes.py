"""Fewer index entries per radio message (docs/benchmarks.md, stop 31; decision 0030).

Every GPS fix inserts a message row, and each of the table's indexes takes an entry for it.
Two of the eight served nothing: `issi` (and its pattern-matching twin on PostgreSQL) is never
looked up, and the admin's search is a substring search a b-tree cannot serve. The assignment's
index now leaves out the rows with no assignment: most fixes come from units not on a job.

The table is large and written all the time, so on PostgreSQL the indexes are dropped and built
CONCURRENTLY (no lock that stops the radio's writes; hence not in a transaction). Django's own
AlterField of a foreign key would also drop and re-add the constraint, checking every row under
a lock, so the schema is changed here directly and Django's state separately.
"""

import django.db.models.deletion
from django.db import migrations, models

TABLE = "radio_radiomessage"
OLD = [
    ("radio_radiomessage_issi_3a0871b2", "issi"),
    ("radio_radiomessage_issi_3a0871b2_like", "issi varchar_pattern_ops"),
    ("radio_radiomessage_assignment_id_9aa2d7df", "assignment_id"),
]
NEW = ("radio_assignment_idx", "assignment_id", "assignment_id IS NOT NULL")


def _concurrently(schema_editor) -> str:
    return "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""


def _create(schema_editor, name: str, columns: str, where: str = "") -> None:
    how = _concurrently(schema_editor)
    if how:
        # A concurrent build that failed leaves an invalid index of that name behind.
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(
                "SELECT NOT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "WHERE c.relname = %s",
                [name],
            )
            invalid = cursor.fetchone()
        if invalid and invalid[0]:
            schema_editor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"')
    condition = f" WHERE {where}" if where else ""
    schema_editor.execute(
        f'CREATE INDEX {how}IF NOT EXISTS "{name}" ON "{TABLE}" ({columns}){condition}'
    )


def forwards(apps, schema_editor):
    how = _concurrently(schema_editor)
    _create(schema_editor, *NEW)
    for name, _ in OLD:
        schema_editor.execute(f'DROP INDEX {how}IF EXISTS "{name}"')


def backwards(apps, schema_editor):
    for name, columns in OLD:
        if "pattern_ops" not in columns or schema_editor.connection.vendor == "postgresql":
            _create(schema_editor, name, columns)
    schema_editor.execute(f'DROP INDEX {_concurrently(schema_editor)}IF EXISTS "{NEW[0]}"')


class Migration(migrations.Migration):
    atomic = False  # CREATE and DROP INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("radio", "0004_outbound_alerted_at"),
        ("resources", "0009_unit_fillfactor"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="radiomessage",
                    name="assignment",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="radio_messages",
                        to="resources.assignment",
                    ),
                ),
                migrations.AlterField(
                    model_name="radiomessage",
                    name="issi",
                    field=models.CharField(max_length=16, verbose_name="ISSI"),
                ),
                migrations.AddIndex(
                    model_name="radiomessage",
                    index=models.Index(
                        condition=models.Q(("assignment__isnull", False)),
                        fields=["assignment"],
                        name="radio_assignment_idx",
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(forwards, backwards)],
        ),
    ]
