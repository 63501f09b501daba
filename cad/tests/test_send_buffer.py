"""cad/live/send_buffer.py: a board socket can tell how much daphne still holds for its desk.

daphne keeps in its own memory whatever the kernel has not taken yet; a desk that stops reading
would make that grow without a bound. The consumer reads the figure through its scope and
closes such a socket (cad/tests/test_consumer_board.py; through daphne itself,
tests/test_board_stops_reading.py).
"""

import gc

import pytest
from daphne.server import Server

import cad.asgi  # noqa: F401  (installs the reader, as daphne's start-up does)
from cad.live import daphne_extensions, send_buffer


class Transport:
    """Twisted's FileDescriptor's write buffer: `dataBuffer[offset:]` unsent, and `_tempDataLen`
    bytes written since, not yet joined to it."""

    def __init__(self, buffered: bytes = b"", offset: int = 0, temp: int = 0):
        self.dataBuffer, self.offset, self._tempDataLen = buffered, offset, temp


class Protocol:
    def __init__(self, transport=None):
        self.transport = transport


def test_unsent_counts_the_buffer_past_its_offset_and_what_waits_to_join_it():
    assert send_buffer.unsent_bytes(Protocol(Transport(b"x" * 100, offset=40, temp=25))) == 85
    assert send_buffer.unsent_bytes(Protocol(Transport())) == 0


def test_a_connection_gone_or_without_a_transport_has_nothing_unsent():
    assert send_buffer.unsent_bytes(None) == 0
    assert send_buffer.unsent_bytes(Protocol()) == 0


def test_daphne_gives_each_socket_a_reader_of_its_own_connection(monkeypatch):
    made = []
    monkeypatch.setattr(Server, "create_application",
                        lambda self, protocol, scope: made.append(scope) or "queue")  # fmt: skip
    send_buffer.expose_unsent_bytes()
    send_buffer.expose_unsent_bytes()  # a second call must not wrap twice
    slow, quick = Protocol(Transport(b"y" * 300_000)), Protocol(Transport())
    assert Server.create_application(None, slow, {"type": "websocket"}) == "queue"
    Server.create_application(None, quick, {"type": "websocket", "extensions": {"x": 1}})
    Server.create_application(None, quick, {"type": "http"})
    slow_reader, quick_reader = (send_buffer.reader(scope) for scope in made[:2])
    assert slow_reader() == 300_000 and quick_reader() == 0
    assert made[1]["extensions"]["x"] == 1  # the server's own extensions are kept
    assert send_buffer.reader(made[2]) is None  # plain HTTP has no socket to wait on
    # The scope does not keep a closed connection alive; its reader then reads nothing.
    del slow
    gc.collect()
    assert slow_reader() == 0


def test_the_asgi_application_installs_the_reader():
    assert daphne_extensions.installed(send_buffer.EXTENSION)


@pytest.mark.parametrize(
    "scope", [{}, {"extensions": {}}, {"extensions": {send_buffer.EXTENSION: 3}}]
)
def test_a_scope_from_elsewhere_has_no_reader(scope):
    assert send_buffer.reader(scope) is None
