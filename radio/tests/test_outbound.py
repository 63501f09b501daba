"""Outbound despatch messages: queue, adapter, retries, receipts, the assignment's state."""

from datetime import timedelta

import pytest
from django.utils import timezone

from radio import services, tasks
from radio.adapters import GatewayUnavailable, SendResult
from radio.models import RadioMessage
from radio.tests.conftest import api
from resources.despatch import assignment_clear, assignment_create
from resources.models import Assignment, Unit
from tests.factories import make_incident, make_unit

State = RadioMessage.State
URL = "/api/v1/radio/delivery/"


class DownAdapter:
    def send(self, message):
        raise GatewayUnavailable("connection refused")


class RefusingAdapter:
    def send(self, message):
        return SendResult("failed", note="unknown terminal")


@pytest.fixture
def job(world, queued, django_capture_on_commit_callbacks):
    incident = make_incident(world["desk"], grade="I", summary="fight outside pub")
    # Committed, so the send task is queued for the despatch message the assign wrote.
    with django_capture_on_commit_callbacks(execute=True):
        assignment = assignment_create(
            incident=incident, unit=world["unit"], by=world["desk"], source="test"
        )
    return {**world, "incident": incident, "assignment": assignment}


def _state(assignment) -> str:
    return Assignment.objects.get(pk=assignment.pk).message_state


def test_assigning_queues_the_message_and_shows_it_on_the_assignment(
    world, queued, django_capture_on_commit_callbacks, captured_events
):
    incident = make_incident(world["desk"], grade="I", summary="fight outside pub")
    with django_capture_on_commit_callbacks(execute=True):
        assignment = assignment_create(
            incident=incident, unit=world["unit"], by=world["desk"], source="test"
        )
    job = {**world, "incident": incident, "assignment": assignment}
    message = RadioMessage.objects.get(
        assignment=assignment, direction=RadioMessage.Direction.OUTBOUND
    )
    assert message.state == State.QUEUED and message.direction == RadioMessage.Direction.OUTBOUND
    assert message.issi == job["unit"].issi and message.kind == RadioMessage.Kind.DESPATCH
    assert job["incident"].reference in message.text and "1 High Street" in message.text
    assert message.raw["reference"] == job["incident"].reference
    assert _state(job["assignment"]) == "queued"
    assert queued["send"] == [message.pk]
    # The message is written in the assign's transaction: its desks hear of the assignment
    # and the queued message in one event, not a second one from a transaction of its own.
    assert len(captured_events.of("incident.updated")) == 1


def test_queue_twice_queues_one_message(job, queued):
    first = services.despatch_message_queue(assignment=job["assignment"], by=job["desk"])
    again = services.despatch_message_queue(assignment=job["assignment"], by=job["desk"])
    assert first.pk == again.pk
    assert RadioMessage.objects.filter(direction=RadioMessage.Direction.OUTBOUND).count() == 1


def test_default_adapter_marks_it_sent_never_delivered(job, queued):
    message = services.despatch_message_queue(assignment=job["assignment"], by=job["desk"])
    tasks.send_outbound(message.pk)
    message.refresh_from_db()
    assert message.state == State.SENT and message.sent_at is not None
    assert _state(job["assignment"]) == "sent"
    # Running the task again (a redelivered broker message) sends nothing more.
    assert services.radio_message_send(message_id=message.pk) is None


def test_gateway_down_keeps_it_queued_then_fails_it(job, queued, settings):
    settings.RADIO_GATEWAY_ADAPTER = "radio.tests.test_outbound.DownAdapter"
    message = services.despatch_message_queue(assignment=job["assignment"], by=job["desk"])
    with pytest.raises(GatewayUnavailable):
        services.radio_message_send(message_id=message.pk)
    message.refresh_from_db()
    assert message.state == State.QUEUED
    assert services.radio_message_send(message_id=message.pk, give_up=True) == State.FAILED
    message.refresh_from_db()
    assert message.state == State.FAILED and "unavailable" in message.note
    assert _state(job["assignment"]) == "failed"


