"""`manage.py rotate_totp_keys`: re-encrypt every TOTP secret under the newest key.

Rotation (docs/security.md): put a new key in front of TOTP_ENCRYPTION_KEYS and restart, run
this, then remove the old key and restart again.
"""

from django.core.management.base import BaseCommand, CommandError

from cad.accounts.second_factor import devices_reencrypt
from cad.accounts.totp_keys import InvalidToken


class Command(BaseCommand):
    help = "Re-encrypt every TOTP secret under the newest of TOTP_ENCRYPTION_KEYS."

    def handle(self, *args, **options):
        try:
            count = devices_reencrypt(source="cli")
        except InvalidToken as exc:
            raise CommandError(
                "a secret is encrypted under a key no longer in TOTP_ENCRYPTION_KEYS: put the "
                "old key back (after the new one) and run this again"
            ) from exc
        self.stdout.write(f"{count} TOTP secret(s) re-encrypted under the newest key")
