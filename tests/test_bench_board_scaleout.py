"""bench/board_scaleout.py's proxy (issue 22, point 4): the nginx it generates spreads WebSockets
over its upstreams and passes the upgrade and the Origin header through.

The bench itself is not run here: at --small size it took 46 s on the shared 2-core machine,
22 s of it migrating its throw-away database, beyond what a bench check may cost in the suite
(docs/benchmarks.md says how to run it). This checks the part a CI machine can check quickly.
"""

import asyncio
import importlib

import pytest
import websockets

from tests.servers import ROOT, free_port


def test_the_generated_proxy_spreads_sockets_and_keeps_their_origin(monkeypatch):
    # Only for this import: bench/ holds modules (stats, replay) that would shadow others.
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    board_scaleout = importlib.import_module("board_scaleout")
    if not board_scaleout.nginx_binary():
        pytest.skip("needs nginx (Debian: apt-get install nginx-light; .ci/run installs it)")
    ports = [free_port(), free_port()]
    seen: list[tuple[int, str, str]] = []
    sent: list[str] = []

    async def main() -> None:
        def handler_for(port):
            async def handler(ws):
                seen.append((port, ws.request.path, ws.request.headers["Origin"]))
                await ws.send("hello")
                await ws.wait_closed()

            return handler

        async with (
            websockets.serve(handler_for(ports[0]), "127.0.0.1", ports[0]),
            websockets.serve(handler_for(ports[1]), "127.0.0.1", ports[1]),
        ):
            with board_scaleout.nginx(ports, "1", []) as front:
                sent.append(f"http://127.0.0.1:{front}")
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

    asyncio.run(main())
    # least_conn: four sockets opened one after another, two on each daphne.
    assert sorted(port for port, _, _ in seen) == sorted(ports * 2)
    assert {(path, origin) for _, path, origin in seen} == {("/ws/board/", sent[0])}
