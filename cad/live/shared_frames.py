"""A board event framed once for every desk, and written to a socket that has nothing waiting.

With 500 desks every change is sent 500 times by one daphne. Through ASGI each send went
`websocket.send` → daphne's `handle_reply` → autobahn's `sendMessage`, which encodes the text
and builds the same WebSocket frame again for every desk, and then Twisted's `write`, which
only buffers the bytes and registers the socket with the event loop to be written on its next
turn, and unregisters it once written: two `epoll_ctl` calls and the selector's bookkeeping per
frame (about 20 % of daphne's interpreter time at 500 desks, docs/benchmarks.md, stop 39).

Here (decision 0039):

- a frame is prepared once per text (autobahn's own `PreparedMessage`, its API for a broadcast)
  and kept while the hub hands that event to every desk (`SHARED_KEPT` texts);
- a socket whose Twisted buffer and autobahn queue are empty is written at once with Twisted's
  own `writeSomeData`, as asyncio's transports do; whatever the kernel does not take goes into
  Twisted's buffer exactly as before (so `send_buffer.unsent_bytes` still sees it and a desk that
  stops reading is still cut off). A socket with anything waiting keeps Twisted's path, so bytes
  never overtake bytes.

`expose_frame_writer()` (called by cad/asgi.py) has daphne put a writer for the socket in its
scope's `extensions` (daphne_extensions.py), beside the unsent-bytes reader. Where there is none
(the tests' communicators, another server), or the connection is not open, the consumer sends
through ASGI as before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from autobahn.websocket.protocol import PreparedMessage, WebSocketProtocol

from cad.live.daphne_extensions import add_socket_extension

EXTENSION = "beacon.send_text"
# Texts whose frames are kept: the hub hands one event to every desk before the next, so a few
# are enough; more would only hold memory.
SHARED_KEPT = 16

_frames: dict[str, PreparedMessage] = {}


def frame_for(text: str, *, shared: bool) -> PreparedMessage:
    """The text's frame; kept for the next desk when `shared` (the same event to every desk)."""
    frame = _frames.get(text) if shared else None
    if frame is None:
        frame = PreparedMessage(text.encode("utf-8"), False, False, False)
        if shared:
            if len(_frames) >= SHARED_KEPT:
                del _frames[next(iter(_frames))]  # the oldest: dicts keep insertion order
            _frames[text] = frame
    return frame


def write_text(protocol: Any, text: str, *, shared: bool = False) -> bool:
    """Send `text` as one frame on daphne's protocol; False, having sent nothing, when the
    connection is not open (the caller then goes through ASGI, which accepts or refuses)."""
    if protocol is None or protocol.state != WebSocketProtocol.STATE_OPEN:
        return False
    frame = frame_for(text, shared=shared)
    transport = protocol.transport
    if protocol._perMessageCompress is None and not protocol.send_queue and _idle(transport):
        data = frame.payloadHybi
        written = transport.writeSomeData(data)
        if isinstance(written, int):
            protocol.trafficStats.outgoingOctetsWireLevel += len(data)
            if written < len(data):
                transport.write(data[written:])  # the rest when the kernel takes it
            return True
        # The connection failed under us: Twisted's own write finds that out and closes it.
    protocol.sendPreparedMessage(frame)
    return True


def _idle(transport: Any) -> bool:
    """A plain TCP transport with nothing of its own waiting to be written (Twisted's
    FileDescriptor: `dataBuffer[offset:]` and `_tempDataBuffer`). A TLS transport has no
    `writeSomeData` and always goes through its own `write`."""
    return (
        hasattr(transport, "writeSomeData")
        and transport.connected
        and not transport.disconnecting
        and not getattr(transport, "_writeDisconnected", True)
        and not transport._tempDataLen
        and len(transport.dataBuffer) == transport.offset
    )


def writer(scope: Mapping[str, Any]) -> Callable[..., bool] | None:
    """The scope's frame writer, if the server gave one."""
    found = scope.get("extensions", {}).get(EXTENSION)
    return found if callable(found) else None


def expose_frame_writer() -> None:
    """Give every socket daphne opens from now on a writer in its scope; safe to call twice."""

    def make(connection: Callable[[], Any]) -> Callable[..., bool]:
        def send_text(text: str, *, shared: bool = False) -> bool:
            return write_text(connection(), text, shared=shared)

        return send_text

    add_socket_extension(EXTENSION, make)
