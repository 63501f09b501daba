"""Events are numbered at commit on PostgreSQL (docs/decisions/0025-event-numbering-at-commit.md).

An event is inserted with no `seq`; a deferred constraint trigger numbers the transaction's
events as it commits, so the counter row is locked only from that moment to the end of the
commit, inside the server, instead of from the write to the commit (every writer queued behind
the slowest transaction holding it, client round trips and all). The per-BCU streams' `prev`
links are worked out under the same lock and stored in the row for the publisher to read.

Rows inserted with a `seq` (SQLite, which keeps numbering at the write; bulk loads) are left as
they are. The append-only trigger lets exactly one change through: an unnumbered row getting
its number and links, nothing else altered.
"""

from importlib import import_module

from django.db import migrations, models

from cad.audit.append_only import postgres_only_operation

NUMBER = """
    -- The writing transaction, for the numbering to find its own rows by key: a scan of every
    -- unnumbered row would also walk the dead entries other transactions' numbering left in
    -- the index until vacuum (quadratic under load, seen in the soak). Not a model field:
    -- only this trigger reads it.
    ALTER TABLE cad_event ADD COLUMN tx bigint DEFAULT txid_current();
    CREATE INDEX cad_event_unnumbered ON cad_event (tx) WHERE seq IS NULL;

    CREATE OR REPLACE FUNCTION cad_event_number() RETURNS trigger AS $$
    DECLARE
        pending bigint[];
        bcus text[];
        n integer;
        last bigint;
        seqs bigint[] := '{}';
        prevs jsonb[] := '{}';
        bcu_ids jsonb;
        streams jsonb;
        moved text[] := '{}';
        code text;
        prev jsonb;
    BEGIN
        -- The first of the transaction's events to fire numbers them all, in the order they
        -- were inserted; the others see they are done from a transaction-local setting.
        IF NEW.id <= coalesce(nullif(current_setting('beacon.events_numbered_to', true), ''),
                              '0')::bigint THEN
            RETURN NULL;
        END IF;
        SELECT array_agg(id ORDER BY id), array_agg(bcu ORDER BY id) INTO pending, bcus
            FROM cad_event WHERE seq IS NULL AND tx = txid_current();
        IF pending IS NULL THEN
            RETURN NULL;
        END IF;
        PERFORM set_config('beacon.events_numbered_to', pending[array_length(pending, 1)]::text,
                           true);
        n := array_length(pending, 1);
        -- The lock that orders commits: held from here to the end of this commit.
        UPDATE cad_eventcounter SET last_seq = last_seq + n WHERE id = 1
            RETURNING last_seq - n INTO last;
        IF last IS NULL THEN  -- a database whose counter row was removed (a flushed test db)
            INSERT INTO cad_eventcounter (id, last_seq) VALUES (1, n);
            last := 0;
        END IF;
        -- Each BCU's stream: the last seq on it (null: none yet). Safe without further locks,
        -- as every numbering holds the counter row first.
        SELECT coalesce(jsonb_object_agg(b.code, b.id), '{}'),
               coalesce(jsonb_object_agg(b.code, c.last_seq), '{}')
            INTO bcu_ids, streams
            FROM cad_bcu b LEFT JOIN cad_eventcounter c ON c.id = 1000 + b.id;
        FOR i IN 1..n LOOP
            last := last + 1;
            prev := jsonb_build_object('board.all', last - 1);
            IF bcus[i] <> '' THEN
                FOREACH code IN ARRAY string_to_array(bcus[i], ',') LOOP
                    IF bcu_ids ? code THEN  -- an unknown code has no stream
                        prev := prev || jsonb_build_object(
                            'board.bcu.' || code, coalesce((streams ->> code)::bigint, 0));
                        streams := jsonb_set(streams, ARRAY[code], to_jsonb(last));
                        moved := array_append(moved, code);
                    END IF;
                END LOOP;
            END IF;
            seqs := array_append(seqs, last);
            prevs := array_append(prevs, prev);
        END LOOP;
        UPDATE cad_event AS e SET seq = v.seq, prev = v.prev
            FROM unnest(pending, seqs, prevs) AS v (id, seq, prev) WHERE e.id = v.id;
        INSERT INTO cad_eventcounter (id, last_seq)
            SELECT DISTINCT 1000 + (bcu_ids ->> m)::integer, (streams ->> m)::bigint
            FROM unnest(moved) AS m
            ON CONFLICT (id) DO UPDATE SET last_seq = excluded.last_seq;
        RETURN NULL;
    END;
    $$ LANGUAGE plpgsql;

    CREATE CONSTRAINT TRIGGER cad_event_number AFTER INSERT ON cad_event
        DEFERRABLE INITIALLY DEFERRED
        FOR EACH ROW WHEN (NEW.seq IS NULL) EXECUTE FUNCTION cad_event_number();

    CREATE OR REPLACE FUNCTION cad_event_append_only() RETURNS trigger AS $$
    BEGIN
        IF TG_OP = 'DELETE'
           AND coalesce(current_setting('beacon.event_prune', true), '') = 'on' THEN
            RETURN OLD;
        END IF;
        IF TG_OP = 'UPDATE' AND OLD.seq IS NULL AND NEW.seq IS NOT NULL
           AND NEW.id = OLD.id AND NEW.at = OLD.at AND NEW.type = OLD.type
           AND NEW.bcu = OLD.bcu AND NEW.data = OLD.data AND NEW.tx = OLD.tx THEN
            RETURN NEW;  -- numbering at commit (cad_event_number), nothing else
        END IF;
        RAISE EXCEPTION '% is append-only', TG_TABLE_NAME
            USING ERRCODE = 'integrity_constraint_violation';
    END;
    $$ LANGUAGE plpgsql;
"""

# Back to 0013's trigger function (pruning allowed, every update refused).
UNNUMBER = (
    """
    DROP TRIGGER IF EXISTS cad_event_number ON cad_event;
    DROP FUNCTION IF EXISTS cad_event_number();
    DROP INDEX IF EXISTS cad_event_unnumbered;
    ALTER TABLE cad_event DROP COLUMN IF EXISTS tx;
"""
    + import_module("cad.migrations.0013_event_prune").FORWARD
)


class Migration(migrations.Migration):
    dependencies = [
        ("cad", "0013_event_prune"),
    ]

    operations = [
        migrations.AlterField(
            model_name="event",
            name="seq",
            field=models.BigIntegerField(
                null=True,
                unique=True,
                help_text="Empty only inside the writing transaction (numbered at its commit)",
            ),
        ),
        migrations.AddField(
            model_name="event",
            name="prev",
            field=models.JSONField(
                blank=True,
                null=True,
                help_text="{stream group: the previous seq on that stream}, for the publisher",
            ),
        ),
        postgres_only_operation(NUMBER, UNNUMBER),
    ]
