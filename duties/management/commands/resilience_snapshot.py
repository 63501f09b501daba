"""`manage.py resilience_snapshot [--dir DIR]`: write the self-contained HTML snapshot to work
from when the server can't be reached (duties/resilience/snapshot.py)."""

from django.conf import settings
from django.core.management.base import BaseCommand

from duties.resilience.snapshot import resilience_snapshot_write


class Command(BaseCommand):
    help = "Write the resilience snapshot (one self-contained HTML file) to --dir."

    def add_arguments(self, parser):
        parser.add_argument(
            "--dir",
            default=settings.RESILIENCE_SNAPSHOT_DIR,
            help="directory to write into (default RESILIENCE_SNAPSHOT_DIR)",
        )

    def handle(self, *args, **options):
        path = resilience_snapshot_write(directory=options["dir"])
        self.stdout.write(str(path))
