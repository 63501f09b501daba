"""Three indexes on a foreign key alone that a unique constraint beginning with the same column
already serves: partner shares, partner incidents and ring fences (docs/benchmarks.md,
stop 45)."""

from django.db import migrations, models

from cad.migration_ops import foreign_key_index_dropped


class Migration(migrations.Migration):
    atomic = False  # DROP INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("incidents", "0013_response_bcu_index_covered"),
        ("resources", "0012_assignment_and_status_indexes_covered"),
    ]

    operations = [
        foreign_key_index_dropped(
            "partnerincident",
            "partner",
            models.ForeignKey(
                db_index=False,
                on_delete=models.PROTECT,
                related_name="incidents",
                to="resources.partneragency",
            ),
            table="resources_partnerincident",
            index="resources_partnerincident_partner_id_34c488a4",
        ),
        foreign_key_index_dropped(
            "partnershare",
            "incident",
            models.ForeignKey(
                db_index=False,
                on_delete=models.PROTECT,
                related_name="partner_shares",
                to="incidents.incident",
            ),
            table="resources_partnershare",
            index="resources_partnershare_incident_id_390f8f97",
        ),
        foreign_key_index_dropped(
            "ringfence",
            "operation",
            models.ForeignKey(
                db_index=False,
                on_delete=models.PROTECT,
                related_name="ring_fences",
                to="incidents.operation",
            ),
            table="resources_ringfence",
            index="resources_ringfence_operation_id_6f8228d4",
        ),
    ]
