"""Eight indexes on a foreign key alone that an index or unique constraint beginning with the same
column already serves: each roster day, shift, assignment and skill row written paid for an
entry in both (docs/benchmarks.md, stop 45)."""

from django.db import migrations, models

from cad.migration_ops import foreign_key_index_dropped


class Migration(migrations.Migration):
    atomic = False  # DROP INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("cad", "0016_recovery_code_index_covered"),
        ("duties", "0005_simulationrun"),
    ]

    operations = [
        foreign_key_index_dropped(
            "officer",
            "bcu",
            models.ForeignKey(
                db_index=False, on_delete=models.PROTECT, related_name="officers", to="cad.bcu"
            ),
            table="duties_officer",
            index="duties_officer_bcu_id_a586d42f",
        ),
        foreign_key_index_dropped(
            "officerskill",
            "officer",
            models.ForeignKey(
                db_index=False,
                on_delete=models.CASCADE,
                related_name="officer_skills",
                to="duties.officer",
            ),
            table="duties_officerskill",
            index="duties_officerskill_officer_id_e12b98ff",
        ),
        foreign_key_index_dropped(
            "restdaycancellation",
            "officer",
            models.ForeignKey(
                db_index=False,
                on_delete=models.PROTECT,
                related_name="cancelled_rest",
                to="duties.officer",
            ),
            table="duties_restdaycancellation",
            index="duties_restdaycancellation_officer_id_675783e3",
        ),
        foreign_key_index_dropped(
            "rosterday",
            "officer",
            models.ForeignKey(
                db_index=False,
                on_delete=models.CASCADE,
                related_name="roster_days",
                to="duties.officer",
            ),
            table="duties_rosterday",
            index="duties_rosterday_officer_id_83e75b2c",
        ),
        foreign_key_index_dropped(
            "shift",
            "bcu",
            models.ForeignKey(
                db_index=False, on_delete=models.PROTECT, related_name="shifts", to="cad.bcu"
            ),
            table="duties_shift",
            index="duties_shift_bcu_id_f575d144",
        ),
        foreign_key_index_dropped(
            "shiftassignment",
            "shift",
            models.ForeignKey(
                db_index=False,
                on_delete=models.CASCADE,
                related_name="assignments",
                to="duties.shift",
            ),
            table="duties_shiftassignment",
            index="duties_shiftassignment_shift_id_ee4b844a",
        ),
        foreign_key_index_dropped(
            "shiftskillrequirement",
            "shift",
            models.ForeignKey(
                db_index=False,
                on_delete=models.CASCADE,
                related_name="required_skills",
                to="duties.shift",
            ),
            table="duties_shiftskillrequirement",
            index="duties_shiftskillrequirement_shift_id_24fab712",
        ),
        foreign_key_index_dropped(
            "team",
            "bcu",
            models.ForeignKey(
                db_index=False, on_delete=models.PROTECT, related_name="teams", to="cad.bcu"
            ),
            table="duties_team",
            index="duties_team_bcu_id_260284d5",
        ),
    ]
