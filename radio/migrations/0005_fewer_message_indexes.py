"""Fewer index entries per radio message (docs/benchmarks.md, stop 31).

Every GPS fix inserts a message row, and each of the table's indexes takes an entry for it.
Two of the eight served nothing: `issi` (and its pattern-matching twin on PostgreSQL) is never
looked up, and the admin's search is a substring search a b-tree cannot serve. The assignment's
index now leaves out the rows with no assignment: most fixes come from units not on a job.

The indexes are dropped and created directly: Django's own AlterField of a foreign key would
also drop and re-add the constraint, which checks every row of the table under a lock.
"""

import django.db.models.deletion
from django.db import migrations, models

DROPPED = [
    ("radio_radiomessage_issi_3a0871b2", "issi"),
    ("radio_radiomessage_issi_3a0871b2_like", "issi varchar_pattern_ops"),
    ("radio_radiomessage_assignment_id_9aa2d7df", "assignment_id"),
]


def drop(apps, schema_editor):
    for name, _ in DROPPED:
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')


def restore(apps, schema_editor):
    for name, columns in DROPPED:
        if "pattern_ops" in columns and schema_editor.connection.vendor != "postgresql":
            continue
        schema_editor.execute(f'CREATE INDEX "{name}" ON "radio_radiomessage" ({columns})')


class Migration(migrations.Migration):
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
            ],
            database_operations=[migrations.RunPython(drop, restore)],
        ),
        migrations.AddIndex(
            model_name="radiomessage",
            index=models.Index(
                condition=models.Q(("assignment__isnull", False)),
                fields=["assignment"],
                name="radio_assignment_idx",
            ),
        ),
    ]
