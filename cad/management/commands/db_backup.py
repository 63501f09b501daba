"""`manage.py db_backup FILE`: dump the PostgreSQL database (pg_dump, custom format)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from cad.ops.backup import BackupError, backup


class Command(BaseCommand):
    help = "Dump the database to FILE with pg_dump's custom format (restore: db_restore)."

    def add_arguments(self, parser):
        parser.add_argument("file", help="where to write the dump, e.g. backups/beacon.dump")

    def handle(self, *args, file: str, **options):
        try:
            path = backup(Path(file))
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"backup written: {path} ({path.stat().st_size:,} bytes)")
