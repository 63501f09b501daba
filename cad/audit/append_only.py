"""Append-only models: rows can be added, never changed or removed through the ORM.

The incident log and the audit trail are records a court may read (DPA 2018 s.62), so edits are
refused twice: here, for every ORM path (instance save/delete, queryset update/delete), and on
PostgreSQL by a trigger installed in the migration, for anything that bypasses the ORM.
"""

from django.db import migrations, models

from cad.prepared import plain_on_insert


class AppendOnlyError(Exception):
    """Raised when code tries to change or delete an append-only row."""


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError(f"{self.model.__name__} rows are append-only")

    def delete(self):
        raise AppendOnlyError(f"{self.model.__name__} rows are append-only")

    def bulk_update(self, objs, fields, batch_size=None):
        raise AppendOnlyError(f"{self.model.__name__} rows are append-only")


class AppendOnlyModel(models.Model):
    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    @plain_on_insert  # for a new row, only Django's own save
    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError(f"{type(self).__name__} rows are append-only")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError(f"{type(self).__name__} rows are append-only")


def append_only_trigger_sql(table: str) -> tuple[str, str]:
    """(forward, reverse) SQL for a PostgreSQL trigger refusing UPDATE and DELETE on `table`."""
    function = f"{table}_append_only"
    forward = f"""
        CREATE OR REPLACE FUNCTION {function}() RETURNS trigger AS $$
        BEGIN
            RAISE EXCEPTION '% is append-only', TG_TABLE_NAME
                USING ERRCODE = 'integrity_constraint_violation';
        END;
        $$ LANGUAGE plpgsql;
        CREATE TRIGGER {function} BEFORE UPDATE OR DELETE ON {table}
            FOR EACH ROW EXECUTE FUNCTION {function}();
    """
    reverse = f"DROP TRIGGER IF EXISTS {function} ON {table}; DROP FUNCTION IF EXISTS {function}();"
    return forward, reverse


def append_only_operation(table: str):
    """A migration operation that installs the trigger on PostgreSQL and does nothing elsewhere."""
    return postgres_only_operation(*append_only_trigger_sql(table))


def postgres_only_operation(forward: str, reverse: str):
    """A migration operation running `forward` (and `reverse` back) on PostgreSQL only."""

    def install(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(forward, params=None)

    def remove(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(reverse, params=None)

    return migrations.RunPython(install, remove)


def truncate_guard_sql(table: str) -> tuple[str, str]:
    """(forward, reverse) SQL for a PostgreSQL trigger refusing TRUNCATE on `table`.

    Row triggers never see TRUNCATE, so `TRUNCATE cad_auditevent` would empty the trail in one
    statement; a statement-level trigger closes that door. Django's test runner empties tables
    with TRUNCATE between transactional tests, so databases named `test_*` (the names Django
    gives its test databases) let it through unless the session sets `beacon.guard_truncate`
    to `on`, which is how the test of this guard asks for the production behaviour.
    """
    function = f"{table}_no_truncate"
    forward = f"""
        CREATE OR REPLACE FUNCTION {function}() RETURNS trigger AS $$
        BEGIN
            IF current_database() LIKE 'test\\_%'
               AND coalesce(current_setting('beacon.guard_truncate', true), '') <> 'on' THEN
                RETURN NULL;
            END IF;
            RAISE EXCEPTION '% is append-only: TRUNCATE refused', TG_TABLE_NAME
                USING ERRCODE = 'integrity_constraint_violation';
        END;
        $$ LANGUAGE plpgsql;
        CREATE TRIGGER {function} BEFORE TRUNCATE ON {table}
            FOR EACH STATEMENT EXECUTE FUNCTION {function}();
    """
    reverse = f"DROP TRIGGER IF EXISTS {function} ON {table}; DROP FUNCTION IF EXISTS {function}();"
    return forward, reverse


def truncate_guard_operation(table: str):
    """A migration operation installing the TRUNCATE guard on PostgreSQL (nothing elsewhere)."""
    return postgres_only_operation(*truncate_guard_sql(table))