def test_the_task_retries_then_gives_up(job, queued, settings, monkeypatch):
    settings.RADIO_GATEWAY_ADAPTER = "radio.tests.test_outbound.DownAdapter"
    message = services.despatch_message_queue(assignment=job["assignment"], by=job["desk"])
    attempts = []
    real_send = services.radio_message_send

    def counting_send(**kwargs):
        attempts.append(kwargs["give_up"])
        return real_send(**kwargs)

    monkeypatch.setattr(services, "radio_message_send", counting_send)
    # Eager apply() runs each retry at once (it re-raises them unless told not to propagate).
    monkeypatch.setitem(tasks.send_outbound.app.conf, "task_eager_propagates", False)
    tasks.send_outbound.apply(args=[message.pk])
    message.refresh_from_db()
    # Every attempt but the last leaves it queued; the last gives up, so the despatcher sees
    # `failed` and passes the job by voice.
    assert attempts == [False] * tasks.SEND_RETRIES + [True]
    assert message.state == State.FAILED


def test_retries_back_off_exponentially(job, queued, settings, monkeypatch):
    settings.RADIO_GATEWAY_ADAPTER = "radio.tests.test_outbound.DownAdapter"
    message = services.despatch_message_queue(assignment=job["assignment"], by=job["desk"])
    countdowns = []
    real_retry = tasks.send_outbound.retry

    def recording_retry(*args, **kwargs):
        countdowns.append(kwargs["countdown"])
        return real_retry(*args, **kwargs)

    monkeypatch.setattr(tasks.send_outbound, "retry", recording_retry)
    monkeypatch.setitem(tasks.send_outbound.app.conf, "task_eager_propagates", False)
    tasks.send_outbound.apply(args=[message.pk])
    # Each wait doubles (1, 2, 4, 8, 16 s), so a gateway back within half a minute gets the
    # job with little delay, and one that stays down is not hammered.
    assert countdowns == [1, 2, 4, 8, 16]
    message.refresh_from_db()
    assert message.state == State.FAILED


def test_the_despatch_message_carries_the_warnings_near_the_incident(
    world, queued, django_capture_on_commit_callbacks
):
    from incidents.services import warning_marker_create

    desk = world["desk"]
    near = warning_marker_create(by=desk, address="1 High Street, Camden", lat=51.5451,
                                 lon=-0.1601, text="Dog on premises", source="test")  # fmt: skip
    warning_marker_create(by=desk, address="Far away", lat=51.60, lon=-0.20,
                          text="Not this one", source="test")  # fmt: skip
    incident = make_incident(desk, grade="I", summary="fight outside pub")
    with django_capture_on_commit_callbacks(execute=True):
        assignment = assignment_create(
            incident=incident, unit=world["unit"], by=desk, source="test"
        )
    message = RadioMessage.objects.get(assignment=assignment, direction="out")
    payload = message.raw
    assert payload["warnings"] == [
        {"id": near.pk, "address": "1 High Street, Camden", "text": "Dog on premises"}
    ]
    for field in ("reference", "type", "grade", "address", "summary"):
        assert payload[field], field
    assert (payload["grade"], payload["summary"]) == ("I", "fight outside pub")
    # Warnings come before the summary, so a terminal's length limit never cuts them.
    assert "WARNING: Dog on premises." in message.text
    assert message.text.index("WARNING") < message.text.index("fight outside pub")
    assert "Not this one" not in message.text


def test_after_a_failure_a_new_message_can_be_queued(job, queued, settings):
    settings.RADIO_GATEWAY_ADAPTER = "radio.tests.test_outbound.RefusingAdapter"
    first = services.despatch_message_queue(assignment=job["assignment"], by=job["desk"])
    services.radio_message_send(message_id=first.pk)
    first.refresh_from_db()
    assert first.state == State.FAILED and first.note == "unknown terminal"
    second = services.despatch_message_queue(assignment=job["assignment"], by=job["desk"])
    assert second.pk != first.pk and _state(job["assignment"]) == "queued"
    # A late receipt for the old message must not overwrite the new message's state.
    services.radio_message_delivery_record(ref=first.pk, state="delivered", by=job["gateway"])
    assert _state(job["assignment"]) == "queued"


