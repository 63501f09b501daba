"""Retention: when callers' details were erased, the index the job reads, TRUNCATE refused."""

from django.db import migrations, models

from cad.audit.append_only import truncate_guard_operation


class Migration(migrations.Migration):
    dependencies = [("incidents", "0004_gazetteer_idempotency_call_address")]

    operations = [
        migrations.AddField(
            model_name="incident",
            name="personal_erased_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddIndex(
            model_name="incident",
            index=models.Index(fields=["status", "closed_at"], name="incident_retention_idx"),
        ),
        truncate_guard_operation("incidents_incidentlogentry"),
        truncate_guard_operation("incidents_gradechange"),
    ]
