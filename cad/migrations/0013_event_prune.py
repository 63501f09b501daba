from django.db import migrations

from cad.audit.append_only import append_only_trigger_sql, postgres_only_operation

# The event log may be pruned (cad/live/retention.py): its trigger still refuses every UPDATE,
# and a DELETE unless the transaction has set `beacon.event_prune` (SET LOCAL), which only the
# pruning service does. Other append-only tables keep the plain trigger.
FORWARD = """
    CREATE OR REPLACE FUNCTION cad_event_append_only() RETURNS trigger AS $$
    BEGIN
        IF TG_OP = 'DELETE'
           AND coalesce(current_setting('beacon.event_prune', true), '') = 'on' THEN
            RETURN OLD;
        END IF;
        RAISE EXCEPTION '% is append-only', TG_TABLE_NAME
            USING ERRCODE = 'integrity_constraint_violation';
    END;
    $$ LANGUAGE plpgsql;
"""
# Back to the plain function body (the trigger itself is unchanged).
REVERSE = append_only_trigger_sql("cad_event")[0].split("CREATE TRIGGER")[0]


class Migration(migrations.Migration):
    dependencies = [
        ("cad", "0012_board_replay"),
    ]

    operations = [postgres_only_operation(FORWARD, REVERSE)]
