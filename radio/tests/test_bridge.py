"""The bridge against a real WebSocket gateway: ack after commit, reconnects lose nothing,
malformed messages refused one by one, delivery receipts recorded."""

import itertools
import random
from collections import Counter

import pytest
from django.db import connection
from django.db.models import Count

from cad.accounts.roles import RADIO_GATEWAY, has_role
from radio import services
from radio.bridge import BridgeError, backoff, bridge_user
from radio.models import RadioMessage
from radio.tests.gateway_harness import position, status, wait_until
from resources.despatch import assignment_create
from tests.factories import make_incident, make_unit

pytestmark = pytest.mark.django_db(transaction=True)


def _stored(ids) -> int:
    try:
        return RadioMessage.objects.filter(gateway_id__in=list(ids)).count()
    finally:
        connection.close()  # called from a gateway worker thread


def test_messages_are_acknowledged_only_once_stored(postgres, world, queued, gateway, run_bridge):
    issi = world["unit"].issi
    # At each ack, the gateway looks in the database (from another connection) at once.
    gw = gateway(on_ack=lambda ids: (len(ids), _stored(ids)))
    run_bridge(gw.url)
    wait_until(lambda: gw.connected, "bridge connected")
    singles = [status(f"a-{n}", issi, code=2) for n in range(5)]
    batch = {"type": "batch", "messages": [position(f"b-{n}", issi) for n in range(20)]}
    text = {"type": "text", "id": "t-1", "issi": issi, "text": "suspect detained",
            "sent_at": singles[0]["sent_at"]}  # fmt: skip
    gw.add([*singles, batch, text])

    wait_until(lambda: len(set(gw.acked)) == 26, "all 26 messages acknowledged")
    assert all(acked == in_db for acked, in_db in gw.ack_checks), gw.ack_checks
    stored = RadioMessage.objects.filter(gateway_id__in=gw.acked)
    assert stored.count() == 26
    assert stored.get(gateway_id="t-1").text == "suspect detained"
    assert stored.get(gateway_id="b-3").kind == RadioMessage.Kind.POSITION
    assert {m.by.username for m in stored} == {"radio-bridge"}
    assert len(queued["apply"]) == 26  # each new message queued for applying


def test_gateway_dropping_the_connection_loses_nothing(
    postgres, world, queued, gateway, run_bridge
):
    issi = world["unit"].issi
    messages = [position(f"p-{n}", issi, lat=51.5 + n / 10000) for n in range(300)]
    # Three sessions die mid-stream, each after sending only part of what is unacknowledged.
    gw = gateway(drops=[40, 7, 120])
    gw.add(messages)
    bridge = run_bridge(gw.url)

    wait_until(lambda: not gw.pending, "every message acknowledged")
    assert gw.bridge_sessions >= 4 and bridge.stats["reconnects"] >= 3
    ids = [m["id"] for m in messages]
    per_id = Counter(
        dict(
            RadioMessage.objects.filter(gateway_id__in=ids)
            .values_list("gateway_id")
            .annotate(n=Count("id"))
        )
    )
    assert len(per_id) == 300 and set(per_id.values()) == {1}  # every one, exactly once
    assert len(set(queued["apply"])) == 300  # ... and applied once each


def test_malformed_messages_are_nacked_and_the_rest_stored(
    postgres, world, queued, gateway, run_bridge
):
    issi = world["unit"].issi
    gw = gateway()
    run_bridge(gw.url)
    wait_until(lambda: gw.connected, "bridge connected")
    batch = {"type": "batch", "messages": [
        status("ok-1", issi), status("bad-code", issi, code="x"), position("ok-2", issi),
        {"type": "position", "id": "bad-pos", "issi": issi, "sent_at": "yesterday"},
        {"type": "despatch", "id": "bad-type"},
    ]}  # fmt: skip
    gw.add([batch, status("ok-3", issi)])
    gw.send_raw("this is not json")
    gw.send_raw('{"type": "weather", "rain": true}')
    gw.send_raw('{"type": "ping"}')

    wait_until(lambda: len(gw.acked) == 3 and len(gw.nacks) == 3, "3 acks and 3 nacks")
    assert sorted(gw.acked) == ["ok-1", "ok-2", "ok-3"]
    assert "code" in gw.nacks["bad-code"]
    assert set(gw.nacks["bad-pos"]) >= {"sent_at"}
    assert "type" in gw.nacks["bad-type"]
    wait_until(lambda: gw.pongs >= 1, "the ping answered")
    in_db = set(RadioMessage.objects.values_list("gateway_id", flat=True))
    assert in_db == {"ok-1", "ok-2", "ok-3"}  # nothing of a refused message half-saved


