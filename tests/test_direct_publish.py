"""Board events published straight to Redis (cad/live/direct_publish.py) reach the layer's
subscribers exactly as channels-redis' own group_send would deliver them."""

import asyncio
import socket
import threading
import uuid

import pytest
import redis
from channels.layers import get_channel_layer

from cad.live import events
from cad.live.direct_publish import client_timeout, direct_publisher
from cad.redis_breaker import timed_out


@pytest.fixture
def pubsub_layer(settings, redis_url, fresh_layer):
    """The pub/sub layer as cad/settings.py configures it, under a prefix of this test's own."""
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {
                "hosts": [{"address": redis_url, "socket_connect_timeout": 1.0}],
                "prefix": f"direct-{uuid.uuid4().hex[:12]}",
            },
        }
    }
    return get_channel_layer()


async def _subscribed(layer, group: str) -> str:
    channel = await layer.new_channel()
    await layer.group_add(group, channel)
    return channel


async def _received(layer, channel: str, count: int) -> list[dict]:
    return [await asyncio.wait_for(layer.receive(channel), 5) for _ in range(count)]


def _message(seq: int) -> dict:
    return {"type": "board.event", "seq": seq, "text": f'{{"seq":{seq}}}', "prev": seq - 1,
            "sent": 1733390000.25, "event": {"data": {"lat": 51.5, "bcus": ["CW"]}}}  # fmt: skip


async def test_what_is_published_directly_arrives_as_the_layers_own_send_does(pubsub_layer):
    everyone = await _subscribed(pubsub_layer, "board.all")
    one_bcu = await _subscribed(pubsub_layer, "board.bcu.CW")
    publisher = direct_publisher(pubsub_layer)
    assert publisher is not None

    await asyncio.to_thread(
        publisher.publish,
        [("board.all", _message(1)), ("board.bcu.CW", _message(1)), ("board.all", _message(2))],
        timeout=1.0,
    )
    await pubsub_layer.group_send("board.all", _message(3))  # the layer's own send, for comparison

    assert await _received(pubsub_layer, everyone, 3) == [_message(1), _message(2), _message(3)]
    assert await _received(pubsub_layer, one_bcu, 1) == [_message(1)]


def _no_thread():
    raise AssertionError("the publisher thread was used")


async def test_a_publish_goes_out_without_the_publisher_thread(pubsub_layer, monkeypatch):
    # Were the thread used, the breaker would log this error and nothing would arrive.
    monkeypatch.setattr(events, "_publisher", _no_thread)
    everyone = await _subscribed(pubsub_layer, "board.all")
    one_bcu = await _subscribed(pubsub_layer, "board.bcu.CW")
    message = {"seq": 7, "type": "incident.created", "data": {"reference": "CAD 7"}}

    await asyncio.to_thread(events.publish, message, {"board.all": 6, "board.bcu.CW": 4})

    (to_all,) = await _received(pubsub_layer, everyone, 1)
    (to_bcu,) = await _received(pubsub_layer, one_bcu, 1)
    assert (to_all["seq"], to_all["prev"], to_bcu["prev"]) == (7, 6, 4)
    assert to_all["text"] == to_bcu["text"] == '{"seq":7,"type":"incident.created",' \
                                               '"data":{"reference":"CAD 7"}}'  # fmt: skip


async def test_a_batch_goes_out_in_order_on_each_stream(pubsub_layer, monkeypatch):
    monkeypatch.setattr(events, "_publisher", _no_thread)
    everyone = await _subscribed(pubsub_layer, "board.all")
    one_bcu = await _subscribed(pubsub_layer, "board.bcu.CW")
    batch = [({"seq": seq, "type": "unit.position", "data": {}},
              {"board.all": seq - 1, "board.bcu.CW": seq - 1}, f"unit:{seq}")
             for seq in range(1, 6)]  # fmt: skip

    await asyncio.to_thread(events.publish_many, batch)

    for channel in (everyone, one_bcu):
        (message,) = await _received(pubsub_layer, channel, 1)
        assert message["type"] == "board.events"
        assert [item["seq"] for item in message["items"]] == [1, 2, 3, 4, 5]


def _silent_server(held: list) -> tuple[socket.socket, int]:
    """A TCP server that accepts connections and never answers: a Redis that has stalled. The
    accepted sockets go into `held`, which the caller keeps (a collected socket would close)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    threading.Thread(target=lambda: held.append(server.accept()), daemon=True).start()
    return server, server.getsockname()[1]


def test_a_redis_that_does_not_answer_is_a_timeout_the_breaker_recognises(settings, fresh_layer):
    accepted: list = []
    server, port = _silent_server(accepted)
    settings.CHANNEL_LAYERS = {"default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [{"address": f"redis://127.0.0.1:{port}/0"}], "prefix": "silent"},
    }}  # fmt: skip
    publisher = direct_publisher(get_channel_layer())
    assert publisher is not None
    try:
        with pytest.raises(redis.TimeoutError) as raised:
            publisher.publish([("board.all", _message(1))], timeout=0.2)
    finally:
        server.close()
        for connection, _ in accepted:
            connection.close()
    assert timed_out(raised.value)


def test_a_redis_that_is_gone_is_a_refusal_not_a_timeout(settings, fresh_layer):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now
    settings.CHANNEL_LAYERS = {"default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [f"redis://127.0.0.1:{port}/0"], "prefix": "gone"},
    }}  # fmt: skip
    publisher = direct_publisher(get_channel_layer())
    assert publisher is not None
    with pytest.raises(redis.ConnectionError) as raised:
        publisher.publish([("board.all", _message(1))], timeout=0.2)
    assert not timed_out(raised.value)


@pytest.mark.parametrize(
    "layers",
    [
        {"BACKEND": "channels.layers.InMemoryChannelLayer"},
        {"BACKEND": "channels_redis.core.RedisChannelLayer",
         "CONFIG": {"hosts": ["redis://127.0.0.1:6379/0"]}},
        {"BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
         "CONFIG": {"hosts": ["redis://127.0.0.1:6379/0", "redis://127.0.0.1:6380/0"]}},
        {"BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
         "CONFIG": {"hosts": [{"master_name": "beacon", "sentinels": [("127.0.0.1", 26379)]}]}},
    ],
    ids=["in-memory", "lists", "two-shards", "sentinel"],
)  # fmt: skip
def test_other_layers_keep_the_layers_own_send(settings, fresh_layer, layers):
    settings.CHANNEL_LAYERS = {"default": layers}
    assert direct_publisher(get_channel_layer()) is None


def test_batches_of_every_size_share_a_few_connections(pubsub_layer, redis_url, settings):
    # A batch's deadline grows with its events: a client (and a connection) per deadline would
    # leave hundreds open to Redis from every process that publishes radio batches.
    publisher = direct_publisher(pubsub_layer)
    assert publisher is not None
    for size in range(1, 301):
        publisher.publish([("board.all", _message(1))], timeout=events.publish_timeout(size))

    name = f"beacon-publish:{settings.CHANNEL_LAYERS['default']['CONFIG']['prefix']}"
    connections = [c for c in redis.Redis.from_url(redis_url).client_list() if c["name"] == name]
    deadlines = {client_timeout(events.publish_timeout(size)) for size in range(1, 301)}
    assert 1 <= len(connections) <= len(deadlines) <= 5


def test_a_clients_deadline_is_the_requests_own_or_longer(settings):
    settings.REDIS_PUBLISH_TIMEOUT_S = 0.3
    assert client_timeout(0.3) == 0.3
    for asked in (0.31, 0.6, 0.61, 1.0, 3.29):
        assert asked <= client_timeout(asked) < 2 * asked