def test_delivery_receipt_by_our_id(job, queued):
    message = services.despatch_message_queue(assignment=job["assignment"], by=job["desk"])
    services.radio_message_send(message_id=message.pk)
    response = api(job["gateway"]).post(
        URL, {"id": message.pk, "state": "delivered"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json() == {
        "id": message.pk,
        "state": "delivered",
        "assignment": job["assignment"].pk,
    }
    assert _state(job["assignment"]) == "delivered"
    # A late failure receipt does not undo a delivery; a repeat changes nothing.
    api(job["gateway"]).post(URL, {"id": message.pk, "state": "failed"}, format="json")
    again = api(job["gateway"]).post(URL, {"id": message.pk, "state": "delivered"}, format="json")
    assert again.json()["state"] == "delivered" and _state(job["assignment"]) == "delivered"


def test_delivery_receipt_by_gateway_id(job, queued, settings):
    settings.RADIO_GATEWAY_ADAPTER = "radio.tests.test_outbound.GatewayRefAdapter"
    message = services.despatch_message_queue(assignment=job["assignment"], by=job["desk"])
    services.radio_message_send(message_id=message.pk)
    response = api(job["gateway"]).post(
        URL, {"id": f"lifex-{message.pk}", "state": "failed", "note": "terminal off"},
        format="json",
    )  # fmt: skip
    assert response.status_code == 200, response.content
    message.refresh_from_db()
    assert message.state == State.FAILED and message.note == "terminal off"
    assert _state(job["assignment"]) == "failed"


class GatewayRefAdapter:
    def send(self, message):
        return SendResult("sent", gateway_id=f"lifex-{message.pk}")


def test_delivery_endpoint_checks_role_input_and_existence(job, queued):
    message = services.despatch_message_queue(assignment=job["assignment"], by=job["desk"])
    desk = api(job["desk"]).post(URL, {"id": message.pk, "state": "delivered"}, format="json")
    assert desk.status_code == 403
    gateway = api(job["gateway"])
    bad_state = gateway.post(URL, {"id": message.pk, "state": "sent"}, format="json")
    assert bad_state.status_code == 400 and "state" in bad_state.json()
    bad_id = gateway.post(URL, {"id": True, "state": "delivered"}, format="json")
    assert bad_id.status_code == 400 and "id" in bad_id.json()
    missing = gateway.post(URL, {"id": message.pk + 999, "state": "delivered"}, format="json")
    assert missing.status_code == 404
    assert _state(job["assignment"]) == "queued"


def test_inbound_messages_are_not_outbound_receipt_targets(job, queued):
    services.radio_messages_receive(
        messages=[{"id": "in-1", "issi": job["unit"].issi, "kind": "status", "code": 2,
                   "sent_at": timezone.now().isoformat()}],
        by=job["gateway"],
    )  # fmt: skip
    inbound = RadioMessage.objects.get(gateway_id="in-1")
    response = api(job["gateway"]).post(
        URL, {"id": inbound.pk, "state": "delivered"}, format="json"
    )
    assert response.status_code == 404


def test_the_sweeper_sends_a_message_whose_task_was_lost(job, queued, settings):
    settings.RADIO_SWEEP_AFTER_SECONDS = 30
    message = services.despatch_message_queue(assignment=job["assignment"], by=job["desk"])
    RadioMessage.objects.filter(pk=message.pk).update(
        received_at=timezone.now() - timedelta(minutes=2)
    )
    tasks.apply_pending_radio_messages()
    message.refresh_from_db()
    assert message.state == State.SENT and _state(job["assignment"]) == "sent"


def test_a_cleared_assignment_gets_no_message(job, queued):
    queued_at_assignment = RadioMessage.objects.filter(direction="out").count()
    assignment_clear(incident=job["incident"], unit=job["unit"], by=job["desk"], source="test")
    assert services.despatch_message_queue(assignment=job["assignment"], by=job["desk"]) is None
    assert RadioMessage.objects.filter(direction="out").count() == queued_at_assignment == 1


def test_a_failed_despatch_message_leaves_the_assign_and_the_sweeper_queues_it(
    world, queued, settings, monkeypatch, caplog
):
    """The despatch message is written by radio's assign hook, inside the assign's transaction.
    Should it fail, the unit is sent all the same, with nothing of the message half-written;
    the sweep, run by beat or `manage.py radio_sweep`, finds the active assignment with no
    despatch message and queues it."""
    settings.RADIO_SWEEP_AFTER_SECONDS = 30
    desk = world["desk"]
    text_of = services._despatch_text

    def broken(assignment):
        RadioMessage.objects.create(direction="out", issi="half", kind="despatch", state="queued")
        raise RuntimeError("no text for the terminal")

    monkeypatch.setattr(services, "_despatch_text", broken)
    lost = assignment_create(
        incident=make_incident(desk, grade="I", summary="fight outside pub"),
        unit=world["unit"],
        by=desk,
    )
    other_unit = make_unit(world["geo"]["kentish"], callsign="CN02")
    recent = assignment_create(
        incident=make_incident(desk, grade="I", summary="fight outside pub"),
        unit=other_unit,
        by=desk,
    )
    monkeypatch.setattr(services, "_despatch_text", text_of)
    assert "assign hook" in caplog.text
    assert not RadioMessage.objects.filter(direction="out").exists()
    assert Unit.objects.get(pk=world["unit"].pk).status == "assigned" and _state(lost) == ""
    Assignment.objects.filter(pk=lost.pk).update(assigned_at=timezone.now() - timedelta(minutes=2))

    tasks.apply_pending_radio_messages()

    message = RadioMessage.objects.get(assignment=lost, direction="out")
    assert message.state == State.QUEUED and message.kind == RadioMessage.Kind.DESPATCH
    assert message.by == desk and message.issi == world["unit"].issi
    assert _state(lost) == "queued"
    # One just made is left alone until it is older than the sweep's threshold. A second sweep
    # queues nothing more.
    assert not RadioMessage.objects.filter(assignment=recent).exists()
    tasks.apply_pending_radio_messages()
    assert RadioMessage.objects.filter(direction="out").count() == 1


def test_the_sweeper_leaves_cleared_and_old_assignments_alone(world, queued, settings, monkeypatch):
    settings.RADIO_SWEEP_AFTER_SECONDS = 30
    desk = world["desk"]
    text_of = services._despatch_text

    def broken(assignment):
        raise RuntimeError("no text for the terminal")

    monkeypatch.setattr(services, "_despatch_text", broken)  # no message at the assigns
    incident = make_incident(desk, grade="I", summary="fight outside pub")
    cleared = assignment_create(incident=incident, unit=world["unit"], by=desk)
    assignment_clear(incident=incident, unit=world["unit"], by=desk)
    other_unit = make_unit(world["geo"]["kentish"], callsign="CN02")
    ancient = assignment_create(
        incident=make_incident(desk, grade="I", summary="fight outside pub"),
        unit=other_unit,
        by=desk,
    )
    Assignment.objects.filter(pk=cleared.pk).update(
        assigned_at=timezone.now() - timedelta(minutes=2)
    )
    # An active assignment from before the radio bridge (or a sweeper stopped for hours): its
    # crew has long had the job by voice.
    Assignment.objects.filter(pk=ancient.pk).update(assigned_at=timezone.now() - timedelta(hours=2))
    monkeypatch.setattr(services, "_despatch_text", text_of)

    assert services.despatch_messages_queue_missing(older_than=timedelta(seconds=30)) == 0
    assert not RadioMessage.objects.filter(direction="out").exists()
