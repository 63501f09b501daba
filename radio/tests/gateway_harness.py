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
from collections import OrderedDict, deque
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
    `on_ack(ids)` runs in a worker thread when an ack arrives (to look at the database then).

    It honours the window a bridge asks for (frames wait here while it is full) and, given
    `resend_after`, resends on a live session as the protocol says (`resends` counts them)."""

    def __init__(
        self,
        *,
        drops: list[int] | None = None,
        answer: Callable[[dict], dict | None] | None = None,
        on_ack: Callable[[list], Any] | None = None,
        resend_after: float | None = None,
    ):
        self.pending: OrderedDict[str, dict] = OrderedDict()
        self.drops = list(drops or [])
        self.answer = answer
        self.on_ack = on_ack
        self.resend_after = resend_after
        self.resends = 0
        self.max_in_flight = 0
        self.window: int | None = None  # what the current bridge session asked for
        self._held: deque[tuple[dict, list[str]]] = deque()  # frames waiting for room
        self._flow: protocol.Flow | None = None
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
        """Send frames (messages, batches, receipts) as given if a bridge is on and its window
        has room, and keep each message and receipt until it is acknowledged; later sessions
        get them one by one."""

        async def go():
            for frame in frames:
                keys = []
                for item in (
                    frame.get("messages", [frame]) if frame.get("type") == "batch" else [frame]
                ):
                    key = item.get("id") or item.get("ref") if isinstance(item, dict) else None
                    key = key or f"unkeyed-{len(self.pending)}"
                    self.pending[key] = item
                    keys.append(key)
                self._held.append((frame, keys))
            await self._pump(self._bridge)

        self.lt.submit(go()).result(10)

    async def _pump(self, ws: ServerConnection | None, limit: int | None = None) -> int:
        """Send held frames while the window has room (a frame bigger than the window goes
        alone, or it would wait for ever). Returns how many frames went."""
        flow, sent = self._flow, 0
        while ws is not None and flow is not None and self._held and sent != limit:
            frame, keys = self._held[0]
            if not any(key in self.pending for key in keys):
                self._held.popleft()  # acknowledged meanwhile (sent on an earlier session)
                continue
            if flow.in_flight and len(keys) > flow.room():
                break
            self._held.popleft()
            flow.sent(keys, time.monotonic())
            self.max_in_flight = max(self.max_in_flight, len(flow.in_flight))
            sent += 1
            with contextlib.suppress(ConnectionClosed):
                await ws.send(protocol.encode(frame))
        return sent

    async def _resend_loop(self, ws: ServerConnection, flow: protocol.Flow) -> None:
        assert self.resend_after is not None
        while True:
            await asyncio.sleep(self.resend_after / 4)
            for key in flow.due(time.monotonic(), self.resend_after):
                if key in self.pending:
                    self.resends += 1
                    await ws.send(protocol.encode(self.pending[key]))

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
                await self._bridge_session(ws, protocol.hello_window(hello))
        except ConnectionClosed:
            pass

    async def _bridge_session(self, ws: ServerConnection, window: int | None) -> None:
        session = self.bridge_sessions
        self.bridge_sessions += 1
        limit = self.drops[session] if session < len(self.drops) else None
        self._bridge = ws
        self.window = window
        flow = self._flow = protocol.Flow(window, time.monotonic())
        # Everything unacknowledged, one by one, oldest first.
        self._held = deque((item, [key]) for key, item in self.pending.items())
        resender = None
        try:
            await self._pump(ws, limit)
            if limit is not None:
                await asyncio.sleep(0.01)  # let some acks in, but not all
                ws.transport.abort()
                return
            if self.resend_after is not None:
                resender = asyncio.create_task(self._resend_loop(ws, flow))
            async for text in ws:
                frame = protocol.decode(text) or {}
                kind = frame.get("type")
                if kind == "ack":
                    ids = frame.get("ids") or []
                    if self.on_ack and ids:
                        self.ack_checks.append(await asyncio.to_thread(self.on_ack, ids))
                    for message_id in ids:
                        self.acked.append(message_id)
                        self.pending.pop(message_id, None)
                    for ref in frame.get("refs") or []:
                        self.acked_refs.append(ref)
                        self.pending.pop(ref, None)
                    flow.settled([*ids, *(frame.get("refs") or [])], time.monotonic())
                elif kind == "nack":
                    key: Any = frame.get("id", frame.get("ref"))  # what the nack names
                    self.nacks[key] = frame["errors"]
                    self.pending.pop(key, None)
                    flow.settled([key], time.monotonic())
                elif kind == "busy":
                    flow.busy(time.monotonic())
                elif kind == "pong":
                    self.pongs += 1
                await self._pump(ws)
        finally:
            if resender is not None:
                resender.cancel()
            if self._bridge is ws:
                self._bridge = None
                self._flow = None

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
