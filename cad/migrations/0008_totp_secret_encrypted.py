"""TOTP secrets encrypted at rest (cad/accounts/totp_keys.py): existing plain secrets are encrypted here
under the newest of TOTP_ENCRYPTION_KEYS; the plain column goes in the next migration (its own
transaction: PostgreSQL will not alter a table with row changes pending in the same one)."""

from cryptography.fernet import Fernet, MultiFernet
from django.conf import settings
from django.db import migrations, models


def _box() -> MultiFernet:
    # Built here rather than imported, so this migration does not change when the app does.
    return MultiFernet([Fernet(key.encode()) for key in settings.TOTP_ENCRYPTION_KEYS])


def encrypt_secrets(apps, schema_editor):
    TOTPDevice = apps.get_model("cad", "TOTPDevice")
    box = _box()
    for device in TOTPDevice.objects.filter(secret_encrypted=""):
        device.secret_encrypted = box.encrypt(device.secret.encode("ascii")).decode("ascii")
        device.save(update_fields=["secret_encrypted"])


def decrypt_secrets(apps, schema_editor):
    TOTPDevice = apps.get_model("cad", "TOTPDevice")
    box = _box()
    for device in TOTPDevice.objects.exclude(secret_encrypted=""):
        device.secret = box.decrypt(device.secret_encrypted.encode("ascii")).decode("ascii")
        device.save(update_fields=["secret"])


class Migration(migrations.Migration):
    dependencies = [("cad", "0007_drop_plaintext_tokens")]

    operations = [
        migrations.AddField(
            model_name="totpdevice",
            name="secret_encrypted",
            field=models.TextField(default="", help_text="the base32 secret, Fernet-encrypted"),
            preserve_default=False,
        ),
        migrations.RunPython(encrypt_secrets, decrypt_secrets),
    ]
