"""Channels' authentication stack for WebSockets, without a session check on every frame sent.

`channels.auth.AuthMiddlewareStack` wraps each socket's `send` in channels' session wrapper,
which saves the session and sets its cookie on `http.response.start`, a message a WebSocket never
sends. But before it looks at the message's type it reads the session's `modified` and
`is_empty()` through Django's LazyObject, for every frame to every socket: about 9 % of daphne's
CPU fanning 20 changes a second out to 500 desks (py-spy, docs/benchmarks.md "stop 23").

Here the session is resolved from the cookie exactly as channels does it, and the socket gets
daphne's `send` itself. Sockets only read their session (cad/live/consumers.py reads it afresh
from the store to re-check it); nothing over a socket can save one or set a cookie.
"""

from __future__ import annotations

from typing import Any

from channels.auth import AuthMiddleware
from channels.sessions import CookieMiddleware, InstanceSessionWrapper, SessionMiddleware


class SocketSessionMiddleware(SessionMiddleware):
    """channels' SessionMiddleware for the websocket protocol: the scope's session, no wrapped
    send."""

    async def __call__(self, scope, receive, send):
        if scope["type"] != "websocket":
            return await super().__call__(scope, receive, send)
        wrapper = InstanceSessionWrapper(scope, send)
        await wrapper.resolve_session()
        # channels types `inner` as an ASGI 2 or 3 application; here it is always ASGI 3 (the
        # auth middleware, as in AuthMiddlewareStack).
        application: Any = self.inner
        return await application(wrapper.scope, receive, send)


def socket_auth_stack(inner):
    """As `channels.auth.AuthMiddlewareStack`: cookies, then the session, then the user."""
    return CookieMiddleware(SocketSessionMiddleware(AuthMiddleware(inner)))
