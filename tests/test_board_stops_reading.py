"""A desk that stops reading is cut off by daphne as it is run, and nothing else is.

daphne keeps whatever the kernel will not take for a socket in its own memory; a desk that stops
reading would grow it without a bound (cad/live/send_buffer.py). Here a desk asks for all-London
snapshots of about a megabyte each and reads none of them: once daphne holds more than the limit
for it, the socket is closed, what was asked for after that is never sent, and daphne goes on
serving the next desk.
"""

import json
import socket
import time
from urllib.parse import urlsplit

import pytest
from django.test import Client
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.factories import make_units_in_a_row
from tests.servers import daphne_server, subprocess_database_url

UNITS = 3_000
ASKED = 40  # snapshots asked for: about 40 MB, ten times the limit below
LIMIT = 4 * 1024 * 1024
FROZEN_S = 8

pytestmark = pytest.mark.django_db(transaction=True)


def _desk(base: str, cookie: str, *, receive_buffer: int | None = None, **options):
    url = base.replace("http://", "ws://") + "/ws/board/"
    sock = None
    if receive_buffer is not None:
        # Set before connecting, so the kernel does not grow it (here it may reach 32 MB, which
        # would hold the whole test's output and leave daphne nothing to keep).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        parts = urlsplit(base)
        sock.connect((parts.hostname, parts.port))
    return connect(url, sock=sock, additional_headers={"Cookie": f"sessionid={cookie}",
                   "Origin": base}, max_size=2**24, open_timeout=30, **options)  # fmt: skip


def test_a_desk_that_stops_reading_is_closed_and_the_server_goes_on(postgres, geography, make_user):
    make_units_in_a_row(geography["kentish"], UNITS, prefix="RD", issi_digit="7")
    client = Client()
    client.force_login(make_user("despatcher", username="frozen_desk"))
    cookie = client.cookies["sessionid"].value
    env = {"DATABASE_URL": subprocess_database_url(), "REDIS_URL": "", "LOG_LEVEL": "WARNING",
           "DJANGO_SETTINGS_MODULE": "cad.settings",
           "BOARD_SEND_BUFFER_LIMIT_BYTES": str(LIMIT)}  # fmt: skip
    with daphne_server(env) as base:
        # Reads one frame into its queue, then leaves the rest in the kernel: a frozen tab.
        with _desk(base, cookie, receive_buffer=64 * 1024, max_queue=1) as frozen:
            assert json.loads(frozen.recv(timeout=30))["type"] == "hello"
            for _ in range(ASKED):
                frozen.send(json.dumps({"type": "snapshot"}))
            # Frozen while daphne answers: about 50 ms a snapshot on a quick machine. A slower
            # one has still sent several times the limit's worth by the end of the wait.
            time.sleep(FROZEN_S)
            received, closed = 0, None
            try:
                while True:
                    message = json.loads(frozen.recv(timeout=15))
                    assert message["type"] == "snapshot"
                    received += 1
            except ConnectionClosed as error:
                closed = error
            except TimeoutError:
                pass  # everything came and the socket stayed open: not cut off
        assert closed is not None
        assert received < ASKED  # the rest were never sent
        # The same daphne serves the next desk (it reconnects and resyncs, as the page does).
        with _desk(base, cookie) as next_desk:
            assert json.loads(next_desk.recv(timeout=30))["type"] == "hello"
            next_desk.send(json.dumps({"type": "snapshot"}))
            snapshot = json.loads(next_desk.recv(timeout=60))
    assert len(snapshot["data"]["units"]) >= UNITS
