"""Texts to callers who agreed: queued after despatch, arrival and close commit; none without
consent, none after the opt-out word; a Notify error retried, then failed; delivery receipts
through the signed callback; the messages at GET /api/v1/incidents/{id}/messages/."""

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from cad.celery import app as celery_app
from incidents.public import texts
from incidents.public.models import CallerMessage, MessageTemplate, TextOptOut
from incidents.public.notify import SendFailed
from incidents.services import CallDetails, incident_close, incident_create
from incidents.tasks import send_caller_message
from resources import despatch, services
from resources.models import UnitStatus
from tests.factories import CAMDEN, make_closing_code, make_incident_type, make_unit

pytestmark = pytest.mark.django_db
MOBILE = "07700 900123"


@pytest.fixture
def queued_tasks(monkeypatch):
    """The message ids handed to the sending tasks (instead of the broker)."""
    sent: list[int] = []
    monkeypatch.setattr(texts, "_senders", [sent.append, sent.append])
    return sent


@pytest.fixture
def world(geography, cast):
    make_incident_type("ASB1")
    make_closing_code("NFA")
    return {"desk": cast.despatcher_all, "unit": make_unit(geography["kentish"], callsign="CN01"),
            "other": make_unit(geography["kentish"], callsign="CN02")}  # fmt: skip


def _incident(by, *, phone=MOBILE, updates=True):
    return incident_create(
        by=by, type_code="ASB1", lat=CAMDEN[0], lon=CAMDEN[1], address="1 High St",
        call=CallDetails(caller_name="Ann", caller_phone=phone, updates=updates),
    )  # fmt: skip


def _journey(world, incident, capture):
    """Despatch, arrival, close: each committed, reactions run after."""
    with capture(execute=True):
        despatch.assignment_create(incident=incident, unit=world["unit"], by=world["desk"])
    with capture(execute=True):
        services.unit_set_status(unit=world["unit"], status=UnitStatus.AT_SCENE, source="test",
                                 by=world["desk"])  # fmt: skip
    with capture(execute=True):
        incident_close(incident=incident, by=world["desk"], closing_code="NFA")


def test_texts_queued_on_despatch_arrival_and_close(
    world, django_capture_on_commit_callbacks, queued_tasks
):
    incident = _incident(world["desk"])
    _journey(world, incident, django_capture_on_commit_callbacks)
    messages = list(CallerMessage.objects.filter(incident=incident).order_by("id"))
    assert [m.kind for m in messages] == ["despatched", "at_scene", "closed"]
    assert queued_tasks == [m.pk for m in messages]
    for m in messages:
        assert m.status == "queued" and m.to_masked == "07••• •••123"
        assert incident.reference in m.body
        # Never an officer's name, a call sign or a position.
        assert "CN01" not in m.body and "51.5" not in m.body


def test_a_second_unit_does_not_text_again(world, django_capture_on_commit_callbacks, queued_tasks):
    incident = _incident(world["desk"])
    with django_capture_on_commit_callbacks(execute=True):
        despatch.assignment_create(incident=incident, unit=world["unit"], by=world["desk"])
    with django_capture_on_commit_callbacks(execute=True):
        despatch.assignment_create(incident=incident, unit=world["other"], by=world["desk"])
    assert CallerMessage.objects.filter(incident=incident, kind="despatched").count() == 1


def test_no_texts_without_consent(world, django_capture_on_commit_callbacks, queued_tasks):
    incident = _incident(world["desk"], updates=False)
    _journey(world, incident, django_capture_on_commit_callbacks)
    assert not CallerMessage.objects.exists()
    assert queued_tasks == []


def test_consent_needs_a_mobile_number(world):
    with pytest.raises(Exception) as refused:
        _incident(world["desk"], phone="020 7946 0000")
    assert "caller_phone" in refused.value.message_dict


def test_no_texts_after_the_opt_out_word(
    world, django_capture_on_commit_callbacks, queued_tasks, settings
):
    settings.NOTIFY_CALLBACK_TOKEN = "s3cret"
    client = APIClient()
    reply = client.post("/api/v1/public/notify/inbound/",
                        {"source_number": "447700900123", "message": " stop "}, format="json",
                        HTTP_AUTHORIZATION="Bearer s3cret")  # fmt: skip
    assert reply.status_code == 200 and reply.data["opted_out"]
    assert TextOptOut.objects.count() == 1
    incident = _incident(world["desk"])
    _journey(world, incident, django_capture_on_commit_callbacks)
    assert not CallerMessage.objects.exists()


def test_callbacks_must_be_signed(settings):
    settings.NOTIFY_CALLBACK_TOKEN = "s3cret"
    client = APIClient()
    body = {"source_number": "447700900123", "message": "STOP"}
    assert client.post("/api/v1/public/notify/inbound/", body, format="json").status_code == 403
    wrong = client.post("/api/v1/public/notify/inbound/", body, format="json",
                        HTTP_AUTHORIZATION="Bearer guess")  # fmt: skip
    assert wrong.status_code == 403
    assert not TextOptOut.objects.exists()


