"""cad/live/shared_frames.py: one frame per event for every desk, written at once when the
socket has nothing waiting, and never ahead of bytes that are.

The connection here is real Twisted and autobahn (a TCP `Connection` on one end of a socket
pair, autobahn's server protocol after a real handshake); the other end is read by the
`websockets` library's own client protocol, so the frames are checked by a parser that is not
autobahn's. Only the reactor is a stand-in: it records which sockets Twisted asked it to watch
for writing, which is what the direct write saves.
"""

import asyncio
import socket
from collections.abc import Iterator
from typing import Any, cast

import pytest
from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from daphne.server import Server
from twisted.internet import tcp
from twisted.internet.address import IPv4Address
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.uri import parse_uri

import cad.asgi  # noqa: F401  (installs the writer, as daphne's start-up does)
from cad.live import daphne_extensions, send_buffer, shared_frames


class Reactor:
    """What Twisted asks of a reactor while writing: the sockets it wants to write."""

    def __init__(self):
        self.writers: list = []

    def addWriter(self, writer):  # noqa: N802  (Twisted's names)
        if writer not in self.writers:
            self.writers.append(writer)

    def removeWriter(self, writer):  # noqa: N802
        if writer in self.writers:
            self.writers.remove(writer)

    def addReader(self, reader):  # noqa: N802
        pass

    def removeReader(self, reader):  # noqa: N802
        pass

    def callLater(self, *args, **kwargs):  # noqa: N802  (autobahn's timers: none fire here)
        raise AssertionError("no timer is expected in these tests")


class Connection(tcp.Connection):
    def getPeer(self):  # noqa: N802
        return IPv4Address("TCP", "127.0.0.1", 50000)

    def getHost(self):  # noqa: N802
        return IPv4Address("TCP", "127.0.0.1", 8000)


class Desk:
    """A server socket (Twisted + autobahn) and the browser's end of it (websockets)."""

    def __init__(self, *, send_buffer_bytes: int | None = None):
        self.server_end, self.browser_end = socket.socketpair()
        if send_buffer_bytes is not None:
            self.server_end.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer_bytes)
            self.browser_end.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, send_buffer_bytes)
        self.browser_end.setblocking(False)
        factory = WebSocketServerFactory()
        factory.protocol = WebSocketServerProtocol
        # autobahn's own protocol (Twisted's factory types it loosely).
        self.protocol: Any = cast(Any, factory.buildProtocol(None))
        self.reactor = Reactor()
        self.transport = Connection(self.server_end, self.protocol, cast(Any, self.reactor))
        self.transport.connected = 1
        self.protocol.makeConnection(self.transport)
        self.browser = ClientProtocol(parse_uri("ws://127.0.0.1:8000/ws/board/"))
        self.browser.send_request(self.browser.connect())
        self.protocol.dataReceived(b"".join(self.browser.data_to_send()))
        self.received()  # the handshake's answer
        assert self.protocol.state == self.protocol.STATE_OPEN

    def flush(self) -> None:
        """One turn of the reactor for this socket, if Twisted asked for one."""
        if self.transport in self.reactor.writers:
            self.transport.doWrite()

    def received(self) -> list:
        """Everything the browser end can read now, Twisted writing what it holds as the kernel
        makes room; as websockets parses it."""
        got: list = []
        while True:
            self.flush()
            try:
                data = self.browser_end.recv(1 << 20)
            except BlockingIOError:
                if self.transport in self.reactor.writers:
                    continue
                return got
            self.browser.receive_data(data)
            got.extend(self.browser.events_received())

    def texts(self) -> list[str]:
        return [
            bytes(event.data).decode()
            for event in self.received()
            if isinstance(event, Frame) and event.opcode == Opcode.TEXT
        ]

    def close(self) -> None:
        self.server_end.close()
        self.browser_end.close()


@pytest.fixture
def desk() -> Iterator[Desk]:
    made = Desk()
    yield made
    made.close()


