"""Board events published to the pub/sub channel layer in one blocking Redis round trip.

Every committed change publishes its events from the request's own thread (cad/live/events.py).
Through channels-redis the publish is a coroutine, so it used to be handed to an event loop in
a thread of its own and awaited there: the hop between threads and redis-py's asyncio client
cost a create an eighth of this process's CPU (3.94 against 3.42 ms, six alternating pairs of
`bench/create_cost.py`, docs/benchmarks.md stop 47). On channels-redis' pub/sub layer, the one
Beacon ships (`CHANNEL_LAYER=pubsub`), a group send is a single Redis `PUBLISH` of the layer's
own serialization of the message to the group's Redis channel. This sends exactly that, with
redis-py's blocking client, every group of a publish in one pipeline: what the hubs subscribed
to those channels receive is the same message, byte for byte, as `group_send` would have sent.

Only for a layer of that class on one Redis host given by its address (as cad/settings.py
configures it); anything else (the list-based layer, shards, Sentinel) keeps the event-loop
path. `tests/test_direct_publish.py` holds the two to each other through a real subscriber, so
an upgrade of channels-redis that changed its naming or its wire format fails there.
"""

import math
import os
import threading
import weakref
from typing import Any

import redis
from channels.layers import BaseChannelLayer
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.conf import settings

# channels-redis' name for a group's Redis channel (RedisPubSubLoopLayer._get_group_channel_name).
GROUP_CHANNEL = "{prefix}__group__{group}"


class DirectPublisher:
    """Publishes (group, message) pairs for one pub/sub layer, in order, in one round trip."""

    def __init__(
        self, layer: RedisPubSubChannelLayer, address: str, prefix: str, connect_timeout: float
    ):
        # Weakly: the publishers are kept per layer, and a value holding its key keeps it alive.
        self._layer = weakref.ref(layer)
        self.address = address
        self.prefix = prefix
        self.connect_timeout = connect_timeout
        self._clients: dict[tuple[int, float], redis.Redis] = {}
        self._lock = threading.Lock()

    def publish(self, items: list[tuple[str, dict[str, Any]]], *, timeout: float) -> None:
        """Send each message to its group, in list order. Raises redis' errors (refused, timed
        out after `timeout` seconds) for the caller's breaker to count."""
        layer = self._layer()
        if layer is None:  # settings changed under a kept send: that layer is gone
            raise redis.ConnectionError("the channel layer was replaced")
        pipe = self._client(timeout).pipeline(transaction=False)
        for group, message in items:
            # The layer's own serialization (msgpack, encrypted if it is configured to be).
            pipe.publish(GROUP_CHANNEL.format(prefix=self.prefix, group=group),
                         layer.serialize(message))  # fmt: skip
        pipe.execute()

    def _client(self, timeout: float) -> redis.Redis:
        """A client whose every wait is bounded by `timeout` (rounded up: `client_timeout`): one
        per such bound and process (a forked worker opens its own connections). Its name says
        whose connections they are in Redis' CLIENT LIST."""
        bound = client_timeout(timeout)
        key = (os.getpid(), bound)
        client = self._clients.get(key)
        if client is None:
            connect = min(bound, self.connect_timeout)
            made = redis.Redis.from_url(
                self.address, socket_timeout=bound, socket_connect_timeout=connect,
                client_name=f"beacon-publish:{self.prefix}",
            )  # fmt: skip
            with self._lock:
                client = self._clients.setdefault(key, made)
        return client


def client_timeout(timeout: float) -> float:
    """The socket timeout of the client a publish with `timeout` goes through: the request's
    own deadline (`REDIS_PUBLISH_TIMEOUT_S`) exactly, a longer one rounded up to that deadline
    times a power of two. A batch's deadline grows with its events (`publish_timeout`), and a
    client, with its connections, for every size of radio batch would be hundreds of each."""
    base = settings.REDIS_PUBLISH_TIMEOUT_S
    if base <= 0 or timeout <= base:
        return max(base, timeout)
    return base * 2 ** math.ceil(math.log2(timeout / base) - 1e-9)


_publishers: "weakref.WeakKeyDictionary[Any, DirectPublisher | None]" = weakref.WeakKeyDictionary()
_publishers_lock = threading.Lock()


def direct_publisher(layer: BaseChannelLayer | RedisPubSubChannelLayer) -> DirectPublisher | None:
    """The direct publisher for `layer` (channels' default layer, made from the settings'
    CHANNEL_LAYERS), or None where its sends must go through the layer itself: not the pub/sub
    layer, or not on one Redis address. Worked out once per layer: a change of settings (a
    test's) makes channels build a new layer."""
    try:
        return _publishers[layer]
    except KeyError:
        pass
    found = _made_for(layer)
    with _publishers_lock:
        return _publishers.setdefault(layer, found)


def _made_for(layer: Any) -> DirectPublisher | None:
    if type(layer) is not RedisPubSubChannelLayer:
        return None
    layers: dict[str, Any] = settings.CHANNEL_LAYERS
    config: dict[str, Any] = layers.get("default", {}).get("CONFIG", {})
    hosts = config.get("hosts") or []
    if len(hosts) != 1:
        return None
    host = hosts[0]
    if isinstance(host, str):
        host = {"address": host}
    if not isinstance(host, dict) or "address" not in host:
        return None
    # Sentinel, or a host given as keyword arguments: the layer's own path.
    if set(host) - {"address", "socket_connect_timeout"}:
        return None
    connect_timeout = float(host.get("socket_connect_timeout") or 1.0)
    return DirectPublisher(layer, host["address"], config.get("prefix", "asgi"), connect_timeout)
