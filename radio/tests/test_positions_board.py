"""A batch of GPS fixes reaches a board socket: one layer message per group, unpacked in order."""

from collections import Counter
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from cad.live import events
from cad.live.consumers import BoardConsumer
from cad.live.direct_publish import DirectPublisher
from radio.models import RadioMessage
from radio.positions import radio_positions_apply
from radio.services import radio_messages_receive
from radio.tests.conftest import msg
from resources.models import Unit
from tests.factories import make_unit
from tests.sockets import CONNECT_S

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("close_worker_connections", "fresh_layer"),
]


async def board(user) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(BoardConsumer.as_asgi(), "/ws/board/")
    # What AuthMiddlewareStack would put in the scope; the stub's test scope has no "user".
    communicator.scope["user"] = user  # type: ignore[typeddict-unknown-key]
    connected, _ = await communicator.connect(timeout=CONNECT_S)
    assert connected
    assert (await communicator.receive_json_from(timeout=5))["type"] == "hello"
    return communicator


def test_group_messages_put_each_groups_events_in_order_in_few_messages():
    batch = [
        ({"seq": s, "type": "unit.updated", "data": {}},
         {events.ALL_GROUP: s - 1, "board.bcu.CN": p}, "k")
        for s, p in [(10, 3), (11, 10), (12, 11)]
    ]  # fmt: skip
    per_group = events.group_messages(batch)
    assert set(per_group) == {events.ALL_GROUP, "board.bcu.CN"}
    (message,) = per_group["board.bcu.CN"]
    assert message["type"] == "board.events"
    assert [(i["seq"], i["prev"], i["coalesce"]) for i in message["items"]] == [
        (10, 3, "k"), (11, 10, "k"), (12, 11, "k"),
    ]  # fmt: skip
    many = [
        ({"seq": s, "type": "x", "data": {}}, {events.ALL_GROUP: s - 1}, "") for s in range(450)
    ]
    chunks = events.group_messages(many)[events.ALL_GROUP]
    assert [len(c["items"]) for c in chunks] == [200, 200, 50]
    assert [i["seq"] for c in chunks for i in c["items"]] == list(range(450))


@pytest.mark.parametrize("inline", [True, False], ids=["applied-as-stored", "by-the-task"])
async def test_a_batch_of_fixes_reaches_a_central_board_once_each_in_order(
    postgres, geography, cast, monkeypatch, settings, inline
):
    settings.RADIO_POSITIONS_INLINE = inline
    monkeypatch.setattr("cad.live.consumers.COALESCE_SECONDS", 0.05)
    sent = []
    real_group_send = get_channel_layer().group_send

    async def spy(group, message):
        sent.append((group, message["type"]))
        await real_group_send(group, message)

    monkeypatch.setattr(get_channel_layer(), "group_send", spy)
    real_publish = DirectPublisher.publish

    def publish_spy(self, items, *, timeout):  # the pub/sub layer's own path (decision 0045)
        sent.extend((group, message["type"]) for group, message in items)
        real_publish(self, items, timeout=timeout)

    monkeypatch.setattr(DirectPublisher, "publish", publish_spy)
    seen = []
    real_board_event = BoardConsumer.board_event

    async def board_event(self, message, stream):
        seen.append((message["seq"], message["prev"], self.cursor))
        await real_board_event(self, message, stream)

    monkeypatch.setattr(BoardConsumer, "board_event", board_event)

    def world():
        units = [make_unit(geography["kentish"]) for _ in range(3)]
        Unit.objects.filter(pk__in=[u.pk for u in units]).update(
            position_at=timezone.now() - timedelta(hours=1)
        )
        desk = cast.despatcher_all
        gateway = cast.gateway
        return units, desk, gateway

    units, desk, gateway = await database_sync_to_async(world)()
    communicator = await board(desk)

    def store_and_apply():
        fixes = [msg(u.issi, "position", lat=51.6, lon=-0.2, ago=5) for u in units]
        fixes.append(msg(units[0].issi, "position", lat=51.7, lon=-0.2, ago=2))
        radio_messages_receive(messages=fixes, by=gateway)
        ids = list(RadioMessage.objects.values_list("id", flat=True))
        if not inline:
            return radio_positions_apply(message_ids=ids)
        return dict(Counter(RadioMessage.objects.values_list("state", flat=True)))

    counts = await database_sync_to_async(store_and_apply)()
    assert counts == {"applied": 3, "ignored": 1}
    got, other = [], []
    while len(got) < 3:
        message = await communicator.receive_json_from(timeout=5)
        (got if message.get("type") == "unit.updated" else other).append(message)
    assert other == []
    assert sorted(m["data"]["callsign"] for m in got) == sorted(u.callsign for u in units)
    assert [m["seq"] for m in got] == sorted(m["seq"] for m in got)
    newest = next(m for m in got if m["data"]["callsign"] == units[0].callsign)
    assert newest["data"]["position"]["lat"] == 51.7
    assert await communicator.receive_nothing(timeout=0.5), seen
    # Each event once, in order, none taken for a gap.
    assert [(q, prev) for q, prev, _ in seen] == [(q, q - 1) for q, _, _ in seen]
    assert all(cursor == prev for _, prev, cursor in seen)
    # One layer message per group for the whole batch, not one per unit.
    assert [kind for group, kind in sent if group == events.ALL_GROUP] == ["board.events"]
    await communicator.disconnect()
