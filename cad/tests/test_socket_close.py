"""Logout, a disabled account, idle expiry and a missing second factor close board sockets."""

import time

import pytest
from channels.db import database_sync_to_async
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator

from cad.accounts.second_factor import SESSION_KEY
from cad.accounts.sessions import LAST_ACTIVITY_KEY
from cad.asgi import application
from tests.sockets import CONNECT_S

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("close_worker_connections"),
]


@pytest.fixture(autouse=True, params=["configured", "in-memory"])
def fresh_layer(request, settings):
    """Each test on the configured layer (Redis in CI) and on the embedded in-memory one."""
    if request.param == "in-memory":
        settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


async def open_board(client) -> WebsocketCommunicator:
    """A board socket through the full stack (origin check, session cookie, auth)."""
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    communicator = WebsocketCommunicator(
        application, "/ws/board/", headers=[(b"origin", b"http://localhost"), (b"cookie", cookie)]
    )
    connected, code = await communicator.connect(timeout=CONNECT_S)
    # The refusal code, noted on the communicator for the tests that open refused sockets.
    communicator.refused_code = None if connected else code  # type: ignore[attr-defined]
    if connected:
        assert (await communicator.receive_json_from(timeout=5))["type"] == "hello"
    return communicator


async def closed_with(communicator) -> int:
    """The close code the server sends next (skipping any board messages before it)."""
    while True:
        output = await communicator.receive_output(timeout=5)
        if output["type"] == "websocket.close":
            return output["code"]


@pytest.fixture
async def desk(client, make_user, geography):
    user = await database_sync_to_async(make_user)("despatcher", username="dave")
    await database_sync_to_async(client.force_login)(user)
    return user


async def test_logout_closes_the_users_sockets(client, desk):
    first, second = await open_board(client), await open_board(client)
    await database_sync_to_async(client.logout)()  # fires user_logged_out, as the view does
    assert await closed_with(first) == 4401
    assert await closed_with(second) == 4401


async def test_logout_of_another_user_leaves_this_socket_open(client, desk, make_user):
    from django.test import Client

    other = Client()
    other_user = await database_sync_to_async(make_user)("despatcher", username="eve")
    await database_sync_to_async(other.force_login)(other_user)
    mine = await open_board(client)
    await database_sync_to_async(other.logout)()
    await mine.send_json_to({"type": "ping"})
    assert (await mine.receive_json_from(timeout=5))["type"] == "pong"
    await mine.disconnect()


async def test_disabling_the_account_closes_its_sockets(client, desk):
    ws = await open_board(client)

    def disable():
        desk.is_active = False
        desk.save()

    await database_sync_to_async(disable)()
    assert await closed_with(ws) == 4401
    # And it cannot come back.
    again = await open_board(client)
    assert again.refused_code == 4401


async def test_a_socket_of_an_idle_session_closes_at_its_next_heartbeat(client, desk):
    ws = await open_board(client)

    def go_idle():
        session = client.session
        session[LAST_ACTIVITY_KEY] = time.time() - 1801
        session.save()

    await database_sync_to_async(go_idle)()
    await ws.send_json_to({"type": "ping"})
    assert await closed_with(ws) == 4401


async def test_a_supervisor_socket_needs_the_second_factor(client, make_user, geography):
    sgt = await database_sync_to_async(make_user)("supervisor", bcu="CN", username="sgt")
    await database_sync_to_async(client.force_login)(sgt)  # marked past the second factor
    ws = await open_board(client)
    assert ws.refused_code is None
    await ws.disconnect()

    def pending():
        session = client.session
        del session[SESSION_KEY]
        session.save()

    await database_sync_to_async(pending)()
    refused = await open_board(client)
    assert refused.refused_code == 4401