def test_delivery_receipts_are_recorded_and_acknowledged(
    postgres, world, queued, gateway, run_bridge
):
    units = [world["unit"], make_unit(world["geo"]["kentish"], callsign="CN02")]
    messages = []
    for unit in units:
        assignment = assignment_create(
            incident=make_incident(world["desk"], grade="I", summary="fight outside pub"),
            unit=unit,
            by=world["desk"],
            source="test",
        )
        messages.append(services.despatch_message_queue(assignment=assignment, by=world["desk"]))
    services.radio_message_send(message_id=messages[0].pk)  # the logging adapter: sent
    gw = gateway()
    run_bridge(gw.url)
    wait_until(lambda: gw.connected, "bridge connected")
    gw.add([
        {"type": "delivered", "ref": f"b-{messages[0].pk}", "at": "2026-11-30T07:15:02Z"},
        {"type": "undeliverable", "ref": f"b-{messages[1].pk}", "reason": "out of coverage"},
        {"type": "delivered", "ref": "b-99999999"},
        {"type": "delivered", "ref": "their-own-ref"},
    ])  # fmt: skip

    wait_until(lambda: len(gw.acked_refs) == 2 and len(gw.nacks) == 2, "2 acks, 2 nacks")
    assert sorted(gw.acked_refs) == sorted(f"b-{m.pk}" for m in messages)
    assert set(gw.nacks) == {"b-99999999", "their-own-ref"}
    first, second = (RadioMessage.objects.get(pk=m.pk) for m in messages)
    assert first.state == "delivered" and first.assignment.message_state == "delivered"
    assert second.state == "failed" and second.note == "out of coverage"


@pytest.mark.django_db  # no threads here: the fast, rolled-back kind
def test_bridge_account_is_made_once_and_never_borrowed(world):
    user = bridge_user()
    assert has_role(user, RADIO_GATEWAY) and not user.has_usable_password()
    assert bridge_user().pk == user.pk
    with pytest.raises(BridgeError):
        bridge_user(world["desk"].username)  # a despatcher is not promoted to a gateway


def test_a_silent_gateway_is_taken_for_dead_and_reconnected(postgres, world, gateway, run_bridge):
    gw = gateway()  # answers no application ping, sends nothing
    bridge = run_bridge(gw.url, silence=0.6, ping_after=0.2)
    wait_until(lambda: gw.bridge_sessions >= 2, "a second session after the silence")
    assert bridge.stats["reconnects"] >= 1


def test_backoff_doubles_to_its_ceiling_with_jitter():
    delays = list(itertools.islice(backoff(0.5, 30, random.Random(7)), 10))
    steps = [0.5, 1, 2, 4, 8, 16, 30, 30, 30, 30]
    assert all(step / 2 <= delay <= step for delay, step in zip(delays, steps, strict=True))
    assert len(set(delays)) == len(delays)  # jittered, not in lockstep


def test_bridge_heartbeat_says_connected_and_when_it_last_heard(
    postgres, world, queued, gateway, run_bridge, settings
):
    """/healthz/detail's view of the bridge: connected while in session, the time of its last
    message, and not connected once the gateway is gone."""
    from cad.models import Heartbeat
    from radio.health import check_bridge

    settings.RADIO_BRIDGE_ENABLED = True

    def row() -> Heartbeat | None:
        try:
            return Heartbeat.objects.filter(name=bridge.heartbeat_name).first()
        finally:
            connection.close()

    gw = gateway()
    bridge = run_bridge(gw.url, heartbeat_every=0.2)
    wait_until(lambda: gw.connected, "bridge connected")
    wait_until(lambda: (r := row()) and r.detail["connected"], "heartbeat says connected")
    assert row().detail["last_message_at"] is None
    gw.add([status("hb-1", world["unit"].issi, code=2)])
    wait_until(lambda: "hb-1" in gw.acked, "message acknowledged")
    wait_until(lambda: row().detail["last_message_at"], "heartbeat has the last message time")
    health = check_bridge()
    assert health["status"] == "ok" and health["connected"] is True
    assert health["last_message_at"] == row().detail["last_message_at"]

    bridge.stop()
    wait_until(lambda: not row().detail["connected"], "heartbeat says disconnected")
    assert check_bridge()["status"] == "down"
