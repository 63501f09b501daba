"""The recovery codes' index on `user_id` alone, which recovery_user_used_idx (user, used_at)
already serves (docs/benchmarks.md, stop 45)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from cad.migration_ops import covered_index_drop


class Migration(migrations.Migration):
    atomic = False  # DROP INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("cad", "0015_user_indexes_covered"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                covered_index_drop(
                    "cad_recoverycode", "cad_recoverycode_user_id_8cfb5e90", "user_id"
                ),
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="recoverycode",
                    name="user",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="recovery_codes",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
        ),
    ]