def test_log_backend_marks_sent_and_the_callback_records_delivery(
    world, django_capture_on_commit_callbacks, queued_tasks, settings
):
    incident = _incident(world["desk"])
    with django_capture_on_commit_callbacks(execute=True):
        despatch.assignment_create(incident=incident, unit=world["unit"], by=world["desk"])
    message = CallerMessage.objects.get()
    send_caller_message.apply(args=[message.pk])
    message.refresh_from_db()
    assert message.status == "sent" and message.sent_at and message.provider_id.startswith("log-")
    settings.NOTIFY_CALLBACK_TOKEN = "s3cret"
    receipt = APIClient().post(
        "/api/v1/public/notify/status/",
        {"id": message.provider_id, "reference": str(message.pk), "status": "delivered"},
        format="json", HTTP_AUTHORIZATION="Bearer s3cret",
    )  # fmt: skip
    assert receipt.status_code == 200
    message.refresh_from_db()
    assert message.status == "delivered"


class FlakyNotify:
    """Notify answering 500 every time."""

    calls = 0

    def send_sms(self, *, to, body, reference):
        FlakyNotify.calls += 1
        raise SendFailed("Notify 500", permanent=False)

    send_email = send_sms


class RefusingNotify:
    def send_sms(self, *, to, body, reference):
        raise SendFailed("Notify 400", permanent=True)


@override_settings(NOTIFY_BACKEND="resources.tests.test_caller_texts.FlakyNotify",
                   NOTIFY_MAX_ATTEMPTS=3)  # fmt: skip
def test_a_notify_error_is_retried_then_marked_failed(
    world, django_capture_on_commit_callbacks, queued_tasks, monkeypatch
):
    # Run the retries here, one after another, as a worker would (without the waits).
    monkeypatch.setitem(celery_app.conf, "task_eager_propagates", False)
    incident = _incident(world["desk"])
    with django_capture_on_commit_callbacks(execute=True):
        despatch.assignment_create(incident=incident, unit=world["unit"], by=world["desk"])
    message = CallerMessage.objects.get()
    FlakyNotify.calls = 0
    send_caller_message.apply(args=[message.pk])  # eager: the retries run here too
    message.refresh_from_db()
    assert FlakyNotify.calls == 3
    assert (message.status, message.attempts) == ("failed", 3)
    assert "Notify 500" in message.note


@override_settings(NOTIFY_BACKEND="resources.tests.test_caller_texts.RefusingNotify")
def test_a_permanent_refusal_is_failed_at_once(
    world, django_capture_on_commit_callbacks, queued_tasks
):
    incident = _incident(world["desk"])
    with django_capture_on_commit_callbacks(execute=True):
        despatch.assignment_create(incident=incident, unit=world["unit"], by=world["desk"])
    message = CallerMessage.objects.get()
    send_caller_message.apply(args=[message.pk])
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("failed", 1)


@override_settings(NOTIFY_BACKEND="resources.tests.test_caller_texts.FlakyNotify")
def test_a_notify_outage_never_holds_up_the_despatch(
    world, django_capture_on_commit_callbacks, queued_tasks
):
    incident = _incident(world["desk"])
    # The despatch commits whatever Notify does; the text only waits in its queue.
    with django_capture_on_commit_callbacks(execute=True):
        assignment = despatch.assignment_create(
            incident=incident, unit=world["unit"], by=world["desk"]
        )
    assert assignment.pk is not None
    assert CallerMessage.objects.get().status == "queued"


def test_templates_refuse_placeholders_beyond_reference_and_status():
    assert texts.template_errors("Officers $reference on the way") == []
    assert texts.template_errors("PC $officer is at $position")
    MessageTemplate.objects.update_or_create(kind="closed", channel="sms",
                                             defaults={"body": "Done: $reference."})  # fmt: skip
    assert texts.render("closed", "sms", reference="CAD 0001/01Jan26") == (
        "",
        "Done: CAD 0001/01Jan26.",
    )


def test_messages_endpoint_masks_numbers_and_needs_a_reader(
    world, django_capture_on_commit_callbacks, queued_tasks, cast
):
    incident = _incident(world["desk"])
    with django_capture_on_commit_callbacks(execute=True):
        despatch.assignment_create(incident=incident, unit=world["unit"], by=world["desk"])
    client = APIClient()
    client.force_authenticate(cast.handler)
    r = client.get(f"/api/v1/incidents/{incident.pk}/messages/")
    assert r.status_code == 200
    assert r.data[0]["kind"] == "despatched" and r.data[0]["to_masked"] == "07••• •••123"
    assert {"to_masked", "kind", "status", "queued_at", "sent_at"} <= set(r.data[0])
    assert "07700 900123" not in r.content.decode() and "7700900123" not in r.content.decode()
    client.force_authenticate(cast.outsider)
    assert client.get(f"/api/v1/incidents/{incident.pk}/messages/").status_code == 403
    # And on the incident page, masked.
    page = APIClient()
    page.force_login(cast.handler)
    html = page.get(f"/incidents/{incident.pk}/").content.decode()
    assert "07••• •••123" in html and "900123" not in html
