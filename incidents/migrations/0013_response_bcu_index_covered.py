"""The response rows' index on `bcu_id` alone, which response_bcu_day_idx (bcu, day) already
serves: every create wrote an entry in both (docs/benchmarks.md, stop 45)."""

from django.db import migrations, models

from cad.migration_ops import foreign_key_index_dropped


class Migration(migrations.Migration):
    atomic = False  # DROP INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("incidents", "0012_response_day"),
    ]

    operations = [
        foreign_key_index_dropped(
            "incidentresponse",
            "bcu",
            models.ForeignKey(
                blank=True, db_index=False, null=True, on_delete=models.PROTECT, to="cad.bcu"
            ),
            table="incidents_incidentresponse",
            index="incidents_incidentresponse_bcu_id_8bfa23f6",
        ),
    ]
