"""What daphne tells a board socket beyond ASGI, through its scope's `extensions`.

ASGI gives an application no way to see its connection's transport. daphne builds each socket's
scope in `Server.create_application`; wrapping it (from cad/asgi.py, at start-up) lets Beacon put
small functions there that reach daphne's protocol for that one connection: how much it still
holds unsent (send_buffer.py) and a writer of frames (shared_frames.py). Where the server is
another, or a test's communicator, the scope has none of them and the consumer goes through ASGI.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from daphne.server import Server


def add_socket_extension(name: str, make: Callable[[Callable[[], Any]], Any]) -> None:
    """Have daphne put `make(connection)` under `name` in every WebSocket scope it builds from
    now on; `connection()` is daphne's protocol, or None once it is gone (the scope must not
    keep a closed connection alive). Safe to call twice with the same name."""
    original = Server.create_application
    names: frozenset[str] = getattr(original, "socket_extensions", frozenset())
    if name in names:
        return

    def create_application(self, protocol, scope):
        if scope.get("type") == "websocket":
            scope.setdefault("extensions", {})[name] = make(weakref.ref(protocol))
        return original(self, protocol, scope)

    create_application.socket_extensions = names | {name}  # type: ignore[attr-defined]
    Server.create_application = create_application


def installed(name: str) -> bool:
    return name in getattr(Server.create_application, "socket_extensions", frozenset())
