# The Idempotency-Key table moves from `incidents` to `cad` (shared API plumbing) without a copy:
# state only here, the table keeps its name.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('cad', '0005_login_security'),
        ('incidents', '0005_retention'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[migrations.CreateModel(
            name='IdempotencyKey',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('key', models.CharField(max_length=200)),
                ('fingerprint', models.CharField(help_text='sha256 of method, path and body', max_length=64)),
                ('status_code', models.PositiveSmallIntegerField(default=0)),
                ('body', models.JSONField(blank=True, default=dict)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'db_table': 'incidents_idempotencykey',
                'constraints': [models.UniqueConstraint(fields=('user', 'key'), name='one_idempotency_key_per_user')],
            },
        ),
        ])
    ]
