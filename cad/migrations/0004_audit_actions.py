"""Audit actions for the rest of DPA 2018 s.62, the incident index, and TRUNCATE refused."""

import django.db.models.fields.json
from django.db import migrations, models

from cad.audit.append_only import truncate_guard_operation


class Migration(migrations.Migration):
    dependencies = [("cad", "0003_roles")]

    operations = [
        migrations.AlterField(
            model_name="auditevent",
            name="action",
            field=models.CharField(
                choices=[
                    ("create", "Create"),
                    ("update", "Update"),
                    ("delete", "Delete"),
                    ("read_personal", "read personal data"),
                    ("login", "Login"),
                    ("override", "Override"),
                    ("acknowledge", "Acknowledge"),
                    ("disclose", "disclose (export)"),
                    ("combine", "combine with other records"),
                    ("erase", "erase personal data"),
                ],
                max_length=20,
            ),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(
                django.db.models.fields.json.KeyTextTransform("incident", "changes"),
                name="audit_incident_ref_idx",
            ),
        ),
        truncate_guard_operation("cad_auditevent"),
        truncate_guard_operation("cad_event"),
    ]
