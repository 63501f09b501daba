"""Two indexes on `user_id` that an index beginning with `user_id` already serves: the
idempotency key's unique (user, key) and the audit trail's audit_user_at_idx (user, at).
Every create wrote an entry in each, and the idempotency store's plan, fixed while the table was
young, walked the separate one through all of the user's keys (docs/benchmarks.md, stop 45)."""

from django.conf import settings
from django.db import migrations, models

from cad.migration_ops import foreign_key_index_dropped


class Migration(migrations.Migration):
    atomic = False  # DROP INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("cad", "0014_event_numbered_at_commit"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        foreign_key_index_dropped(
            "auditevent",
            "user",
            models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=models.PROTECT,
                to=settings.AUTH_USER_MODEL,
            ),
            table="cad_auditevent",
            index="cad_auditevent_user_id_e3d17edc",
        ),
        foreign_key_index_dropped(
            "idempotencykey",
            "user",
            models.ForeignKey(
                db_index=False,
                on_delete=models.CASCADE,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
            table="incidents_idempotencykey",
            index="incidents_idempotencykey_user_id_bbf9ef2d",
        ),
    ]
