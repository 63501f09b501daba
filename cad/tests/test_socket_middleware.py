"""The WebSocket authentication stack (cad/live/socket_middleware.py): the session and the user
come from the cookie as with channels' own stack, and a socket's frames go straight to the
server's `send`, with no session check on each one."""

import pytest
from channels.db import database_sync_to_async

from cad.live.socket_middleware import socket_auth_stack

pytestmark = pytest.mark.django_db(transaction=True)


async def server_send(message):  # stands in for daphne's send
    return None


async def server_receive():
    return {"type": "websocket.connect"}


def capturing_app(seen: dict):
    async def app(scope, receive, send):
        seen["send"] = send
        seen["session_key"] = scope["session"].session_key
        seen["user"] = await database_sync_to_async(lambda: scope["user"].username)()

    return app


async def test_a_socket_gets_its_session_and_user_and_the_servers_own_send(cast, client):
    user = await database_sync_to_async(lambda: cast.despatcher_all)()  # made on first use
    await database_sync_to_async(client.force_login)(user)
    key = client.cookies["sessionid"].value
    seen: dict = {}
    cookie = (b"cookie", f"sessionid={key}".encode())
    scope = {"type": "websocket", "path": "/ws/board/", "headers": [cookie]}

    await socket_auth_stack(capturing_app(seen))(scope, server_receive, server_send)

    assert seen["session_key"] == key
    assert seen["user"] == user.username
    assert seen["send"] is server_send


async def test_without_a_cookie_the_socket_is_anonymous():
    seen: dict = {}
    scope = {"type": "websocket", "path": "/ws/board/", "headers": []}

    await socket_auth_stack(capturing_app(seen))(scope, server_receive, server_send)

    assert seen["session_key"] is None
    assert seen["user"] == ""  # AnonymousUser


async def test_http_keeps_channels_session_saving_send():
    # Only sockets are routed through this stack (cad/asgi.py); anything else gets channels'
    # wrapper, which saves a modified session on http.response.start.
    seen: dict = {}
    scope = {"type": "http", "path": "/", "headers": []}

    await socket_auth_stack(capturing_app(seen))(scope, server_receive, server_send)

    assert seen["send"] is not server_send
