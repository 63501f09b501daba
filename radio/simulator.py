"""A radio-gateway simulator: a WebSocket server speaking docs/radio-protocol.md.

Two layers. `GatewayServer` is the protocol: sessions, acknowledgements, the window a bridge asks
for, and the gateway's promise to keep every unacknowledged message and send it again (at once
to a bridge that connects, and after 10 s on a live session). `Simulator` is the world behind
it: the active units with an ISSI, read from the database at start and every `refresh` seconds.
Available units patrol slowly near where they are; a despatch message for a unit is accepted,
acknowledged by the "officer" (a `delivered` receipt) a few seconds later, and the unit reports
code 5, drives toward the incident (blue-light speed of its type for grade I, urban speed
otherwise), sends its position every few seconds, reports code 6 on arrival and code 2 after a
dwell.

The simulator never writes to the database: everything it changes reaches Beacon through the
bridge, exactly as a real gateway's traffic would. `speedup` makes simulated time run faster
(travel, delays, dwell), so a demo or a test does not wait for real minutes.

Other harnesses (a load generator) can reuse `GatewayServer` and call `publish()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import random
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from django.db import connection
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from radio import protocol
from resources.models import Unit

logger = logging.getLogger(__name__)

EARTH_RADIUS_M = 6_371_000.0

# What a send session's despatch handler answers: None to accept, else the rejection reason.
DespatchHandler = Callable[[dict[str, Any]], Awaitable[str | None]]


# --- the protocol --------------------------------------------------------------------------


class GatewayServer:
    """The gateway side of the protocol. `publish()` inbound messages and receipts; they go to
    a connected bridge session with room in its window and are kept until acknowledged."""

    def __init__(
        self,
        *,
        name: str = "beacon-simulator",
        on_despatch: DespatchHandler | None = None,
        resend_after: float = protocol.RESEND_AFTER_SECONDS,
        batch_size: int = protocol.MAX_BATCH,
        max_pending: int = 200_000,
    ):
        self.name = name
        self.on_despatch = on_despatch
        self.resend_after = resend_after
        self.batch_size = batch_size
        self.max_pending = max_pending  # a real gateway's buffer is finite too
        self.dropped = 0
        self.resent = 0  # sent again on a live session (not counting after a reconnect)
        # Ids unique across restarts: Beacon drops a repeated id as a duplicate for ever.
        self._prefix = f"sim-{uuid.uuid4().hex[:8]}-"
        self._ids = itertools.count(1)
        self._pending: OrderedDict[str, dict[str, Any]] = OrderedDict()  # id or "ref:<ref>"
        self._held: deque[str] = deque()  # keys not in flight on any session, oldest first
        self._flows: dict[ServerConnection, protocol.Flow] = {}  # the live bridge sessions
        self._turn = itertools.count()
        self.acked: set[str] = set()  # ids and refs acknowledged (tests and stats read it)
        self.nacked: dict[str, Any] = {}
        self.bridge_sessions = 0
        self.port: int | None = None

    @property
    def pending(self) -> int:
        return len(self._pending)

    def next_id(self) -> str:
        return f"{self._prefix}{next(self._ids)}"

    async def publish(self, frame: dict[str, Any]) -> None:
        """Queue one inbound message (an `id` is added if missing) or receipt and send it."""
        if frame["type"] in protocol.INBOUND_TYPES:
            frame.setdefault("id", self.next_id())
            key = frame["id"]
        else:
            key = f"ref:{frame['ref']}"
        self._pending[key] = frame
        self._held.append(key)
        if len(self._pending) > self.max_pending:
            oldest, _ = self._pending.popitem(last=False)
            for flow in self._flows.values():
                flow.settled([oldest], time.monotonic())
            self.dropped += 1
            if self.dropped % 1000 == 1:
                logger.warning("no bridge is taking messages: %s oldest dropped", self.dropped)
        await self._pump()

    async def _pump(self) -> None:
        """Send held traffic to the bridge sessions, in turn, as far as their windows allow."""
        bridges = list(self._flows)
        if not bridges:
            return
        first = next(self._turn) % len(bridges)
        for ws in bridges[first:] + bridges[:first]:
            flow = self._flows.get(ws)
            if flow is None or not self._held:
                continue
            keys: list[str] = []
            while self._held and len(keys) < flow.room():
                key = self._held.popleft()
                if key in self._pending:  # else acknowledged meanwhile
                    keys.append(key)
            flow.sent(keys, time.monotonic())
            await self._send_keys(ws, keys)

    async def _send_keys(self, ws: ServerConnection, keys: list[str]) -> None:
        """Inbound messages in batch frames (a single one as it is), receipts singly."""
        frames = [self._pending[key] for key in keys if key in self._pending]
        messages = [f for f in frames if f["type"] in protocol.INBOUND_TYPES]
        for start in range(0, len(messages), self.batch_size):
            chunk = messages[start : start + self.batch_size]
            await self._send(
                ws, {"type": "batch", "messages": chunk} if len(chunk) > 1 else chunk[0]
            )
        for frame in frames:
            if frame["type"] not in protocol.INBOUND_TYPES:
                await self._send(ws, frame)

    async def _send(self, ws: ServerConnection, frame: dict[str, Any]) -> None:
        with contextlib.suppress(ConnectionClosed):  # still pending: sent again later
            await ws.send(protocol.encode(frame))

    async def resend_loop(self) -> None:
        """Send again what a live session has not acknowledged in `resend_after` (for a session
        with a window: what it has held that long without making progress)."""
        while True:
            await asyncio.sleep(min(1.0, self.resend_after / 2))
            for ws, flow in list(self._flows.items()):
                due = flow.due(time.monotonic(), self.resend_after)
                self.resent += len(due)
                await self._send_keys(ws, due)

    async def handler(self, ws: ServerConnection) -> None:
        try:
            hello = protocol.decode(await asyncio.wait_for(ws.recv(), 10))
        except (TimeoutError, ConnectionClosed):
            return
        role = (hello or {}).get("role")
        if not hello or hello.get("type") != "hello" or role not in ("bridge", "send"):
            await ws.close(1008, "say hello with role bridge or send first")
            return
        await ws.send(protocol.encode({"type": "welcome", "gateway": self.name}))
        if role == "bridge":
            await self._bridge_session(ws, hello)
        else:
            await self._send_session(ws)

    async def _bridge_session(self, ws: ServerConnection, hello: dict[str, Any]) -> None:
        self.bridge_sessions += 1
        flow = self._flows[ws] = protocol.Flow(protocol.hello_window(hello), time.monotonic())
        logger.info("bridge session from %s (window %s)", hello.get("client", "?"), flow.window)
        try:
            await self._pump()
            async for text in ws:
                frame = protocol.decode(text) or {}
                kind = frame.get("type")
                if kind == "ack":
                    keys = [
                        *(frame.get("ids") or []),
                        *(f"ref:{r}" for r in frame.get("refs") or []),
                    ]
                    for key in keys:
                        if self._pending.pop(key, None) is not None:
                            self.acked.add(key.removeprefix("ref:"))
                    flow.settled(keys, time.monotonic())
                    await self._pump()
                elif kind == "nack":
                    key = frame["id"] if "id" in frame else f"ref:{frame.get('ref')}"
                    self._pending.pop(key, None)
                    flow.settled([key], time.monotonic())
                    self.nacked[str(frame.get("id", frame.get("ref")))] = frame.get("errors")
                    logger.warning("Beacon refused %s: %s", key, frame.get("errors"))
                    await self._pump()
                elif kind == "busy":
                    flow.busy(time.monotonic())
                elif kind == "ping":
                    await ws.send(protocol.encode({"type": "pong"}))
        except ConnectionClosed:
            pass
        finally:
            del self._flows[ws]
            # What it held goes first to the next session with room.
            self._held.extendleft(reversed([k for k in flow.in_flight if k in self._pending]))
            logger.info("bridge session closed; %s messages unacknowledged", self.pending)
            await self._pump()

    async def _send_session(self, ws: ServerConnection) -> None:
        try:
            async for text in ws:
                frame = protocol.decode(text) or {}
                if frame.get("type") == "ping":
                    await ws.send(protocol.encode({"type": "pong"}))
                    continue
                if frame.get("type") != "despatch" or not isinstance(frame.get("ref"), str):
                    continue
                reason: str | None = "no terminals on this gateway"
                if self.on_despatch is not None:
                    reason = await self.on_despatch(frame)
                if reason is None:
                    answer = {"type": "accepted", "ref": frame["ref"]}
                else:
                    answer = {"type": "rejected", "ref": frame["ref"], "reason": reason}
                await ws.send(protocol.encode(answer))
        except ConnectionClosed:
            pass


# --- the world -----------------------------------------------------------------------------


@dataclass
class SimConfig:
    speedup: float = 1.0  # simulated seconds per real second
    position_every: float = 5.0  # real seconds between a moving unit's position reports
    tick: float = 0.5  # real seconds between movement steps
    ack_delay: float = 4.0  # simulated seconds until the officer acknowledges a despatch
    dwell: float = 900.0  # simulated seconds at scene before code 2
    patrol_kmh: float = 12.0
    patrol_radius_m: float = 1500.0
    arrive_within_m: float = 25.0
    refresh: float = 60.0  # real seconds between re-reading units from the database
    patrol: bool = True
    seed: int | None = None


@dataclass
class SimUnit:
    issi: str
    callsign: str
    lat: float
    lon: float
    status: str
    urban_kmh: float
    blue_kmh: float
    home: tuple[float, float] = (0.0, 0.0)
    phase: str = "idle"  # idle | patrol | driving | scene
    target: tuple[float, float] | None = None
    speed_kmh: float = 0.0
    heading: float = 0.0  # radians, for patrol
    dwell_left: float = 0.0  # simulated seconds
    next_report: float = 0.0  # monotonic
    generation: int = 0  # bumped by each despatch, so an older one's delayed steps stop


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(h))


def step_towards(
    start: tuple[float, float], end: tuple[float, float], metres: float
) -> tuple[float, float]:
    """The point `metres` along the straight line from start to end (end if nearer)."""
    whole = distance_m(start, end)
    if whole <= metres or whole == 0:
        return end
    f = metres / whole
    return (start[0] + (end[0] - start[0]) * f, start[1] + (end[1] - start[1]) * f)


def offset(point: tuple[float, float], metres: float, heading: float) -> tuple[float, float]:
    dlat = metres * math.cos(heading) / EARTH_RADIUS_M
    dlon = metres * math.sin(heading) / (EARTH_RADIUS_M * math.cos(math.radians(point[0])))
    return (point[0] + math.degrees(dlat), point[1] + math.degrees(dlon))


def load_units() -> dict[str, dict[str, Any]]:
    """Active units with an ISSI, by ISSI. Read only: the simulator never writes."""
    units = {}
    for unit in Unit.objects.filter(active=True).exclude(issi="").select_related("type", "station"):
        units[unit.issi] = {
            "callsign": unit.callsign,
            "lat": unit.lat if unit.lat is not None else unit.station.lat,
            "lon": unit.lon if unit.lon is not None else unit.station.lon,
            "status": unit.status,
            "urban_kmh": unit.type.urban_speed_kmh,
            "blue_kmh": unit.type.blue_light_speed_kmh,
        }
    return units


class Simulator:
    """The simulated units behind a GatewayServer."""

    def __init__(
        self,
        config: SimConfig,
        *,
        server: GatewayServer | None = None,
        loader: Callable[[], dict[str, dict[str, Any]]] = load_units,
    ):
        self.config = config
        self.server = server or GatewayServer()
        self.server.on_despatch = self.despatch
        self.loader = loader
        self.units: dict[str, SimUnit] = {}
        self.rng = random.Random(config.seed)
        self._tasks: set[asyncio.Task] = set()

    # --- units from the database ------------------------------------------------------------

    async def refresh_units(self) -> None:
        rows = await sync_to_async(self._load, thread_sensitive=True)()
        for issi, row in rows.items():
            unit = self.units.get(issi)
            if unit is None:
                unit = SimUnit(issi=issi, **row)
                unit.home = (unit.lat, unit.lon)
                unit.heading = self.rng.uniform(0, 2 * math.pi)
                spread = self.rng.uniform(0, self.config.position_every)  # not all at once
                unit.next_report = time.monotonic() + spread
                self.units[issi] = unit
            elif unit.phase in ("idle", "patrol"):
                # A despatcher may have changed its status on the board; the simulator only
                # owns units it is driving to a job.
                unit.status = row["status"]
                unit.callsign = row["callsign"]
            if unit.phase in ("idle", "patrol"):
                patrols = self.config.patrol and unit.status == "available"
                unit.phase = "patrol" if patrols else "idle"
        for issi in set(self.units) - set(rows):
            del self.units[issi]

    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            return self.loader()
        finally:
            connection.close()  # a reader every minute: no connection held in between

    async def refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.refresh)
            try:
                await self.refresh_units()
            except Exception:  # noqa: BLE001  (database away: keep simulating the units we have)
                logger.exception("could not re-read units; keeping %s", len(self.units))

    # --- despatch -----------------------------------------------------------------------------

    async def despatch(self, frame: dict[str, Any]) -> str | None:
        unit = self.units.get(str(frame.get("issi")))
        if unit is None:
            return "unknown ISSI"
        payload = frame.get("payload")
        if not isinstance(payload, dict):
            payload = {}
        try:
            target = (float(payload["lat"]), float(payload["lon"]))
        except (KeyError, TypeError, ValueError):
            target = None
        unit.generation += 1
        task = asyncio.create_task(
            self._respond(unit, frame["ref"], target, payload.get("grade"), unit.generation)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        logger.info("despatch %s to %s accepted", frame["ref"], unit.callsign)
        return None

    async def _respond(
        self, unit: SimUnit, ref: str, target, grade: str | None, generation: int
    ) -> None:
        await asyncio.sleep(self.config.ack_delay / self.config.speedup)
        await self.server.publish({"type": "delivered", "ref": ref, "at": protocol.iso_now()})
        if unit.generation != generation or target is None:
            return
        unit.phase, unit.target, unit.status = "driving", target, "en_route"
        unit.speed_kmh = unit.blue_kmh if grade == "I" else unit.urban_kmh
        await self._status(unit, 5)

    # --- movement ----------------------------------------------------------------------------

    async def _status(self, unit: SimUnit, code: int) -> None:
        await self.server.publish({
            "type": "status", "issi": unit.issi, "code": code, "sent_at": protocol.iso_now(),
            "lat": round(unit.lat, 6), "lon": round(unit.lon, 6),
        })  # fmt: skip
        unit.next_report = time.monotonic() + self.config.position_every

    async def _position(self, unit: SimUnit) -> None:
        await self.server.publish({
            "type": "position", "issi": unit.issi, "sent_at": protocol.iso_now(),
            "lat": round(unit.lat, 6), "lon": round(unit.lon, 6),
        })  # fmt: skip
        unit.next_report = time.monotonic() + self.config.position_every

    async def step(self, sim_seconds: float) -> None:
        """Move every unit by `sim_seconds` of simulated time and send what it would report."""
        now = time.monotonic()
        for unit in list(self.units.values()):
            if unit.phase == "driving" and unit.target is not None:
                metres = unit.speed_kmh / 3.6 * sim_seconds
                unit.lat, unit.lon = step_towards((unit.lat, unit.lon), unit.target, metres)
                if distance_m((unit.lat, unit.lon), unit.target) <= self.config.arrive_within_m:
                    unit.phase, unit.status = "scene", "at_scene"
                    unit.dwell_left = self.config.dwell
                    await self._status(unit, 6)
                    continue
            elif unit.phase == "scene":
                unit.dwell_left -= sim_seconds
                if unit.dwell_left <= 0:
                    # Cleared: patrol from here.
                    unit.status, unit.target, unit.home = "available", None, (unit.lat, unit.lon)
                    unit.phase = "patrol" if self.config.patrol else "idle"
                    await self._status(unit, 2)
                continue
            elif unit.phase == "patrol":
                self._wander(unit, sim_seconds)
            else:
                continue
            if now >= unit.next_report:
                await self._position(unit)

    def _wander(self, unit: SimUnit, sim_seconds: float) -> None:
        metres = self.config.patrol_kmh / 3.6 * sim_seconds
        if distance_m((unit.lat, unit.lon), unit.home) > self.config.patrol_radius_m:
            # Turn back toward home: a patrol stays on its own patch.
            east = (unit.home[1] - unit.lon) * math.cos(math.radians(unit.lat))
            unit.heading = math.atan2(east, unit.home[0] - unit.lat)
        else:
            unit.heading += self.rng.uniform(-0.4, 0.4)
        unit.lat, unit.lon = offset((unit.lat, unit.lon), metres, unit.heading)

    async def move_loop(self) -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(self.config.tick)
            now = time.monotonic()
            await self.step((now - last) * self.config.speedup)
            last = now

    # --- running ------------------------------------------------------------------------------

    async def run(self, host: str, port: int, ready: Callable[[int], None] | None = None) -> None:
        """Serve until cancelled. `ready(port)` is called once listening (port 0 picks one)."""
        await self.refresh_units()
        logger.info("simulating %s units", len(self.units))
        async with serve(self.server.handler, host, port, ping_interval=10, ping_timeout=30) as srv:
            self.server.port = srv.sockets[0].getsockname()[1]
            logger.info("radio gateway simulator on ws://%s:%s/", host, self.server.port)
            if ready is not None:
                ready(self.server.port)
            loops = [self.server.resend_loop(), self.move_loop(), self.refresh_loop()]
            await asyncio.gather(*loops)
