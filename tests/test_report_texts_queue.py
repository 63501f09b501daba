"""A burst of online reports does not hold up the text to a caller whose police are on the way.

Each report asks for an acknowledgement by text or email. They used to share the `texts` queue
with the despatch, arrival and close texts, so a burst of reports delayed those by as long as
its backlog took to drain (docs/benchmarks.md, "Issue 15"). Messages about reports now go on
`report_texts`, and a worker taking both queues takes from each in turn.

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

BACKLOG = 60


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


@pytest.mark.django_db(transaction=True)
def test_a_despatch_text_is_not_sent_after_a_backlog_of_report_acknowledgements(
    postgres, private_broker, cast, geography
):
    acknowledgements = _acknowledgements(BACKLOG)
    despatch = _despatch_text(cast)
    assert not celery_app.conf.task_always_eager
    # The backlog is on the broker first, as after a burst of reports; then the despatch text.
    with Connection(private_broker) as connection:
        for message in acknowledgements:
            send_report_message.apply_async(args=[message.pk], connection=connection)
        send_caller_message.apply_async(args=[despatch.pk], connection=connection)

    env = {
        **os.environ, "NOTIFY_BACKEND": "log", "REDIS_URL": private_broker,
        "DATABASE_URL": subprocess_database_url(),
    }  # fmt: skip
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "cad", "worker", "-Q", "texts,report_texts",
         "-P", "solo", "-n", f"texts-{os.getpid()}@%h", "--without-gossip", "--without-mingle",
         "-l", "warning"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while CallerMessage.objects.filter(status=MessageStatus.QUEUED).exists():
            if time.monotonic() > deadline or worker.poll() is not None:
                worker.terminate()
                pytest.fail(f"the worker did not send them all: {worker.communicate()[1][-3000:]}")
            time.sleep(0.3)
    finally:
        if worker.poll() is None:
            worker.terminate()
            worker.wait(timeout=30)

    sent = list(CallerMessage.objects.order_by("sent_at", "id").values_list("id", "status"))
    assert {status for _, status in sent} == {MessageStatus.SENT}
    assert len(sent) == BACKLOG + 1
    before = [message_id for message_id, _ in sent].index(despatch.pk)
    # Taken in turn with the reports' queue: behind at most what the worker had already taken
    # (a solo worker prefetches four) and one turn of each queue, not behind all sixty.
    assert before <= 10, f"the despatch text was sent after {before} acknowledgements"
