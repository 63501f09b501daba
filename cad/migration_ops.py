"""Migration operations for tables that are written all the time (the write path's)."""

from typing import Any

from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor


def foreign_key_index_dropped(
    model_name: str, name: str, field: models.ForeignKey, *, table: str, index: str
) -> migrations.SeparateDatabaseAndState:
    """The foreign key `name` of `model_name` loses its own index `index` (`covered_index_drop`)
    and becomes `field` (declared with `db_index=False`) in Django's state, its key kept."""
    return migrations.SeparateDatabaseAndState(
        database_operations=[covered_index_drop(table, index, f"{name}_id")],
        state_operations=[migrations.AlterField(model_name=model_name, name=name, field=field)],
    )


def covered_index_drop(table: str, index: str, column: str) -> migrations.RunPython:
    """Drop the index Django made for a foreign key whose lookups another index, beginning with
    the same column, already serves: each row written paid for an entry in both.

    CONCURRENTLY on PostgreSQL, so that the table's writers are never stopped (the migration
    must then say `atomic = False`). Only the index goes: Django's own AlterField(db_index=False)
    would also drop and re-add the foreign key, checking every row under a lock, so migrations
    pair this with the AlterField as a state operation (`foreign_key_index_dropped`).
    """

    def how(schema_editor: BaseDatabaseSchemaEditor) -> str:
        return "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""

    def drop(apps: Any, schema_editor: BaseDatabaseSchemaEditor) -> None:
        schema_editor.execute(f'DROP INDEX {how(schema_editor)}IF EXISTS "{index}"')

    def restore(apps: Any, schema_editor: BaseDatabaseSchemaEditor) -> None:
        schema_editor.execute(
            f'CREATE INDEX {how(schema_editor)}IF NOT EXISTS "{index}" ON "{table}" ("{column}")'
        )

    return migrations.RunPython(drop, restore)
