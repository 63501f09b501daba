"""`manage.py cad_user <username> --role <group> [--bcu <code>]`: create or update a user."""

import getpass
import os
import sys

from django.core.management.base import BaseCommand, CommandError

from cad.errors import DomainError
from cad.roles import ROLES
from cad.services import user_provision


class Command(BaseCommand):
    help = "Create or update a control-room user. Password from CAD_USER_PASSWORD or a prompt."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=ROLES)
        parser.add_argument("--bcu", help="BCU code to scope the user to; omit for all London")
        parser.add_argument(
            "--no-password", action="store_true", help="keep the current password (or none)"
        )

    def handle(self, *args, username, role, bcu, no_password, **options):
        password = None if no_password else os.environ.get("CAD_USER_PASSWORD")
        if password is None and not no_password:
            if not sys.stdin.isatty():
                raise CommandError("set CAD_USER_PASSWORD or run interactively for a prompt")
            password = getpass.getpass(f"Password for {username}: ")
            if password != getpass.getpass("Again: "):
                raise CommandError("passwords differ")
        try:
            user, created = user_provision(
                username=username, role=role, bcu_code=bcu, password=password
            )
        except DomainError as exc:
            raise CommandError(exc.detail) from exc
        verb = "created" if created else "updated"
        scope = bcu.upper() if bcu else "all London"
        self.stdout.write(f"{verb} {user.username}: role {role}, scope {scope}")
