"""The radio bridge: Beacon's long-running client of the radio gateway (docs/radio-protocol.md).

It opens a bridge session, stores every inbound message through `radio_messages_receive` (the
same service as `POST /api/v1/radio/inbound/`) and acknowledges the ids only once that
transaction has committed, so an `ack` always means "safe in our database". Messages arriving
within a short window (up to 500) share one store call: one transaction and one round trip to
PostgreSQL per group instead of per message, which is what lets one bridge keep up with a
gateway flushing its backlog.

A malformed message is refused with a `nack` and the rest of its group is stored (each store
call is all or nothing, so the good ones are stored again without the bad). Delivery receipts
for despatch messages go through `radio_message_delivery_record` and are acknowledged the same
way. Anything not acknowledged (the bridge crashed, the database was down, the connection
dropped between commit and ack) the gateway sends again; the duplicate rule makes that harmless.

Database work runs on a fixed set of worker threads, one per group stored at once
(`BridgeConfig.stores`, two by default): Django's connections are per thread, and each thread
keeps one connection (closed when stale or broken, as a request would). Storing a group applies
its GPS fixes as well (decision 0030), so a store waits on PostgreSQL about half its time; two
at once keep both cores busy. The event loop meanwhile keeps reading frames, so the next group
is ready when a store returns; a full queue stops the reading, and TCP pushes back on the
gateway.

Flow control (docs/radio-protocol.md, "Flow control"; decision 0024): the hello asks for a
window, so a gateway keeps at most that many messages unacknowledged with us and holds the rest,
and while we hold some we say `busy` every few seconds, so the gateway's resend timer never fires
on a bridge that is slow but alive (a CPU-starved bridge used to drown in its own resends). The
flip side: a group that fails to store (the database is away) is retried here, not left for the
gateway to resend. A store stuck past `silence` stops the `busy` frames, and the gateway's timer
takes over again.

The connection is dead after `silence` seconds without a frame (we send our own `ping` when
the line is quiet, so an idle healthy gateway is never mistaken for a dead one); the bridge
then reconnects with exponential backoff and jitter.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from django.contrib.auth.models import User
from django.db import close_old_connections, connections
from django.utils import timezone
from rest_framework.exceptions import ValidationError
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from cad.accounts.roles import RADIO_GATEWAY, has_role
from cad.accounts.services import user_provision
from cad.errors import DomainError
from cad.ops.heartbeats import RADIO_BRIDGE_PREFIX, heartbeat_stamp, process_name
from radio import protocol
from radio.models import RadioMessage
from radio.services import radio_message_delivery_record, radio_messages_receive

logger = logging.getLogger(__name__)

SOURCE = "radio"
DEFAULT_USER = "radio-bridge"
T = TypeVar("T")


class BridgeError(Exception):
    """The bridge cannot start (its account is unusable)."""


class ProtocolViolation(Exception):
    """The gateway broke the protocol badly enough that the session must start again."""


@dataclass
class BridgeConfig:
    url: str = protocol.DEFAULT_URL
    headers: dict[str, str] = field(default_factory=dict)
    window: float = 0.05  # seconds to wait for more messages before storing a group
    max_group: int = protocol.MAX_BATCH
    silence: float = 30.0  # no frame for this long: the connection is dead
    ping_after: float = 10.0  # quiet for this long: send a ping so silence means dead
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    open_timeout: float = 10.0
    stats_every: float = 60.0
    queue_size: int = 10 * protocol.MAX_BATCH
    heartbeat_every: float = 10.0  # stamp this bridge's heartbeat row (/healthz/detail)
    flow_window: int = protocol.BRIDGE_WINDOW  # messages in flight, asked in the hello; 0: none
    busy_every: float = protocol.BUSY_EVERY_SECONDS
    retry_after: float = 1.0  # a group that failed to store is tried again after this long
    # Groups stored at once, each on its own database thread and connection. Storing applies
    # a group's GPS fixes too (decision 0030), so one group waits on PostgreSQL about half its
    # time; a second keeps the other core busy meanwhile.
    stores: int = 2
    # Messages waiting in our queue at which a store leaves its fixes to the batch task (the
    # workers apply them beside us) instead of applying them itself; 0: always apply here.
    hand_over_at: int = protocol.MAX_BATCH


@dataclass
class Inbound:
    id: Any  # as the gateway sent it, echoed in the ack
    message: dict[str, Any]  # as the inbound service takes it


@dataclass
class Receipt:
    ref: str
    state: str  # delivered | failed
    note: str


def bridge_user(username: str = DEFAULT_USER) -> User:
    """The account the bridge acts as: created in `radio_gateway` if missing. An existing
    account without that role is refused, not promoted: a typo in --user must not turn a
    despatcher into a gateway."""
    user = User.objects.filter(username=username).first()
    if user is None:
        user, _ = user_provision(
            username=username, role=RADIO_GATEWAY, bcu_code=None, password=None, source=SOURCE
        )
        logger.info("created the radio gateway account %r (no password: service only)", username)
    elif not user.is_active or not has_role(user, RADIO_GATEWAY):
        raise BridgeError(f"user {username!r} is not an active member of {RADIO_GATEWAY!r}")
    return user


def backoff(initial: float, maximum: float, rng: random.Random | None = None) -> Iterator[float]:
    """Delays before each reconnect: doubling from `initial` to `maximum`, each drawn between
    half and all of its step so that many bridges do not reconnect in lockstep."""
    rng = rng or random.Random()
    step = initial
    while True:
        yield rng.uniform(step / 2, step)
        step = min(step * 2, maximum)


def _plain(detail: Any) -> Any:
    """DRF error detail as JSON-ready lists and dicts of plain strings."""
    if isinstance(detail, dict):
        return {str(k): _plain(v) for k, v in detail.items()}
    if isinstance(detail, list):
        return [_plain(v) for v in detail]
    return str(detail)


class Bridge:
    """One bridge: `await run()` until `stop()` (thread-safe) or a signal."""

    def __init__(self, config: BridgeConfig, *, user: User):
        self.config = config
        self.user = user
        self.stats: Counter[str] = Counter()
        self.connected = asyncio.Event()  # set while a session is open (tests wait on it)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        # Loop time each store attempt under way began, by store loop: what we hold.
        self._store_started: dict[int, float] = {}
        self._welcomed = False
        self._unknown_types: set[str] = set()
        # One single-thread executor per store loop, so each loop keeps its own connection and
        # each connection can be closed on its own thread at the end.
        self._lanes = [
            ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"radio-bridge-db-{n}")
            for n in range(config.stores)
        ]
        # For /healthz/detail: when the gateway last sent us a message or receipt.
        self.last_message_at: datetime | None = None
        self.heartbeat_name = process_name(RADIO_BRIDGE_PREFIX)

    # --- lifecycle --------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the bridge to finish the group it is storing, then close. Any thread."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)

    @property
    def _stopping(self) -> asyncio.Event:
        """The stop signal of the running bridge (made by `run`, which every session is under)."""
        if self._stop is None:
            raise RuntimeError("the bridge is not running")
        return self._stop

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        stats = asyncio.create_task(self._log_stats())
        heartbeat = asyncio.create_task(self._heartbeat_loop())
        delays = backoff(self.config.backoff_initial, self.config.backoff_max)
        try:
            while not self._stop.is_set():
                self._welcomed = False
                try:
                    await self._session_until_stopped()
                except (OSError, TimeoutError, WebSocketException, ProtocolViolation) as exc:
                    reason = exc or type(exc).__name__
                    logger.warning("radio gateway %s: %s", self.config.url, reason)
                finally:
                    self.connected.clear()
                    await self._heartbeat()
                if self._stop.is_set():
                    break
                if self._welcomed:
                    # A session was established: the next outage starts from the short delay.
                    delays = backoff(self.config.backoff_initial, self.config.backoff_max)
                delay = next(delays)
                self.stats["reconnects"] += 1
                logger.info("reconnecting to the radio gateway in %.1f s", delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), timeout=delay)
        finally:
            stats.cancel()
            heartbeat.cancel()
            await self._heartbeat()
            for lane in range(len(self._lanes)):
                await self._db(connections.close_all, lane=lane)
            for executor in self._lanes:
                executor.shutdown(wait=True)
            logger.info("radio bridge stopped: %s", dict(self.stats))

    async def _log_stats(self) -> None:
        while True:
            await asyncio.sleep(self.config.stats_every)
            logger.info("radio bridge: %s", dict(self.stats))

    async def _heartbeat_loop(self) -> None:
        while True:
            await self._heartbeat()
            await asyncio.sleep(self.config.heartbeat_every)

    async def _heartbeat(self) -> None:
        """Stamp this bridge's row: alive, connected or not, and its last message's time."""
        last = self.last_message_at
        detail = {
            "connected": self.connected.is_set(),
            "url": self.config.url,
            "last_message_at": last.isoformat() if last else None,
        }
        try:
            await self._db(lambda: heartbeat_stamp(name=self.heartbeat_name, detail=detail))
        except Exception:  # noqa: BLE001  (the database is away: health will show us stale)
            logger.warning("could not stamp the radio bridge's heartbeat", exc_info=True)

    async def _db(self, fn: Callable[..., T], *args: Any, lane: int = 0) -> T:
        """Run database work on database thread `lane` (one per store loop, `config.stores`)."""

        def call() -> T:
            close_old_connections()  # drop a connection that broke or outlived CONN_MAX_AGE
            return fn(*args)

        return await asyncio.get_running_loop().run_in_executor(self._lanes[lane], call)

    # --- one session ------------------------------------------------------------------------

    async def _session_until_stopped(self) -> None:
        """A session; a stop before the gateway welcomed us ends it at once (there is nothing
        to finish), after that the session itself winds down gracefully."""
        session = asyncio.create_task(self._session())
        stopping = asyncio.create_task(self._stopping.wait())
        try:
            await asyncio.wait({session, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not session.done() and not self._welcomed:
                session.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await session
                return
            await session
        finally:
            stopping.cancel()

    async def _session(self) -> None:
        """Run one bridge session until it ends (an exception says why, unless stopping)."""
        async with connect(
            self.config.url,
            additional_headers=self.config.headers or None,
            open_timeout=self.config.open_timeout,
            ping_interval=self.config.ping_after,
            ping_timeout=self.config.silence,
            close_timeout=2,
            max_size=16 * 2**20,  # a batch of 500 messages with long texts
        ) as ws:
            await ws.send(protocol.encode(protocol.hello("bridge", self.config.flow_window)))
            welcome = protocol.decode(await asyncio.wait_for(ws.recv(), self.config.open_timeout))
            if not welcome or welcome.get("type") != "welcome":
                raise ProtocolViolation(f"expected welcome, got {welcome!r:.200}")
            gateway = welcome.get("gateway", "?")
            logger.info("radio bridge session open with %s (%s)", gateway, self.config.url)
            self._welcomed = True
            self.connected.set()
            await self._heartbeat()
            queue: asyncio.Queue[Inbound | Receipt] = asyncio.Queue(self.config.queue_size)
            reader = asyncio.create_task(self._read(ws, queue))
            storers = [
                asyncio.create_task(self._store_loop(ws, queue, n))
                for n in range(self.config.stores)
            ]
            busy = asyncio.create_task(self._busy_loop(ws, queue))
            stopping = asyncio.create_task(self._stopping.wait())
            try:
                await asyncio.wait(
                    {reader, *storers, stopping}, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                reader.cancel()
                busy.cancel()
                stopping.cancel()
                # Let groups being stored finish and be acknowledged; idle storers just end.
                storing = [storers[n] for n in self._store_started if not storers[n].done()]
                if storing:
                    await asyncio.wait(storing, timeout=30)
                for storer in storers:
                    storer.cancel()
                await asyncio.gather(reader, *storers, busy, stopping, return_exceptions=True)
            for task in (reader, *storers):
                if task.done() and not task.cancelled():
                    error = task.exception()
                    if error:
                        raise error
            if self._stopping.is_set():
                await ws.close(1001, "bridge stopping")

    async def _read(self, ws: ClientConnection, queue: asyncio.Queue) -> None:
        loop = asyncio.get_running_loop()
        heard = loop.time()
        while True:
            quiet = loop.time() - heard
            if quiet >= self.config.silence:
                raise ProtocolViolation(f"no frame for {quiet:.0f} s: connection presumed dead")
            try:
                text = await asyncio.wait_for(
                    ws.recv(), min(self.config.ping_after, self.config.silence - quiet)
                )
            except TimeoutError:
                await ws.send(protocol.encode({"type": "ping"}))
                continue
            heard = loop.time()
            frame = protocol.decode(text)
            if frame is None:
                logger.warning("radio gateway sent a frame that is not a JSON object: %.200r", text)
                continue
            items = await self._items(ws, frame)
            if items:
                self.last_message_at = timezone.now()
            for item in items:
                await queue.put(item)

    async def _items(self, ws: ClientConnection, frame: dict[str, Any]) -> list[Inbound | Receipt]:
        kind = frame.get("type")
        if kind in protocol.INBOUND_TYPES:
            item = self._inbound(frame)
            return [item] if item else []
        if kind == "batch":
            messages = frame.get("messages")
            if not isinstance(messages, list):
                logger.warning("radio gateway sent a batch without a list of messages")
                return []
            items: list[Inbound | Receipt] = []
            for message in messages:
                if isinstance(message, dict) and message.get("type") in protocol.INBOUND_TYPES:
                    if item := self._inbound(message):
                        items.append(item)
                elif isinstance(message, dict) and self._usable_id(message.get("id")):
                    errors = {"type": ["Not an inbound message type."]}
                    await self._send(ws, {"type": "nack", "id": message["id"], "errors": errors})
                    self.stats["nacked"] += 1
                else:
                    logger.warning("radio gateway batch holds an unusable item: %.200r", message)
            return items
        if kind in protocol.RECEIPT_STATES:
            ref = frame.get("ref")
            if not isinstance(ref, str) or not ref.strip():
                logger.warning("radio gateway receipt without a ref: %.200r", frame)
                return []
            state = protocol.RECEIPT_STATES[kind]
            reason = frame.get("reason") if state == "failed" else None
            at = frame.get("at")
            note = str(reason or f"receipt: {kind}{f' at {at}' if at else ''}")[:200]
            return [Receipt(ref=ref.strip(), state=state, note=note)]
        if kind == "ping":
            await self._send(ws, {"type": "pong"})
        elif kind not in ("pong", "welcome", "ack") and str(kind) not in self._unknown_types:
            self._unknown_types.add(str(kind))
            logger.info("ignoring radio gateway frames of type %.50r", kind)
        return []

    @staticmethod
    def _usable_id(value: Any) -> bool:
        return (isinstance(value, str) and value != "") or (
            isinstance(value, int) and not isinstance(value, bool)
        )

    def _inbound(self, frame: dict[str, Any]) -> Inbound | None:
        if not self._usable_id(frame.get("id")):
            # Without an id we can neither store it (ids are how duplicates are dropped) nor
            # acknowledge it; the gateway's own logs must show this.
            logger.warning("radio gateway message without an id dropped: %.200r", frame)
            self.stats["dropped"] += 1
            return None
        message = {key: value for key, value in frame.items() if key != "type"}
        message["kind"] = frame["type"]
        return Inbound(id=frame["id"], message=message)

    async def _send(self, ws: ClientConnection, frame: dict[str, Any]) -> None:
        await ws.send(protocol.encode(frame))

    async def _busy_loop(self, ws: ClientConnection, queue: asyncio.Queue) -> None:
        """While we hold messages (queued or being stored), tell the gateway we are on them, so
        its resend timer waits. Not for a store stuck past `silence`: that one may be lost."""
        if not self.config.flow_window:
            return
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.config.busy_every)
            started = self._store_started.values()
            stuck = any(loop.time() - at > self.config.silence for at in started)
            if (started or not queue.empty()) and not stuck:
                await self._send(ws, {"type": "busy", "held": queue.qsize()})
                self.stats["busy"] += 1

    # --- storing ----------------------------------------------------------------------------

    async def _store_loop(self, ws: ClientConnection, queue: asyncio.Queue, n: int) -> None:
        """Store loop `n` of `config.stores`: takes the next group from the queue, stores it,
        acknowledges it. Loops share nothing but the queue; messages of one unit in two groups
        stored at once are settled by the unit's row lock, newest wins (radio/positions.py)."""
        loop = asyncio.get_running_loop()
        while not self._stopping.is_set():
            group = [await queue.get()]
            self._store_started[n] = loop.time()
            try:
                deadline = loop.time() + self.config.window
                count = 1
                while count < self.config.max_group:
                    try:
                        item = queue.get_nowait()
                    except asyncio.QueueEmpty:
                        remaining = deadline - loop.time()
                        if remaining <= 0:
                            break
                        try:
                            item = await asyncio.wait_for(queue.get(), remaining)
                        except TimeoutError:
                            break
                    group.append(item)
                    count += isinstance(item, Inbound)
                # The gateway waits for us (we say busy), so we retry what failed rather than
                # leave it to a resend; only stopping gives up (the next session has it again).
                while group:
                    self._store_started[n] = loop.time()
                    # Behind by `hand_over_at` messages or more: store without applying the
                    # fixes and let the batch task, in the workers, apply them beside us
                    # (decision 0030).
                    limit = self.config.hand_over_at
                    behind = bool(limit) and queue.qsize() >= limit
                    group = await self._handle_group(ws, group, lane=n, apply_positions=not behind)
                    if group:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(
                                self._stopping.wait(), timeout=self.config.retry_after
                            )
                        if self._stopping.is_set():
                            break
            finally:
                self._store_started.pop(n, None)

    async def _handle_group(
        self,
        ws: ClientConnection,
        group: list[Inbound | Receipt],
        *,
        lane: int = 0,
        apply_positions: bool = True,
    ) -> list[Inbound | Receipt]:
        """Store, acknowledge and refuse; returns what failed for a database error."""
        failed: list[Inbound | Receipt] = []
        inbound = [item for item in group if isinstance(item, Inbound)]
        receipts = [item for item in group if isinstance(item, Receipt)]
        if inbound:
            try:
                stored, refused, duplicates = await self._db(
                    self._store, inbound, apply_positions, lane=lane
                )
            except Exception:  # noqa: BLE001  (database down: no ack, tried again)
                logger.exception("could not store %s radio messages (not acked)", len(inbound))
                self.stats["store_errors"] += 1
                failed.extend(inbound)
            else:
                for message_id, errors in refused:
                    await self._send(ws, {"type": "nack", "id": message_id, "errors": errors})
                if stored:
                    await self._send(ws, {"type": "ack", "ids": stored})
                self.stats["stored"] += len(stored) - duplicates
                if not apply_positions:
                    self.stats["stored_for_the_task"] += len(stored) - duplicates
                self.stats["duplicates"] += duplicates
                self.stats["nacked"] += len(refused)
                logger.debug("stored %s radio messages, refused %s", len(stored), len(refused))
        acked: list[str] = []
        for receipt in receipts:
            try:
                refusal = await self._db(self._record, receipt, lane=lane)
            except Exception:  # noqa: BLE001
                logger.exception("could not record the receipt for %s (not acked)", receipt.ref)
                self.stats["store_errors"] += 1
                failed.append(receipt)
                continue
            if refusal:
                await self._send(ws, {"type": "nack", "ref": receipt.ref, "errors": refusal})
                self.stats["receipts_refused"] += 1
            else:
                acked.append(receipt.ref)
        if acked:
            await self._send(ws, {"type": "ack", "refs": acked})
            self.stats["receipts"] += len(acked)
        return failed

    def _store(
        self, items: list[Inbound], apply_positions: bool = True
    ) -> tuple[list[Any], list[tuple[Any, dict]], int]:
        """Store what is valid. Returns (ids stored or already held, [(id, errors)] refused,
        duplicates). Each store call is one transaction: all of its messages or none."""
        try:
            accepted, duplicates = radio_messages_receive(
                messages=[item.message for item in items],
                by=self.user,
                source=SOURCE,
                apply_positions=apply_positions,
            )
        except ValidationError as exc:
            # Per message, keyed by the message's index in the batch (an int).
            errors: Any = exc.detail.get("messages") if isinstance(exc.detail, dict) else None
            if not isinstance(errors, dict) or not errors:
                if len(items) == 1:
                    return [], [(items[0].id, _plain(exc.detail))], 0
                # Not per message: find the culprit by storing each on its own.
                results = [self._store([item], apply_positions) for item in items]
            else:
                bad = {int(index) for index in errors}
                refused = [(items[i].id, _plain(errors[i])) for i in sorted(bad)]
                rest = [item for i, item in enumerate(items) if i not in bad]
                results = [([], refused, 0)] + (
                    [self._store(rest, apply_positions)] if rest else []
                )
            return (
                [mid for ok, _, _ in results for mid in ok],
                [pair for _, refused, _ in results for pair in refused],
                sum(dup for _, _, dup in results),
            )
        return [item.id for item in items], [], duplicates

    def _record(self, receipt: Receipt) -> dict[str, list[str]] | None:
        """Record one receipt; None when done, else the errors for a nack."""
        # Our own `b-<id>` refs are looked up by id: the receipt may overtake the commit of
        # the send that stored the gateway's ref, and the id's row lock waits for that commit.
        message_id = protocol.message_id_of_ref(receipt.ref)
        try:
            radio_message_delivery_record(
                ref=message_id if message_id is not None else receipt.ref,
                state=receipt.state,
                by=self.user,
                note=receipt.note,
                source=SOURCE,
            )
        except RadioMessage.DoesNotExist:
            return {"ref": ["No outbound message has this reference."]}
        except DomainError as exc:
            return {"type": [str(exc.detail)]}
        return None
