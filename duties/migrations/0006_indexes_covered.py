"""Eight indexes on a foreign key alone that an index or unique constraint beginning with the same
column already serves: each roster day, shift, assignment and skill row written paid for an
entry in both (docs/benchmarks.md, stop 45)."""

import django.db.models.deletion
from django.db import migrations, models

from cad.migration_ops import covered_index_drop


class Migration(migrations.Migration):
    atomic = False  # DROP INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("cad", "0016_recovery_code_index_covered"),
        ("duties", "0005_simulationrun"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                covered_index_drop("duties_officer", "duties_officer_bcu_id_a586d42f", "bcu_id"),
                covered_index_drop(
                    "duties_officerskill", "duties_officerskill_officer_id_e12b98ff", "officer_id"
                ),
                covered_index_drop(
                    "duties_restdaycancellation",
                    "duties_restdaycancellation_officer_id_675783e3",
                    "officer_id",
                ),
                covered_index_drop(
                    "duties_rosterday", "duties_rosterday_officer_id_83e75b2c", "officer_id"
                ),
                covered_index_drop("duties_shift", "duties_shift_bcu_id_f575d144", "bcu_id"),
                covered_index_drop(
                    "duties_shiftassignment", "duties_shiftassignment_shift_id_ee4b844a", "shift_id"
                ),
                covered_index_drop(
                    "duties_shiftskillrequirement",
                    "duties_shiftskillrequirement_shift_id_24fab712",
                    "shift_id",
                ),
                covered_index_drop("duties_team", "duties_team_bcu_id_260284d5", "bcu_id"),
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="officer",
                    name="bcu",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="officers",
                        to="cad.bcu",
                    ),
                ),
                migrations.AlterField(
                    model_name="officerskill",
                    name="officer",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="officer_skills",
                        to="duties.officer",
                    ),
                ),
                migrations.AlterField(
                    model_name="restdaycancellation",
                    name="officer",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="cancelled_rest",
                        to="duties.officer",
                    ),
                ),
                migrations.AlterField(
                    model_name="rosterday",
                    name="officer",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="roster_days",
                        to="duties.officer",
                    ),
                ),
                migrations.AlterField(
                    model_name="shift",
                    name="bcu",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="shifts",
                        to="cad.bcu",
                    ),
                ),
                migrations.AlterField(
                    model_name="shiftassignment",
                    name="shift",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="assignments",
                        to="duties.shift",
                    ),
                ),
                migrations.AlterField(
                    model_name="shiftskillrequirement",
                    name="shift",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="required_skills",
                        to="duties.shift",
                    ),
                ),
                migrations.AlterField(
                    model_name="team",
                    name="bcu",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="teams",
                        to="cad.bcu",
                    ),
                ),
            ],
        ),
    ]
