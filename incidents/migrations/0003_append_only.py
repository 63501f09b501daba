from django.db import migrations

from cad.audit.append_only import append_only_operation


class Migration(migrations.Migration):
    dependencies = [("incidents", "0002_initial")]

    operations = [
        append_only_operation("incidents_incidentlogentry"),
        append_only_operation("incidents_gradechange"),
    ]
