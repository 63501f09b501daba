"""The figures' roll-up cells updated as HOT updates: the count out of the cells' unique index,
and room kept on each page of the table for the new versions (docs/benchmarks.md, stop 46).

Every creation and every first arrival adds one to two cells (the BCU's and all London's). With
the count in the index, each of those updates wrote a new entry in all three of the table's
indexes; without it, and with room on the page, PostgreSQL writes only the row's new version.
"""

from typing import Any

from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

ROOM = 70  # percent of each page filled by inserts; the rest is for the cells' updates


def _fillfactor(percent: int):
    def run(apps: Any, schema_editor: BaseDatabaseSchemaEditor) -> None:
        if schema_editor.connection.vendor == "postgresql":  # SQLite has no such setting
            schema_editor.execute(f"ALTER TABLE incidents_responseday SET (fillfactor = {percent})")

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("cad", "0016_recovery_code_index_covered"),
        ("incidents", "0013_response_bcu_index_covered"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="responseday",
            name="response_day_cell",
        ),
        migrations.AddConstraint(
            model_name="responseday",
            constraint=models.UniqueConstraint(
                fields=("all_london", "bcu", "day", "grade", "bucket"),
                name="response_day_cell",
                nulls_distinct=False,
            ),
        ),
        migrations.RunPython(_fillfactor(ROOM), _fillfactor(100)),
    ]
