"""`manage.py cad_user <username> --role <group> [--bcu <code>] [--collar <number>]`: create or
update a user; `--collar` (with `--role officer`) links the account to that roster officer."""

import getpass
import os
import sys

from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from cad.accounts.officer_links import officer_link
from cad.accounts.roles import OFFICER, ROLES
from cad.accounts.second_factor import device_reset
from cad.accounts.services import user_provision
from cad.errors import DomainError


class Command(BaseCommand):
    help = "Create or update a control-room user. Password from CAD_USER_PASSWORD or a prompt."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=ROLES)
        parser.add_argument("--bcu", help="BCU code to scope the user to; omit for all London")
        parser.add_argument(
            "--collar", help="with --role officer: the roster officer this account belongs to"
        )
        parser.add_argument(
            "--no-password", action="store_true", help="keep the current password (or none)"
        )
        parser.add_argument(
            "--reset-2fa",
            action="store_true",
            help="remove the user's authenticator (lost phone): they set up a new one at sign-in",
        )

    def handle(self, *args, username, role, bcu, collar, no_password, reset_2fa, **options):
        if collar and role != OFFICER:
            raise CommandError("--collar links an officer's account: use it with --role officer")
        password = None if no_password else os.environ.get("CAD_USER_PASSWORD")
        if password is None and not no_password:
            if not sys.stdin.isatty():
                raise CommandError("set CAD_USER_PASSWORD or run interactively for a prompt")
            password = getpass.getpass(f"Password for {username}: ")
            if password != getpass.getpass("Again: "):
                raise CommandError("passwords differ")
        if password:
            # The same rules as the admin's forms (settings.AUTH_PASSWORD_VALIDATORS).
            existing = User.objects.filter(username=username).first()
            try:
                validate_password(password, existing or User(username=username))
            except ValidationError as exc:
                raise CommandError(" ".join(exc.messages)) from exc
        try:
            # One transaction: an unknown collar number leaves no account half made.
            with transaction.atomic():
                user, created = user_provision(
                    username=username, role=role, bcu_code=bcu, password=password
                )
                linked = (
                    officer_link(user=user, collar=collar, by=None, source="cli") if collar else ""
                )
        except DomainError as exc:
            raise CommandError(exc.detail) from exc
        verb = "created" if created else "updated"
        scope = bcu.upper() if bcu else "all London"
        self.stdout.write(f"{verb} {user.username}: role {role}, scope {scope}")
        if linked:
            self.stdout.write(f"linked to {linked}")
        if reset_2fa:
            removed = device_reset(user=user, source="cli")
            self.stdout.write(
                "two-factor device removed: set up again at next sign-in"
                if removed
                else "no two-factor device to remove"
            )
