"""WebSocketGatewayAdapter against a real WebSocket gateway: accepted, rejected, unavailable."""

import socket

import pytest

from radio import services
from radio.adapters import GatewayUnavailable, WebSocketGatewayAdapter
from radio.models import RadioMessage
from radio.tests.gateway_harness import FakeGateway
from resources.despatch import assignment_create
from tests.factories import make_incident

ADAPTER = "radio.adapters.WebSocketGatewayAdapter"


@pytest.fixture
def outbound(world, queued, settings):
    settings.RADIO_GATEWAY_ADAPTER = ADAPTER
    assignment = assignment_create(
        incident=make_incident(world["desk"], grade="I", summary="fight outside pub"),
        unit=world["unit"],
        by=world["desk"],
        source="test",
    )
    message = services.despatch_message_queue(assignment=assignment, by=world["desk"])
    RadioMessage.objects.filter(pk=message.pk).update(
        raw={**message.raw, "warnings": ["dog on premises"]}
    )
    return message


@pytest.fixture
def gateway(settings):
    made = []

    def make(answer):
        gw = FakeGateway(answer=answer)
        settings.RADIO_GATEWAY_URL = gw.url
        made.append(gw)
        return gw

    yield make
    for gw in made:
        gw.close()


def test_accepted_despatch_is_sent_and_its_receipt_finds_it(outbound, gateway, world):
    gw = gateway(lambda f: {"type": "accepted", "ref": f["ref"]})
    assert services.radio_message_send(message_id=outbound.pk) == "sent"
    (frame,) = gw.despatches
    assert frame["ref"] == f"b-{outbound.pk}" and frame["issi"] == world["unit"].issi
    assert frame["payload"]["warnings"] == ["dog on premises"]
    assert frame["payload"]["reference"] == outbound.raw["reference"]
    assert {"lat", "lon", "grade", "address", "summary", "type"} <= set(frame["payload"])
    # A receipt quoting the gateway's copy of our ref finds the message (the HTTP receipt path).
    services.radio_message_delivery_record(
        ref=f"b-{outbound.pk}", state="delivered", by=world["gateway"]
    )
    assert RadioMessage.objects.get(pk=outbound.pk).state == "delivered"


def test_rejected_despatch_fails_with_the_reason(outbound, gateway):
    gateway(lambda f: {"type": "rejected", "ref": f["ref"], "reason": "unknown ISSI"})
    assert services.radio_message_send(message_id=outbound.pk) == "failed"
    message = RadioMessage.objects.get(pk=outbound.pk)
    assert message.state == "failed" and "unknown ISSI" in message.note


def test_answers_for_other_refs_are_not_taken_for_ours(outbound, gateway, monkeypatch):
    monkeypatch.setattr(WebSocketGatewayAdapter, "timeout", 0.5)
    gateway(lambda f: {"type": "accepted", "ref": "b-1" + f["ref"][2:]})
    with pytest.raises(GatewayUnavailable):
        services.radio_message_send(message_id=outbound.pk)
    assert RadioMessage.objects.get(pk=outbound.pk).state == "queued"  # the task retries


def test_silent_gateway_is_unavailable(outbound, gateway, monkeypatch):
    monkeypatch.setattr(WebSocketGatewayAdapter, "timeout", 0.5)
    gateway(lambda f: None)
    with pytest.raises(GatewayUnavailable):
        services.radio_message_send(message_id=outbound.pk)
    assert RadioMessage.objects.get(pk=outbound.pk).state == "queued"


def test_no_gateway_is_unavailable_and_gives_up_as_failed(outbound, settings):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.RADIO_GATEWAY_URL = f"ws://127.0.0.1:{port}/"
    with pytest.raises(GatewayUnavailable):
        services.radio_message_send(message_id=outbound.pk)
    assert services.radio_message_send(message_id=outbound.pk, give_up=True) == "failed"