def test_an_idle_socket_is_written_at_once_without_the_reactor(desk):
    assert shared_frames.write_text(desk.protocol, '{"seq": 1}', shared=True)
    # Twisted's own write would only have buffered it and asked the reactor for a turn.
    assert desk.reactor.writers == []
    assert send_buffer.unsent_bytes(desk.protocol) == 0
    assert desk.texts() == ['{"seq": 1}']
    assert desk.protocol.trafficStats.outgoingOctetsWireLevel > len('{"seq": 1}')


def calls_of(desk: Desk) -> list[int]:
    """The sizes Twisted's `writeSomeData` was asked to write on the desk's connection."""
    sizes: list[int] = []
    real = desk.transport.writeSomeData

    def counted(data):
        sizes.append(len(data))
        return real(data)

    desk.transport.writeSomeData = counted  # type: ignore[method-assign]
    return sizes


async def test_frames_written_in_one_turn_go_out_together_at_its_end(desk):
    sizes = calls_of(desk)
    for text in ("a", "b", "c"):
        assert shared_frames.write_text(desk.protocol, text, shared=True)
    with pytest.raises(BlockingIOError):
        desk.browser_end.recv(1024)  # not yet: the hub may hand out more in this turn
    await asyncio.sleep(0)  # the turn ends
    assert len(sizes) == 1  # one system call for the three
    assert desk.reactor.writers == []
    assert desk.texts() == ["a", "b", "c"]


async def test_a_flush_sends_at_once_so_a_close_frame_comes_after(desk):
    write = shared_frames.Writer(lambda: desk.protocol)
    assert write("last words", shared=True)
    write.flush()
    desk.protocol.sendClose(code=4408)
    events = desk.received()
    assert [type(event) for event in events] == [Frame, Frame]
    assert bytes(events[0].data) == b"last words" and events[1].opcode == Opcode.CLOSE


async def test_a_connection_closed_before_the_turn_ends_is_sent_nothing_after_its_close(desk):
    assert shared_frames.write_text(desk.protocol, "too late", shared=True)
    desk.protocol.sendClose(code=4401)
    close_frame = send_buffer.unsent_bytes(desk.protocol)  # waiting in Twisted's buffer
    await asyncio.sleep(0)
    assert send_buffer.unsent_bytes(desk.protocol) == close_frame  # nothing joined it
    events = desk.received()
    assert [event.opcode for event in events] == [Opcode.CLOSE]


async def test_one_socket_failing_to_write_does_not_stop_the_others(desk, caplog):
    broken = Desk()
    try:

        def fails(data):
            raise RuntimeError("a transport in a state nobody expected")

        broken.transport.writeSomeData = fails
        assert shared_frames.write_text(broken.protocol, "event", shared=True)
        assert shared_frames.write_text(desk.protocol, "event", shared=True)
        await asyncio.sleep(0)
        assert desk.texts() == ["event"]
        assert "could not be written to one socket" in caplog.text
    finally:
        broken.close()


def test_a_text_never_overtakes_bytes_that_wait_in_twisted(desk):
    desk.protocol.sendMessage(b"first")  # Twisted's path: buffered until the reactor's turn
    assert desk.reactor.writers == [desk.transport]
    assert shared_frames.write_text(desk.protocol, "second", shared=True)
    with pytest.raises(BlockingIOError):
        desk.browser_end.recv(1024)  # nothing went ahead of "first"
    assert desk.texts() == ["first", "second"]


def test_what_the_kernel_will_not_take_waits_in_twisted_and_is_counted_as_unsent():
    desk = Desk(send_buffer_bytes=16 * 1024)
    try:
        big = "x" * 1_000_000
        assert shared_frames.write_text(desk.protocol, big)
        waiting = send_buffer.unsent_bytes(desk.protocol)
        assert 0 < waiting < len(big)  # part went at once, the rest is Twisted's to write
        assert desk.reactor.writers == [desk.transport]
        # A turn of the reactor with the browser not reading: what is left moves into Twisted's
        # joined buffer (`dataBuffer`), the list it was in is empty.
        desk.transport.doWrite()
        assert desk.transport._tempDataLen == 0 and send_buffer.unsent_bytes(desk.protocol) > 0
        # The browser reads some before the reactor's next turn: the kernel has room again, but
        # Twisted still holds the rest of the big frame, so "after" must wait behind it.
        desk.browser.receive_data(desk.browser_end.recv(64 * 1024))
        waiting = send_buffer.unsent_bytes(desk.protocol)
        assert shared_frames.write_text(desk.protocol, "after", shared=True)
        assert send_buffer.unsent_bytes(desk.protocol) > waiting  # queued behind, not sent
        assert desk.texts() == [big, "after"]
    finally:
        desk.close()


