"""Real WebSocket servers and clients for the bridge, adapter and simulator tests.

Each runs on its own asyncio loop in a thread, as the real processes would run beside the test.
Nothing here asserts on time: `wait_until` waits for a condition with a generous deadline and
fails with a message only if it never holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import Any

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from radio import protocol

DEADLINE = 30.0


def wait_until(condition: Callable[[], Any], what: str, deadline: float = DEADLINE) -> Any:
    end = time.monotonic() + deadline
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.02)


class LoopThread:
    """An event loop running in a daemon thread."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def submit(self, coro: Coroutine) -> Future:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def call(self, fn: Callable, *args) -> None:
        self.loop.call_soon_threadsafe(fn, *args)

    def close(self) -> None:
        async def cancel_all():
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self.submit(cancel_all()).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


class FakeGateway:
    """A scripted gateway: keeps every unacknowledged frame and sends it on the next bridge
    session. `drops[i]` makes session i drop the TCP connection (no close handshake) after
    sending that many frames. `answer(frame)` answers a send session's despatch (None: silence).
    `on_ack(ids)` runs in a worker thread when an ack arrives (to look at the database then)."""

    def __init__(
        self,
        *,
        drops: list[int] | None = None,
        answer: Callable[[dict], dict | None] | None = None,
        on_ack: Callable[[list], Any] | None = None,
    ):
        self.pending: OrderedDict[str, dict] = OrderedDict()
        self.drops = list(drops or [])
        self.answer = answer
        self.on_ack = on_ack
        self.acked: list[Any] = []
        self.acked_refs: list[str] = []
        self.ack_checks: list[Any] = []
        self.nacks: dict[str, Any] = {}
        self.pongs = 0
        self.bridge_sessions = 0
        self.despatches: list[dict] = []
        self.port: int | None = None
        self._bridge: ServerConnection | None = None
        self.lt = LoopThread()
        ready = threading.Event()

        async def start():
            self._server = await serve(self._handler, "127.0.0.1", 0)
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()

        self.lt.submit(start()).result(10)
        ready.wait(10)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    def add(self, frames: list[dict]) -> None:
        """Send frames (messages, batches, receipts) as given if a bridge is on, and keep each
        message and receipt until it is acknowledged; later sessions get them one by one."""

        async def go():
            for frame in frames:
                for item in (
                    frame.get("messages", [frame]) if frame.get("type") == "batch" else [frame]
                ):
                    key = item.get("id") or item.get("ref") if isinstance(item, dict) else None
                    self.pending[key or f"unkeyed-{len(self.pending)}"] = item
            if self._bridge is not None:
                for frame in frames:
                    with contextlib.suppress(ConnectionClosed):
                        await self._bridge.send(protocol.encode(frame))

        self.lt.submit(go()).result(10)

    @property
    def connected(self) -> bool:
        return self._bridge is not None

    def send_raw(self, text: str) -> None:
        async def go():
            await self._bridge.send(text)

        self.lt.submit(go()).result(10)

    def close(self) -> None:
        async def stop():
            self._server.close()
            await self._server.wait_closed()

        try:
            self.lt.submit(stop()).result(10)
        finally:
            self.lt.close()

    async def _handler(self, ws: ServerConnection) -> None:
        hello = protocol.decode(await ws.recv()) or {}
        await ws.send(protocol.encode({"type": "welcome", "gateway": "fake"}))
        try:
            if hello.get("role") == "send":
                await self._send_session(ws)
            else:
                await self._bridge_session(ws)
        except ConnectionClosed:
            pass

    async def _bridge_session(self, ws: ServerConnection) -> None:
        session = self.bridge_sessions
        self.bridge_sessions += 1
        limit = self.drops[session] if session < len(self.drops) else None
        self._bridge = ws
        try:
            for sent, frame in enumerate(list(self.pending.values())):
                if limit is not None and sent >= limit:
                    break
                await ws.send(protocol.encode(frame))
            if limit is not None:
                await asyncio.sleep(0.01)  # let some acks in, but not all
                ws.transport.abort()
                return
            async for text in ws:
                frame = protocol.decode(text) or {}
                if frame.get("type") == "ack":
                    ids = frame.get("ids") or []
                    if self.on_ack and ids:
                        self.ack_checks.append(await asyncio.to_thread(self.on_ack, ids))
                    for message_id in ids:
                        self.acked.append(message_id)
                        self.pending.pop(message_id, None)
                    for ref in frame.get("refs") or []:
                        self.acked_refs.append(ref)
                        self.pending.pop(ref, None)
                elif frame.get("type") == "nack":
                    key: Any = frame.get("id", frame.get("ref"))  # what the nack names
                    self.nacks[key] = frame["errors"]
                    self.pending.pop(key, None)
                elif frame.get("type") == "pong":
                    self.pongs += 1
        finally:
            if self._bridge is ws:
                self._bridge = None

    async def _send_session(self, ws: ServerConnection) -> None:
        async for text in ws:
            frame = protocol.decode(text) or {}
            if frame.get("type") == "despatch":
                self.despatches.append(frame)
                reply = self.answer(frame) if self.answer else None
                if reply is not None:
                    await ws.send(protocol.encode(reply))


def status(message_id: str, issi: str, code: int = 2, **extra) -> dict:
    return {"type": "status", "id": message_id, "issi": issi, "code": code,
            "sent_at": protocol.iso_now(), **extra}  # fmt: skip


def position(message_id: str, issi: str, lat: float = 51.55, lon: float = -0.14) -> dict:
    return {"type": "position", "id": message_id, "issi": issi, "lat": lat, "lon": lon,
            "sent_at": protocol.iso_now()}  # fmt: skip
