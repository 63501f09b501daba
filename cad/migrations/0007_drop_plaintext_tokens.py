"""API tokens move to django-rest-knox (digests only, with expiry): DRF's plain-text tokens go.

Existing tokens are dropped, not converted: their keys are stored in plain text, and a digest
made of them now would keep alive tokens that never expire and that anyone who ever read the
table may hold. Clients sign in again (POST /api/v1/auth/token/) and get an expiring token.
docs/decisions/0008-api-tokens.md.
"""

from django.db import migrations


def forget_authtoken(apps, schema_editor):
    # The app is no longer installed: drop its permissions and content type with it, so the
    # admin's permission lists no longer offer them.
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Permission.objects.filter(content_type__app_label="authtoken").delete()
    ContentType.objects.filter(app_label="authtoken").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("cad", "0006_idempotencykey"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [
        migrations.RunSQL(
            [
                "DROP TABLE IF EXISTS authtoken_token",
                # So that installing the app again (it should not be) would recreate the table.
                "DELETE FROM django_migrations WHERE app = 'authtoken'",
            ],
            reverse_sql=migrations.RunSQL.noop,
        ),
        migrations.RunPython(forget_authtoken, migrations.RunPython.noop),
    ]
