# The table now belongs to `cad` (cad/migrations/0006): forget it here, keep it in the database.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('incidents', '0005_retention'),
        ('cad', '0006_idempotencykey'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name='IdempotencyKey')]
        ),
    ]
