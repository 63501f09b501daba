"""A board event framed once for every desk, and a socket's frames written once a turn.

With 500 desks every change is sent 500 times by one daphne. Through ASGI each send went
`websocket.send` → daphne's `handle_reply` → autobahn's `sendMessage`, which encodes the text
and builds the same WebSocket frame again for every desk, and then Twisted's `write`, which
only buffers the bytes and registers the socket with the event loop to be written on its next
turn, and unregisters it once written: two `epoll_ctl` calls and the selector's bookkeeping per
frame (about 20 % of daphne's interpreter time at 500 desks, docs/benchmarks.md, stop 39).

Here (decision 0039):

- a frame is prepared once per text (autobahn's own `PreparedMessage`, its API for a broadcast)
  and kept while the hub hands that event to every desk (`SHARED_KEPT` texts);
- the frames a socket is sent in one turn of the event loop go out together at the turn's end
  (`Outgoing`), with Twisted's own `writeSomeData` when its buffer and autobahn's queue are
  empty, as asyncio's transports write: no registration with the event loop, and one system
  call per socket per turn. Whatever the kernel does not take goes into Twisted's buffer exactly
  as before (so `send_buffer.unsent_bytes` still sees it and a desk that stops reading is still
  cut off). A socket with anything waiting keeps Twisted's path, so bytes never overtake bytes.

`expose_frame_writer()` (called by cad/asgi.py) has daphne put a writer for the socket in its
scope's `extensions` (daphne_extensions.py), beside the unsent-bytes reader. Where there is none
(the tests' communicators, another server), or the connection is not open, the consumer sends
through ASGI as before.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

from autobahn.websocket.protocol import PreparedMessage, WebSocketProtocol

from cad.live.daphne_extensions import add_socket_extension

logger = logging.getLogger(__name__)

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
    """Send `text` as one frame on daphne's protocol, with whatever else this turn of the event
    loop sends it (`Outgoing`); False, having sent nothing, when the connection is not open (the
    caller then goes through ASGI, which accepts or refuses)."""
    if not is_open(protocol):
        return False
    frame = frame_for(text, shared=shared)
    if protocol._perMessageCompress is not None:
        protocol.sendPreparedMessage(frame)  # compressed per connection: autobahn's own way
        return True
    try:
        OUTGOING.add(protocol, frame.payloadHybi)
    except RuntimeError:  # no event loop running (a caller outside daphne): at once
        _send(protocol, [frame.payloadHybi])
    return True


def is_open(protocol: Any) -> bool:
    return protocol is not None and protocol.state == WebSocketProtocol.STATE_OPEN


class Outgoing:
    """Frames for each connection written during one turn of the event loop, sent at its end:
    one system call per connection per turn, however many events the hub handed out in it.

    A desk keeping up gets each event as soon as the hub has handed it to every desk (the turn
    ends with the hand-out). A process that is behind hands out several layer messages in one
    turn (they wait in the layer's queue), and each desk then gets them in one write, as
    Twisted's own buffering joined them before (decision 0039)."""

    def __init__(self) -> None:
        self.frames: dict[Any, list[bytes]] = {}  # protocol -> its frames, in order
        # The loop whose turn will send them; None when nothing is scheduled.
        self.loop: asyncio.AbstractEventLoop | None = None

    def add(self, protocol: Any, data: bytes) -> None:
        loop = asyncio.get_running_loop()  # RuntimeError outside one
        if loop is not self.loop:
            # (A different loop only in tests, which run one per test: the new one sends all.)
            loop.call_soon(self.send_all)
            self.loop = loop
        waiting = self.frames.get(protocol)
        if waiting is None:
            self.frames[protocol] = [data]
        else:
            waiting.append(data)

    def send_all(self) -> None:
        self.loop = None
        frames, self.frames = self.frames, {}
        for protocol, waiting in frames.items():
            try:
                _send(protocol, waiting)
            except Exception:  # noqa: BLE001  (one broken socket must not stop the others)
                logger.exception("board frames could not be written to one socket")

    def send(self, protocol: Any) -> None:
        """This connection's frames now: before anything goes to it another way (a close)."""
        waiting = self.frames.pop(protocol, None)
        if waiting:
            _send(protocol, waiting)


OUTGOING = Outgoing()


def _send(protocol: Any, frames: list[bytes]) -> None:
    """Write the frames: at once when nothing else waits for the connection, else behind what
    does (Twisted's buffer, autobahn's queue), so bytes never overtake bytes."""
    if protocol.state != WebSocketProtocol.STATE_OPEN:
        return  # closed since: nothing may follow its close frame, and the desk resyncs
    data = frames[0] if len(frames) == 1 else b"".join(frames)
    transport = protocol.transport
    if not protocol.send_queue and _idle(transport):
        written = transport.writeSomeData(data)
        if isinstance(written, int):
            protocol.trafficStats.outgoingOctetsWireLevel += len(data)
            if written < len(data):
                transport.write(data[written:])  # the rest when the kernel takes it
            return
        # The connection failed under us: Twisted's own write finds that out and closes it.
    protocol.sendData(data)


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


def writer(scope: Mapping[str, Any]) -> Writer | None:
    """The scope's frame writer, if the server gave one."""
    found = scope.get("extensions", {}).get(EXTENSION)
    usable = callable(found) and hasattr(found, "flush") and hasattr(found, "ready")
    return found if usable else None


class Writer:
    """One socket's way to its connection: `writer(text, shared=...)` as `write_text`, and
    `flush()` before anything goes to it through ASGI (a close), so nothing overtakes it."""

    __slots__ = ("connection",)

    def __init__(self, connection: Callable[[], Any]):
        self.connection = connection

    def __call__(self, text: str, *, shared: bool = False) -> bool:
        return write_text(self.connection(), text, shared=shared)

    def ready(self) -> bool:
        """Whether a text written now is taken (the connection is open)."""
        return is_open(self.connection())

    def flush(self) -> None:
        protocol = self.connection()
        if protocol is not None:
            OUTGOING.send(protocol)


def expose_frame_writer() -> None:
    """Give every socket daphne opens from now on a writer in its scope; safe to call twice."""
    add_socket_extension(EXTENSION, Writer)
