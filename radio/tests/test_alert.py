"""The delivery alert: a despatch message not delivered within RADIO_DELIVERY_ALERT_SECONDS
tells the desks once, through the incident log, the audit trail and a `radio.undelivered`
event on the incident's and the unit's BCU streams.

Time is controlled by moving the message's `received_at` (when it was queued) into the past,
never by sleeping.
"""

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.utils import timezone

from cad.live.events import events_since
from cad.models import BCU, AuditEvent, Event
from incidents.models import IncidentLogEntry
from radio import services, tasks
from radio.models import RadioMessage
from resources.despatch import assignment_clear, assignment_create
from tests.factories import make_incident, make_unit

State = RadioMessage.State
ALERT = "radio.undelivered"


@pytest.fixture
def job(geography, cast, settings, queued, django_capture_on_commit_callbacks):
    """A unit from Brixton (BCU AS) sent across the border to Camden (BCU CN); a third BCU
    (NW) has nothing to do with it."""
    settings.RADIO_DELIVERY_ALERT_SECONDS = 60
    BCU.objects.create(code="NW", name="North West")
    desk = cast.despatcher_all
    unit = make_unit(geography["brixton"], callsign="AS07")
    incident = make_incident(desk, grade="I", summary="fight outside pub")
    # Committed, so the send task is queued for the despatch message the assign wrote.
    with django_capture_on_commit_callbacks(execute=True):
        assignment = assignment_create(incident=incident, unit=unit, by=desk, source="test")
    message = RadioMessage.objects.get(assignment=assignment, direction="out")
    return {"desk": desk, "gateway": cast.gateway, "unit": unit,
            "incident": incident, "assignment": assignment, "message": message}  # fmt: skip


def queued_ago(message: RadioMessage, seconds: float) -> None:
    RadioMessage.objects.filter(pk=message.pk).update(
        received_at=timezone.now() - timedelta(seconds=seconds)
    )


@pytest.fixture
def alerts(captured_events) -> Callable[[], list[Event]]:
    """The undelivered-despatch alerts the test raised, oldest first."""
    return lambda: captured_events.of(ALERT)


def test_a_message_undelivered_after_the_threshold_alerts_once(job, queued, alerts):
    message = job["message"]
    services.radio_message_send(message_id=message.pk)  # the default adapter: sent, no receipt
    queued_ago(message, 61)

    tasks.alert_undelivered_radio_messages()

    message.refresh_from_db()
    assert message.state == State.SENT and message.alerted_at is not None
    (event,) = alerts()
    assert event.data["message"] == message.pk and event.data["state"] == "sent"
    assert event.data["unit"] == "AS07" and event.data["reference"] == job["incident"].reference
    assert event.data["incident"] == job["incident"].pk and event.data["age_s"] >= 61
    assert IncidentLogEntry.objects.filter(
        incident=job["incident"], text__startswith="Despatch message to AS07 not delivered"
    ).count() == 1  # fmt: skip
    assert AuditEvent.objects.filter(
        object_type="radio.radiomessage", object_id=str(message.pk), changes__has_key="alerted_at"
    ).count() == 1  # fmt: skip

    # Later runs (the beat every 10 s, the sweeper) do not alert it again.
    tasks.alert_undelivered_radio_messages()
    tasks.apply_pending_radio_messages()
    assert len(alerts()) == 1


def test_no_alert_before_the_threshold(job, queued, alerts):
    services.radio_message_send(message_id=job["message"].pk)
    queued_ago(job["message"], 59)
    assert services.radio_messages_alert_undelivered() == 0
    assert alerts() == []


def test_a_delivered_message_never_alerts(job, queued, alerts):
    message = job["message"]
    services.radio_message_send(message_id=message.pk)
    services.radio_message_delivery_record(ref=message.pk, state="delivered", by=job["gateway"])
    queued_ago(message, 3600)
    assert services.radio_messages_alert_undelivered() == 0
    # Nor when a receipt lands between the sweep's query and its claim.
    assert services.radio_message_alert(message_id=message.pk) is False
    assert alerts() == []


@pytest.mark.parametrize("stuck", [State.QUEUED, State.FAILED])
def test_queued_and_failed_messages_alert_too(job, queued, stuck, alerts):
    message = job["message"]
    if stuck == State.FAILED:
        RadioMessage.objects.filter(pk=message.pk).update(state=State.FAILED)
    queued_ago(message, 120)
    assert services.radio_messages_alert_undelivered() == 1
    assert alerts()[0].data["state"] == stuck


def test_the_alert_reaches_the_incidents_and_the_units_desks_only(job, queued, alerts):
    queued_ago(job["message"], 61)
    before = Event.objects.order_by("-seq").values_list("seq", flat=True).first()
    services.radio_messages_alert_undelivered()
    (event,) = alerts()
    assert set(event.bcu.split(",")) == {"CN", "AS"}
    assert (event.data["incident_bcu"], event.data["unit_bcu"]) == ("CN", "AS")
    for desk, hears in (("CN", True), ("AS", True), ("NW", False)):
        seen = [e["type"] for e in events_since(before, bcu=desk, limit=100)]
        assert (ALERT in seen) is hears, desk
    assert ALERT in [e["type"] for e in events_since(before, bcu=None, limit=100)]  # central


def test_a_cleared_job_or_a_resent_message_does_not_alert_the_old_one(
    job, queued, settings, alerts
):
    settings.RADIO_GATEWAY_ADAPTER = "radio.tests.test_outbound.RefusingAdapter"
    first = job["message"]
    services.radio_message_send(message_id=first.pk)  # failed: the despatcher re-sends
    second = services.despatch_message_queue(assignment=job["assignment"], by=job["desk"])
    queued_ago(first, 300)
    assert services.radio_messages_alert_undelivered() == 0  # the new one has its own clock
    queued_ago(second, 61)
    assert services.radio_messages_alert_undelivered() == 1
    assert alerts()[0].data["message"] == second.pk

    assignment_clear(incident=job["incident"], unit=job["unit"], by=job["desk"], source="test")
    RadioMessage.objects.filter(pk=second.pk).update(alerted_at=None)
    assert services.radio_messages_alert_undelivered() == 0  # the unit is off the job


def test_without_beat_the_radio_sweep_command_raises_it(job, queued, alerts):
    # The embedded default runs no Celery beat; `manage.py radio_sweep` does its jobs.
    from django.core.management import call_command

    queued_ago(job["message"], 61)
    call_command("radio_sweep", "--once")
    assert len(alerts()) == 1
