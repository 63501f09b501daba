"""How much of a board socket's output daphne still holds, so a desk that stops reading is cut off.

daphne hands each frame to Twisted, which writes what the kernel takes and keeps the rest in
daphne's memory, without a bound. A desk that stops reading (a browser tab frozen by its
machine, a link that went dead without closing) would leave every later frame there, and an
all-London desk is sent about 2,000 positions a second: daphne's memory, shared by every desk
of the process, would grow until the machine ran out. So a board socket with more than
BOARD_SEND_BUFFER_LIMIT_BYTES unsent is closed (cad/live/consumers.py); its desk reconnects and
resyncs from the last event it holds, as after any drop, and daphne lets the buffer go. The
limit is far above what a desk that is merely slow reaches: in the soak on a starved machine
the all-London socket peaked near 3 MB (docs/benchmarks.md, stop 33).

ASGI has no way to ask, so `expose_unsent_bytes()` (called by cad/asgi.py) has daphne put a
reader for the socket's Twisted transport in its scope's `extensions` (daphne_extensions.py).
Elsewhere (tests' communicators, another server) there is none and nothing is cut.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from cad.live.daphne_extensions import add_socket_extension

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
    add_socket_extension(EXTENSION, lambda connection: lambda: unsent_bytes(connection()))
