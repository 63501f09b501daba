"""How much of a board socket's output daphne still holds: so a slow desk's positions wait.

daphne hands a frame to Twisted, which writes what the kernel takes and keeps the rest in the
process. A desk that reads slower than its board changes (a congested link, a busy browser, the
soak's all-London desk on a machine at full load) then leaves frame after frame in daphne's
memory, and daphne's RSS keeps the high-water mark (docs/benchmarks.md, stop 33: the all-London
socket's kernel buffers full for 20 s at a time while every other socket kept up). Positions
are the bulk of that and only the newest per unit matters, so while a socket has more than
BOARD_SEND_BUFFER_BYTES unsent the consumer keeps holding them (cad/live/consumers.py): a slow
desk then costs at most one position per unit, and gets the newest when it catches up.

ASGI has no way to ask, so `expose_unsent_bytes()` (called by cad/asgi.py) wraps daphne's
`Server.create_application` to put a reader for the socket's Twisted transport in its scope's
`extensions`. Elsewhere (tests' communicators, another server) there is none and nothing is held.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping
from typing import Any

from daphne.server import Server

EXTENSION = "beacon.unsent_bytes"


def unsent_bytes(protocol: Any) -> int:
    """Bytes written to this connection and not yet taken by the kernel. Twisted's
    FileDescriptor keeps them as `dataBuffer[offset:]` and, not yet joined to it,
    `_tempDataLen` bytes (twisted/internet/abstract.py)."""
    transport = getattr(protocol, "transport", None)
    if transport is None:
        return 0
    buffered = getattr(transport, "dataBuffer", b"")
    return len(buffered) - getattr(transport, "offset", 0) + getattr(transport, "_tempDataLen", 0)


def reader(scope: Mapping[str, Any]) -> Callable[[], int] | None:
    """The scope's reader of its socket's unsent bytes, if the server gave one."""
    found = scope.get("extensions", {}).get(EXTENSION)
    return found if callable(found) else None


def expose_unsent_bytes() -> None:
    """Give every socket daphne opens from now on a reader in its scope; safe to call twice."""
    original = Server.create_application
    if getattr(original, "exposes_unsent_bytes", False):
        return

    def create_application(self, protocol, scope):
        if scope.get("type") == "websocket":
            connection = weakref.ref(protocol)  # a scope must not keep a closed one alive
            scope.setdefault("extensions", {})[EXTENSION] = lambda: unsent_bytes(connection())
        return original(self, protocol, scope)

    create_application.exposes_unsent_bytes = True  # type: ignore[attr-defined]
    Server.create_application = create_application
