"""The response rows' index on `bcu_id` alone, which response_bcu_day_idx (bcu, day) already
serves: every create wrote an entry in both (docs/benchmarks.md, stop 45)."""

from django.db import migrations, models

from cad.migration_ops import covered_index_drop


class Migration(migrations.Migration):
    atomic = False  # DROP INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("incidents", "0012_response_day"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                covered_index_drop(
                    "incidents_incidentresponse", "incidents_incidentresponse_bcu_id_8bfa23f6",
                    "bcu_id",
                ),  # fmt: skip
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="incidentresponse",
                    name="bcu",
                    field=models.ForeignKey(
                        blank=True, db_index=False, null=True,
                        on_delete=models.deletion.PROTECT, to="cad.bcu",
                    ),  # fmt: skip
                ),
            ],
        ),
    ]
