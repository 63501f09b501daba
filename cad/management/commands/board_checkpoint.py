"""`manage.py board_checkpoint`: write a replay checkpoint of the board now (docs/replay.md).

Beat writes them every few minutes; this is the on-demand one (after a bulk import of events,
or before a training exercise whose start a trainer will want to replay).
"""

from django.core.management.base import BaseCommand

from cad.live.replay import board_checkpoint_create


class Command(BaseCommand):
    help = "Write a checkpoint of the board for replay."

    def handle(self, *args, **options):
        checkpoint = board_checkpoint_create()
        self.stdout.write(f"checkpoint at event #{checkpoint.seq}")
