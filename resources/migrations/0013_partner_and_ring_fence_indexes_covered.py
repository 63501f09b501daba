"""Three indexes on a foreign key alone that a unique constraint beginning with the same column
already serves: partner shares, partner incidents and ring fences (docs/benchmarks.md,
stop 45)."""

import django.db.models.deletion
from django.db import migrations, models

from cad.migration_ops import covered_index_drop


class Migration(migrations.Migration):
    atomic = False  # DROP INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("incidents", "0013_response_bcu_index_covered"),
        ("resources", "0012_assignment_and_status_indexes_covered"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                covered_index_drop(
                    "resources_partnerincident",
                    "resources_partnerincident_partner_id_34c488a4",
                    "partner_id",
                ),
                covered_index_drop(
                    "resources_partnershare",
                    "resources_partnershare_incident_id_390f8f97",
                    "incident_id",
                ),
                covered_index_drop(
                    "resources_ringfence",
                    "resources_ringfence_operation_id_6f8228d4",
                    "operation_id",
                ),
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="partnerincident",
                    name="partner",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="incidents",
                        to="resources.partneragency",
                    ),
                ),
                migrations.AlterField(
                    model_name="partnershare",
                    name="incident",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="partner_shares",
                        to="incidents.incident",
                    ),
                ),
                migrations.AlterField(
                    model_name="ringfence",
                    name="operation",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="ring_fences",
                        to="incidents.operation",
                    ),
                ),
            ],
        ),
    ]