def test_a_connection_that_is_not_open_is_left_to_asgi(desk):
    desk.protocol.state = desk.protocol.STATE_CLOSING
    assert not shared_frames.write_text(desk.protocol, "late", shared=True)
    assert not shared_frames.write_text(None, "gone")
    desk.protocol.state = desk.protocol.STATE_OPEN
    assert desk.texts() == []


def test_a_shared_text_is_framed_once_and_few_are_kept(monkeypatch):
    monkeypatch.setattr(shared_frames, "_frames", {})
    text = '{"seq": 7, "type": "unit.status"}'
    assert shared_frames.frame_for(text, shared=True) is shared_frames.frame_for(text, shared=True)
    alone = shared_frames.frame_for("a snapshot", shared=False)
    assert alone is not shared_frames.frame_for("a snapshot", shared=False)
    assert "a snapshot" not in shared_frames._frames
    for n in range(shared_frames.SHARED_KEPT + 5):
        shared_frames.frame_for(f"event {n}", shared=True)
    assert len(shared_frames._frames) == shared_frames.SHARED_KEPT
    assert text not in shared_frames._frames and "event 5" in shared_frames._frames


def test_every_desk_gets_the_same_event_from_one_frame(monkeypatch):
    monkeypatch.setattr(shared_frames, "_frames", {})
    built = []
    original = shared_frames.PreparedMessage

    def counted(*args):
        built.append(args)
        return original(*args)

    monkeypatch.setattr(shared_frames, "PreparedMessage", counted)
    desks = [Desk() for _ in range(3)]
    try:
        text = '{"seq": 9, "type": "incident.created", "data": {"reference": "CAD 0001"}}'
        for each in desks:
            assert shared_frames.write_text(each.protocol, text, shared=True)
        assert len(built) == 1
        assert [each.texts() for each in desks] == [[text]] * 3
    finally:
        for each in desks:
            each.close()


def test_daphne_gives_each_socket_a_writer_of_its_own_connection(monkeypatch, desk):
    made = []
    monkeypatch.setattr(Server, "create_application",
                        lambda self, protocol, scope: made.append(scope) or "queue")  # fmt: skip
    shared_frames.expose_frame_writer()
    send_buffer.expose_unsent_bytes()
    assert Server.create_application(None, desk.protocol, {"type": "websocket"}) == "queue"
    Server.create_application(None, desk.protocol, {"type": "http"})
    assert len(made) == 2
    write = shared_frames.writer(made[0])
    assert write is not None and send_buffer.reader(made[0]) is not None
    assert shared_frames.writer(made[1]) is None  # plain HTTP has no socket to write
    assert write("through the scope", shared=True)
    assert desk.texts() == ["through the scope"]


def test_an_extension_added_twice_is_made_once_per_socket(monkeypatch):
    monkeypatch.setattr(Server, "create_application", lambda self, protocol, scope: scope)
    made = []
    for _ in range(2):
        daphne_extensions.add_socket_extension("test.x", lambda connection: made.append(1) or 1)
    scope = Server.create_application(None, Reactor(), {"type": "websocket"})  # any protocol
    assert made == [1] and scope["extensions"] == {"test.x": 1}


def test_the_asgi_application_installs_both_extensions():
    assert daphne_extensions.installed(shared_frames.EXTENSION)
    assert daphne_extensions.installed(send_buffer.EXTENSION)


@pytest.mark.parametrize(
    "scope", [{}, {"extensions": {}}, {"extensions": {shared_frames.EXTENSION: 3}}]
)
def test_a_scope_from_elsewhere_has_no_writer(scope):
    assert shared_frames.writer(scope) is None
