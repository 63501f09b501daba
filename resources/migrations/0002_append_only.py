from django.db import migrations

from cad.audit.append_only import append_only_operation


class Migration(migrations.Migration):
    dependencies = [("resources", "0001_initial")]

    operations = [append_only_operation("resources_unitstatuschange")]
