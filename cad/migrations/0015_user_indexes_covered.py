"""Two indexes on `user_id` that an index beginning with `user_id` already serves: the
idempotency key's unique (user, key) and the audit trail's audit_user_at_idx (user, at).
Every create wrote an entry in each, and the idempotency store's plan, fixed while the table was
young, walked the separate one through all of the user's keys (docs/benchmarks.md, stop 45)."""

from django.conf import settings
from django.db import migrations, models

from cad.migration_ops import covered_index_drop


class Migration(migrations.Migration):
    atomic = False  # DROP INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("cad", "0014_event_numbered_at_commit"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                covered_index_drop("cad_auditevent", "cad_auditevent_user_id_e3d17edc", "user_id"),
                covered_index_drop(
                    "incidents_idempotencykey", "incidents_idempotencykey_user_id_bbf9ef2d",
                    "user_id",
                ),  # fmt: skip
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="auditevent",
                    name="user",
                    field=models.ForeignKey(
                        blank=True, db_index=False, null=True,
                        on_delete=models.deletion.PROTECT, to=settings.AUTH_USER_MODEL,
                    ),  # fmt: skip
                ),
                migrations.AlterField(
                    model_name="idempotencykey",
                    name="user",
                    field=models.ForeignKey(
                        db_index=False, on_delete=models.deletion.CASCADE, related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),  # fmt: skip
                ),
            ],
        ),
    ]
