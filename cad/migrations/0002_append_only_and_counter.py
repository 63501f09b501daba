from django.db import migrations

from cad.audit.append_only import append_only_operation


def create_counter(apps, schema_editor):
    apps.get_model("cad", "EventCounter").objects.get_or_create(id=1, defaults={"last_seq": 0})


class Migration(migrations.Migration):
    dependencies = [("cad", "0001_initial")]

    operations = [
        append_only_operation("cad_auditevent"),
        append_only_operation("cad_event"),
        migrations.RunPython(create_counter, migrations.RunPython.noop),
    ]
