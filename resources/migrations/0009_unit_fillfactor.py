"""Room on each page of the units' table for a GPS fix to be a HOT update (decision 0002).

A unit's row is rewritten at every fix. PostgreSQL can keep the new version on the same page,
with no new index entries (a HOT update), only if the page has room; at the default fillfactor
(100) pages fill up and about a third of the fixes in `bench/radio_ingest.py` wrote a new entry
in every one of the table's eight indexes. Half of each page is left free for the updates: the
table is a few thousand rows, so it costs a few hundred kilobytes. Pages already full fill to
the new setting as their rows move; `VACUUM FULL resources_unit` rewrites them at once.
"""

from django.db import migrations

from cad.audit.append_only import postgres_only_operation


class Migration(migrations.Migration):
    dependencies = [
        ("resources", "0008_unit_grid_cells"),
    ]

    operations = [
        postgres_only_operation(
            "ALTER TABLE resources_unit SET (fillfactor = 50)",
            "ALTER TABLE resources_unit RESET (fillfactor)",
        ),
    ]
