"""Redis stops mid-shift: writes still commit, and boards catch up from the Event table."""

import contextlib
import shutil
from functools import partial

import pytest
from channels.db import database_sync_to_async
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator

from cad.live.consumers import BoardConsumer
from cad.models import Event
from incidents.models import Incident
from tests.factories import make_incident
from tests.servers import PrivateRedis
from tests.sockets import CONNECT_S

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("close_worker_connections"),
]
create = database_sync_to_async(partial(make_incident, grade="I"))


@pytest.fixture
def private_redis(redis_url, settings):
    if not shutil.which("redis-server"):
        pytest.skip("needs the redis-server binary to stop and start a private Redis")
    server = PrivateRedis()
    server.start()
    # The layer as configured (pub/sub unless CHANNEL_LAYER says otherwise), on the private
    # server this test can stop and start.
    backend = settings.CHANNEL_LAYERS["default"]["BACKEND"]
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": backend, "CONFIG": {"hosts": [server.url]}}}
    channel_layers.backends.clear()
    yield server
    server.stop()
    channel_layers.backends.clear()


async def _board(user):
    ws = WebsocketCommunicator(BoardConsumer.as_asgi(), "/ws/board/")
    ws.scope["user"] = user
    connected, _ = await ws.connect(timeout=CONNECT_S)
    assert connected
    hello = await ws.receive_json_from(timeout=5)
    return ws, hello


async def test_redis_down_then_back(private_redis, geography, make_user, caplog):
    desk = await database_sync_to_async(make_user)("despatcher")
    ws, hello = await _board(desk)
    seen = hello["seq"]

    private_redis.stop()
    # The call handler's write does not depend on Redis: it commits, with its event row.
    incident = await create(desk, summary="during the outage")
    assert await database_sync_to_async(Incident.objects.filter(pk=incident.pk).exists)()
    event = await database_sync_to_async(Event.objects.get)(seq=seen + 1)
    assert event.type == "incident.created" and event.data["id"] == incident.pk
    assert "live publish of seq" in caplog.text and "Redis taken as down" in caplog.text
    # The old socket lost its layer; the browser would see it close and reconnect.
    with contextlib.suppress(Exception):
        await ws.disconnect()

    private_redis.start()
    channel_layers.backends.clear()
    ws, hello = await _board(desk)
    assert hello["seq"] == seen + 1
    await ws.send_json_to({"type": "resync", "since": seen})
    caught_up = await ws.receive_json_from(timeout=5)
    assert caught_up["seq"] == seen + 1 and caught_up["data"]["id"] == incident.pk
    assert (await ws.receive_json_from(timeout=5)) == {"type": "resynced", "seq": seen + 1}
    # And live pushes flow again.
    after = await create(desk, summary="after the outage")
    live = await ws.receive_json_from(timeout=5)
    assert live["seq"] == seen + 2 and live["data"]["id"] == after.pk
    await ws.disconnect()
