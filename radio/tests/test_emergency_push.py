"""Radio code 0 reaches a connected board in one push: the next message after the radio
message is stored and applied is `unit.emergency`, with no poll or resync in between."""

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from cad.live.consumers import BoardConsumer
from radio import services
from radio.models import RadioMessage
from radio.tests.conftest import msg
from tests.sockets import CONNECT_S

# Consumers read the database from worker threads, so the data must be committed.
pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("close_worker_connections", "fresh_layer"),
]


def receive_and_apply(world) -> RadioMessage:
    """What the gateway's POST and the apply task do, the task run here in-process."""
    body = msg(world["unit"].issi, code=0, ago=2)
    services.radio_messages_receive(messages=[body], by=world["gateway"])
    message = RadioMessage.objects.get(gateway_id=body["id"])
    services.radio_message_apply(message_id=message.pk)
    return message


@pytest.mark.parametrize("desk", ["central", "cn", "as"])
async def test_code_0_reaches_every_board_in_one_push(world, make_user, queued, desk):
    # The unit is CN's; an AS desk must hear it too (every desk hears every emergency).
    user = await database_sync_to_async(make_user)(
        "despatcher", bcu=None if desk == "central" else desk.upper(), username=f"d-{desk}"
    )
    communicator = WebsocketCommunicator(BoardConsumer.as_asgi(), "/ws/board/")
    communicator.scope["user"] = user
    connected, _ = await communicator.connect(timeout=CONNECT_S)
    assert connected
    hello = await communicator.receive_json_from(timeout=5)
    assert hello["type"] == "hello"

    message = await database_sync_to_async(receive_and_apply)(world)

    pushed = await communicator.receive_json_from(timeout=5)  # the very next message
    assert pushed["type"] == "unit.emergency"
    assert pushed["data"]["callsign"] == world["unit"].callsign
    assert pushed["data"]["emergency"] is True
    assert pushed["seq"] > hello["seq"]
    await database_sync_to_async(message.refresh_from_db)()
    assert message.state == RadioMessage.State.APPLIED and "emergency raised" in message.note
    await communicator.disconnect()
