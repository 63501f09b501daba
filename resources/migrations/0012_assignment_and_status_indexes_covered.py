"""Two indexes that another index beginning with the same column already serves: the
assignment's `incident_id` (assignment_incident_idx, (incident, cleared_at)), written by every
despatch, and the status change's `unit_id` (unit_status_change_idx, (unit, at)), written by
every status a unit sends (docs/benchmarks.md, stop 45)."""

from django.db import migrations, models

from cad.migration_ops import foreign_key_index_dropped


class Migration(migrations.Migration):
    atomic = False  # DROP INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("incidents", "0013_response_bcu_index_covered"),
        ("resources", "0011_unit_type_index_in_type_cell"),
    ]

    operations = [
        foreign_key_index_dropped(
            "assignment",
            "incident",
            models.ForeignKey(
                db_index=False,
                on_delete=models.PROTECT,
                related_name="assignments",
                to="incidents.incident",
            ),
            table="resources_assignment",
            index="resources_assignment_incident_id_5a19a11d",
        ),
        foreign_key_index_dropped(
            "unitstatuschange",
            "unit",
            models.ForeignKey(
                db_index=False,
                on_delete=models.PROTECT,
                related_name="status_changes",
                to="resources.unit",
            ),
            table="resources_unitstatuschange",
            index="resources_unitstatuschange_unit_id_fb319015",
        ),
    ]
