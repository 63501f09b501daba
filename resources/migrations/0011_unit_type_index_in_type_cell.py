"""The unit type's own index goes: `unit_type_cell_idx` (type, lat_cell, lon_cell; 0010) leads
with the type and serves every lookup by it, and each index is written on every update that is
not HOT, which is every fix that moves a unit into another grid square (decision 0002).

Django's AlterField of a foreign key would drop and re-add the constraint, checking every unit
under a lock that stops the radio's writes, so only the index is dropped here and Django's state
is changed separately. The units table is small (thousands of rows): a plain DROP INDEX.
"""

import django.db.models.deletion
from django.db import migrations, models

INDEX = "resources_unit_type_id_35eb0373"


class Migration(migrations.Migration):

    dependencies = [
        ("resources", "0010_unit_type_cell_index"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{INDEX}"',
                    reverse_sql=f'CREATE INDEX IF NOT EXISTS "{INDEX}" '
                    'ON "resources_unit" ("type_id")',
                ),
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="unit",
                    name="type",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="units",
                        to="resources.unittype",
                    ),
                ),
            ],
        ),
    ]
