"""`manage.py unlock_login <username> [--address A]` or `--address A`: lift a sign-in lockout."""

from django.core.management.base import BaseCommand, CommandError

from cad.accounts.lockout import lockout_lift


class Command(BaseCommand):
    help = (
        "Lift a sign-in lockout early: a username's (from one address, with --address), or a "
        "whole address's (--address alone, after a password spray). Audited."
    )

    def add_arguments(self, parser):
        parser.add_argument("username", nargs="?", default="")
        parser.add_argument("--address", default="", help="the client address that is locked")

    def handle(self, *args, username, address, **options):
        if not username and not address:
            raise CommandError("name a username, --address, or both")
        cleared = lockout_lift(username=username, address=address, source="cli")
        who = " ".join(part for part in (username, f"from {address}" if address else "") if part)
        self.stdout.write(f"lockout lifted for {who}: {cleared} failure(s) cleared")
