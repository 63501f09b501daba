"""bench/board_scaleout.py's proxy (issue 22, point 4): the nginx it generates spreads WebSockets
over its upstreams and passes the upgrade and the Origin header through, and sends everything
else to gunicorn when there is one (decision 0029).

The bench itself is not run here: at --small size it took 46 s on the shared 2-core machine,
22 s of it migrating its throw-away database, beyond what a bench check may cost in the suite
(docs/benchmarks.md says how to run it). This checks the part a CI machine can check quickly.
"""

import asyncio
import http.server
import importlib
import threading
import urllib.request

import pytest
import websockets

from tests.servers import ROOT, free_port


class App(http.server.BaseHTTPRequestHandler):
    """Stands in for gunicorn: says who answered and which path it was asked for."""

    protocol_version = "HTTP/1.1"  # keep-alive, as nginx's upstream connections expect

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = f"app {self.path} {self.headers['Host']}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_the_generated_proxy_spreads_sockets_and_keeps_their_origin(monkeypatch):
    # Only for this import: bench/ holds modules (stats, replay) that would shadow others.
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    board_scaleout = importlib.import_module("board_scaleout")
    if not board_scaleout.nginx_binary():
        pytest.skip("needs nginx (Debian: apt-get install nginx-light; .ci/run installs it)")
    ports = [free_port(), free_port()]
    seen: list[tuple[int, str, str, str]] = []
    sent: list[str] = []
    rest: list[str] = []
    app = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), App)
    threading.Thread(target=app.serve_forever, daemon=True).start()

    async def main() -> None:
        def handler_for(port):
            async def handler(ws):
                headers = ws.request.headers
                seen.append((port, ws.request.path, headers["Origin"], headers["Host"]))
                await ws.send("hello")
                await ws.wait_closed()

            return handler

        async with (
            websockets.serve(handler_for(ports[0]), "127.0.0.1", ports[0]),
            websockets.serve(handler_for(ports[1]), "127.0.0.1", ports[1]),
        ):
            app_port = app.server_address[1]
            with board_scaleout.nginx(ports, "1", [], app=app_port) as front:
                sent.append(f"http://127.0.0.1:{front}")
                # REST through the proxy reaches gunicorn's stand-in, not a daphne.
                for _ in range(2):
                    request = urllib.request.Request(
                        f"{sent[0]}/api/v1/units/U1/status/", data=b"{}", method="POST"
                    )
                    answer = await asyncio.to_thread(urllib.request.urlopen, request, timeout=10)
                    rest.append(answer.read().decode())
                origin = {"Origin": sent[0]}
                sockets = []
                for _ in range(4):
                    ws = await websockets.connect(
                        f"ws://127.0.0.1:{front}/ws/board/", additional_headers=origin
                    )
                    assert await ws.recv() == "hello"
                    sockets.append(ws)
                for ws in sockets:
                    await ws.close()

    try:
        asyncio.run(main())
    finally:
        app.shutdown()
    # Host passes through (Django's ALLOWED_HOSTS and Channels' origin check read it).
    host = sent[0].removeprefix("http://")
    assert rest == [f"app /api/v1/units/U1/status/ {host}"] * 2
    # least_conn: four sockets opened one after another, two on each daphne.
    assert sorted(port for port, *_ in seen) == sorted(ports * 2)
    assert {tuple(request) for _, *request in seen} == {("/ws/board/", sent[0], host)}
