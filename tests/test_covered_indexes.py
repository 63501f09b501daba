"""No table of Beacon's carries an index that another index already serves: each row written
pays for an entry in every index of its table, and the tables every create, despatch and status
change writes are written all the time (docs/benchmarks.md, stop 45). An index is covered when
another one, not partial, begins with the same columns in the same operator classes; a unique
one is never covered, as it is a rule and not only a way in."""

from django.apps import apps
from django.db import connection

BEACON_APPS = {"cad", "incidents", "resources", "duties", "radio"}

WRITE_PATH = [
    "cad_auditevent",
    "cad_event",
    "incidents_call",
    "incidents_idempotencykey",
    "incidents_incident",
    "incidents_incidentlogentry",
    "incidents_incidentresponse",
    "radio_radiomessage",
    "resources_assignment",
    "resources_unitstatuschange",
]

COVERED = """
    SELECT a.indrelid::regclass::text, a.indexrelid::regclass::text, b.indexrelid::regclass::text
    FROM pg_index a
    JOIN pg_index b ON b.indrelid = a.indrelid AND b.indexrelid <> a.indexrelid
    WHERE a.indrelid::regclass::text = ANY(%s)
      AND NOT a.indisunique
      AND a.indpred IS NULL AND b.indpred IS NULL
      AND a.indexprs IS NULL AND b.indexprs IS NULL
      AND a.indnkeyatts <= b.indnkeyatts
      AND (a.indkey::int2[])[0:a.indnkeyatts - 1] = (b.indkey::int2[])[0:a.indnkeyatts - 1]
      AND (a.indclass::oid[])[0:a.indnkeyatts - 1] = (b.indclass::oid[])[0:a.indnkeyatts - 1]
    ORDER BY 1, 2, 3
"""


def covered_indexes(tables: list[str]) -> list[tuple[str, str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(COVERED, [tables])
        return cursor.fetchall()


def test_no_index_on_the_write_path_is_served_by_another(postgres):
    assert covered_indexes(WRITE_PATH) == []


def test_no_index_of_beacon_is_served_by_another(postgres):
    tables, made_by_django = [], set()
    for model in apps.get_models(include_auto_created=True):
        if model._meta.app_label not in BEACON_APPS:
            continue
        if model._meta.auto_created:
            # The table of a many-to-many field: Django indexes both of its columns and makes
            # the pair unique, and takes no say in it without a model of our own for the table.
            made_by_django.add(model._meta.db_table)
        tables.append(model._meta.db_table)
    assert set(WRITE_PATH) <= set(tables)
    assert {table for table, _, _ in covered_indexes(tables)} <= made_by_django


def test_a_covered_index_is_found(postgres):
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE index_probe (a int, b int, c text)")
        cursor.execute("CREATE INDEX probe_a ON index_probe (a)")  # covered by probe_a_b
        cursor.execute("CREATE INDEX probe_a_b ON index_probe (a, b)")
        cursor.execute("CREATE INDEX probe_b ON index_probe (b)")  # second in probe_a_b: not
        cursor.execute("CREATE INDEX probe_c ON index_probe (c)")  # other operator class: not
        cursor.execute("CREATE INDEX probe_c_like ON index_probe (c text_pattern_ops)")
        cursor.execute("CREATE INDEX probe_b_part ON index_probe (b, a) WHERE c IS NULL")
        cursor.execute("CREATE UNIQUE INDEX probe_c_unique ON index_probe (c)")  # a rule: kept
        cursor.execute("CREATE INDEX probe_c_b ON index_probe (c, b)")
    assert covered_indexes(["index_probe"]) == [
        ("index_probe", "probe_a", "probe_a_b"),
        ("index_probe", "probe_c", "probe_c_b"),
        ("index_probe", "probe_c", "probe_c_unique"),
    ]
