"""Create the five role groups with their model permissions (table in cad/accounts/roles.py)."""

from django.db import migrations


def create_roles(apps, schema_editor):
    from cad.accounts.roles import apply_role_permissions

    apply_role_permissions(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("cad", "0002_append_only_and_counter"),
        ("incidents", "0003_append_only"),
        ("resources", "0002_append_only"),
        ("duties", "0002_initial"),
        ("radio", "0002_national_status_codes"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, migrations.RunPython.noop)]
