"""`manage.py radio_sweep`: the radio's periodic jobs where no Celery beat runs.

    manage.py radio_sweep [--every 10] [--once]

With REDIS_URL set, Celery beat runs these (CELERY_BEAT_SCHEDULE: `radio-sweep` every 30 s,
`radio-undelivered-alert` every 10 s). The embedded default has no beat, so nothing would apply
a message whose in-process task failed, queue a despatch message whose after-commit reaction was
lost, or raise the 60 s delivery alert; this loop does all three, in-process, until stopped.
Every step claims or locks its rows (conditional UPDATEs, row locks), so running it beside beat,
or twice, does no harm.
"""

import signal
import threading

from django.core.management.base import BaseCommand
from django.db import close_old_connections

from cad.ops.heartbeats import BEAT, heartbeat_stamp
from cad.tasks import write_board_checkpoint
from incidents import tasks as incident_tasks
from radio import tasks
from resources.partners import tasks as partner_tasks


class Command(BaseCommand):
    help = "Apply stranded radio messages and alert on undelivered despatch messages, repeatedly."

    def add_arguments(self, parser):
        parser.add_argument("--every", type=float, default=10.0, help="seconds between runs")
        parser.add_argument("--once", action="store_true", help="run once and exit")

    def handle(self, *args, every: float, once: bool, **options):
        stop = threading.Event()
        if not once:
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: stop.set())
        while True:
            # Called directly (not .delay()): this process is the worker here.
            tasks.apply_pending_radio_messages()
            write_board_checkpoint()  # replay's checkpoints, when one is due (cad/live/replay.py)
            # Issue 15, also beat's work: the untriaged online-report alert, lost texts.
            incident_tasks.alert_overdue_online_reports()
            incident_tasks.requeue_caller_messages()
            # Issue 18, beat's too: the alert on a document a partner has not acknowledged.
            partner_tasks.alert_unacknowledged_partner_deliveries()
            partner_tasks.requeue_partner_deliveries()  # and a delivery whose task was lost
            # Beat's stand-in: its heartbeat is beat's (/healthz/detail).
            heartbeat_stamp(name=BEAT, detail={"by": "radio_sweep"})
            if once or stop.wait(every):
                return
            close_old_connections()  # a long-lived loop: drop a connection the server closed
