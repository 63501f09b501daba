"""Which sending task a message goes to: a caller's text while police are on the way to one,
a message about an online report to the other (each task has its own queue, cad/settings.py),
both when it is first queued and when the sweep queues it again."""

from datetime import date, timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from incidents.models import Call
from incidents.public import texts
from incidents.public.models import CallerMessage, MessageKind, OnlineReport
from tests.factories import make_incident


@pytest.fixture
def handed(monkeypatch):
    """{"call": [...], "report": [...]}: the message ids each sending task was given."""
    given: dict[str, list[int]] = {"call": [], "report": []}
    monkeypatch.setattr(texts, "_senders", [given["call"].append, given["report"].append])
    return given


def test_each_message_goes_to_its_own_task_and_the_sweep_keeps_to_it(
    handed, cast, django_capture_on_commit_callbacks
):
    incident = make_incident(cast.handler, caller_phone="07700 900123")
    Call.objects.filter(incident=incident).update(updates_consent=True)
    report = OnlineReport.objects.create(
        reference="WEB 0001/05Dec26", reference_date=date(2026, 12, 5), reference_number=1,
        status_token_digest="x" * 64, category="theft", description="My bicycle was taken.",
        reporter_email="reporter@example.org", updates_by="email", received_at=timezone.now(),
    )  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        acknowledgement = texts.report_message_queue(report=report, kind=MessageKind.ACKNOWLEDGED)
        assert texts.caller_texts_queue(incident_id=incident.pk, kind=MessageKind.DESPATCHED) == 1
    despatched = CallerMessage.objects.get(kind=MessageKind.DESPATCHED)
    assert acknowledgement is not None
    assert handed == {"call": [despatched.pk], "report": [acknowledgement.pk]}

    # Neither task ran (their ids sit in the lists above): the sweep queues each again, on its
    # own task.
    handed["call"].clear()
    handed["report"].clear()
    later = timezone.now() + timedelta(minutes=10)
    assert texts.caller_messages_requeue_stale(now=later) == 2
    assert handed == {"call": [despatched.pk], "report": [acknowledgement.pk]}
