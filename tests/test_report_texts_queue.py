"""A burst of online reports does not hold up the text to a caller whose police are on the way.

Each report asks for an acknowledgement by text or email. They used to share the `texts` queue
with the despatch, arrival and close texts, so a burst of reports delayed those by as long as
its backlog took to drain (docs/benchmarks.md, "Public contact (issue 15)"). Messages about
reports now go on `report_texts`, and a worker taking both queues takes from each in turn.

Real parts: the messages are queued through Redis (a private server, so no other test's tasks
reach this worker) and sent by a real `celery worker -Q texts,report_texts` on the test
database, with Notify's log backend.
"""

import os
import subprocess
import sys
import time
from datetime import date

import pytest
from django.utils import timezone
from kombu import Connection

from cad.celery import app as celery_app
from incidents.public.models import CallerMessage, MessageKind, MessageStatus, OnlineReport
from incidents.tasks import send_caller_message, send_report_message
from tests.factories import make_incident
from tests.servers import ROOT, subprocess_database_url

BACKLOG = 300


def _acknowledgements(count: int) -> list[CallerMessage]:
    now = timezone.now()
    messages = []
    for n in range(1, count + 1):
        report = OnlineReport.objects.create(
            reference=f"WEB {n:04d}/05Dec26", reference_date=date(2026, 12, 5),
            reference_number=n, status_token_digest="x" * 64, category="theft",
            description="My bicycle was taken.", reporter_email=f"reporter{n}@example.org",
            updates_by="email", received_at=now,
        )  # fmt: skip
        messages.append(CallerMessage.objects.create(
            kind=MessageKind.ACKNOWLEDGED, channel="email", report=report,
            to_masked="r***@example.org", subject="Your report", body="We have your report.",
            queued_at=now,
        ))  # fmt: skip
    return messages


def _despatch_text(cast) -> CallerMessage:
    incident = make_incident(cast.handler, caller_phone="07700 900123")
    return CallerMessage.objects.create(
        kind=MessageKind.DESPATCHED, channel="sms", incident=incident,
        call=incident.calls.get(), to_masked="07*** ***123", body="Police are on the way.",
        queued_at=timezone.now(),
    )  # fmt: skip


def _sent(**filters) -> int:
    return CallerMessage.objects.filter(sent_at__isnull=False, **filters).count()


@pytest.mark.django_db(transaction=True)
def test_a_despatch_text_does_not_wait_behind_a_backlog_of_report_acknowledgements(
    postgres, private_broker, cast, geography
):
    acknowledgements = _acknowledgements(BACKLOG)
    despatch = _despatch_text(cast)
    assert not celery_app.conf.task_always_eager
    env = {
        **os.environ, "NOTIFY_BACKEND": "log", "REDIS_URL": private_broker,
        "DATABASE_URL": subprocess_database_url(),
    }  # fmt: skip
    options = celery_app.conf.broker_transport_options  # the key prefix the worker takes under
    with Connection(private_broker, transport_options=options) as connection:
        # A burst of reports: their acknowledgements queued, and the worker busy with them.
        for message in acknowledgements:
            send_report_message.apply_async(args=[message.pk], connection=connection)
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "cad", "worker", "-Q", "texts,report_texts",
             "-P", "solo", "-n", f"texts-{os.getpid()}@%h", "--without-gossip",
             "--without-mingle", "-l", "warning"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            _wait(worker, lambda: _sent() >= 20, "the worker to start on the backlog")
            # Then a unit is sent to a caller who asked for texts.
            queued = timezone.now()
            send_caller_message.apply_async(args=[despatch.pk], connection=connection)
            _wait(worker, lambda: _sent() == BACKLOG + 1, "every message to be sent")
        finally:
            if worker.poll() is None:
                worker.terminate()
                worker.wait(timeout=30)

    despatch.refresh_from_db()
    assert despatch.status == MessageStatus.SENT
    acknowledged = {"kind": MessageKind.ACKNOWLEDGED, "sent_at__gt": queued}
    backlog = _sent(**acknowledged)
    ahead = _sent(**acknowledged, sent_at__lt=despatch.sent_at)
    # When the despatch text was queued, a long backlog was still waiting...
    assert backlog > BACKLOG // 2, f"only {backlog} acknowledgements were left to wait behind"
    # ...and it went out after no more than the worker had already taken (a solo worker
    # prefetches four) and a turn of the reports' queue: not after the backlog.
    assert ahead <= 8, f"the despatch text waited behind {ahead} of {backlog} acknowledgements"


def _wait(worker: subprocess.Popen, done, what: str) -> None:
    deadline = time.monotonic() + 120
    while not done():
        if time.monotonic() > deadline or worker.poll() is not None:
            worker.terminate()
            pytest.fail(f"waiting for {what}: {worker.communicate()[1][-3000:]}")
        time.sleep(0.05)
