from django.db import migrations


def load_defaults(apps, schema_editor):
    from radio.models import NATIONAL_STATUS_CODES

    Mapping = apps.get_model("radio", "StatusCodeMapping")
    for code, description, status, deployable, emergency in NATIONAL_STATUS_CODES:
        Mapping.objects.get_or_create(
            code=code,
            defaults={
                "description": description,
                "status": status,
                "deployable": deployable,
                "emergency": emergency,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("radio", "0001_initial")]

    operations = [migrations.RunPython(load_defaults, migrations.RunPython.noop)]
