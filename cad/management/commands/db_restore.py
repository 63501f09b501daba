"""`manage.py db_restore FILE --into NAME`: restore a db_backup dump into a new database."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from cad.ops.backup import BackupError, restore


class Command(BaseCommand):
    help = (
        "Create database NAME on the configured server and restore FILE into it (one "
        "transaction), then check the event sequence and the audit trail. Refuses an existing "
        "database. Point DATABASE_URL at NAME afterwards to run on it."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="a dump written by db_backup")
        parser.add_argument("--into", required=True, help="name of the new database")

    def handle(self, *args, file: str, into: str, **options):
        try:
            found = restore(Path(file), into=into)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"restored into {into}: {found['events']} events (last seq {found['last_seq']}), "
            f"{found['audit_events']} audit events; checks passed"
        )
