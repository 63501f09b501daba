"""The recovery codes' index on `user_id` alone, which recovery_user_used_idx (user, used_at)
already serves (docs/benchmarks.md, stop 45)."""

from django.conf import settings
from django.db import migrations, models

from cad.migration_ops import foreign_key_index_dropped


class Migration(migrations.Migration):
    atomic = False  # DROP INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("cad", "0015_user_indexes_covered"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        foreign_key_index_dropped(
            "recoverycode",
            "user",
            models.ForeignKey(
                db_index=False,
                on_delete=models.CASCADE,
                related_name="recovery_codes",
                to=settings.AUTH_USER_MODEL,
            ),
            table="cad_recoverycode",
            index="cad_recoverycode_user_id_8cfb5e90",
        ),
    ]
