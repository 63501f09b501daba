"""The live board socket at ws/board/: push only; commands go through the REST API.

Delivery through the channel layer is at-most-once (a full channel or a Redis outage drops
messages), so the consumer keeps a cursor on its desk's stream and checks every event's `prev`
against it. Several processes publish after their commits, so an event often arrives just
before the one it follows: one whose `prev` is ahead of the cursor is parked, and parked events
go out in order as soon as the missing ones arrive. Only a gap still open after
BOARD_GAP_GRACE_SECONDS (or with more than BOARD_GAP_PARK_LIMIT events parked behind it) is
filled from the Event table, or answered with a snapshot when too much is missing. The browser
therefore sees its stream in order and complete while the socket is up, and after a reconnect it
sends `resync` with the last seq it holds.

A client that connects with `?batch=1` may get several consecutive events in one frame,
`{"type": "events", "events": [{"seq", "type", "data"}, ...]}` in seq order (a flush of held
positions, a batch from the hub, a gap fill); without it every event is a frame of its own.

The socket also follows its user. Whenever the user's password, roles, scope or session
change it is told to re-check (cad/accounts/identity_changes.py, cad/live/session_sockets.py),
and it re-checks itself at least every BOARD_RECHECK_SECONDS and at the moment its session
would go idle, without waiting for the browser's heartbeat: an ended session or a new password
closes it with 4401, a lost board role with 4403, and a new scope moves it to that scope's
stream, announced by an unasked-for `snapshot` of the new stream (with `"bcu"`) that replaces
the page's board.

Client messages: `{"type": "resync", "since": n}`, `{"type": "snapshot"}` (a fresh board asks
for the whole picture), `{"type": "ping"}` (heartbeat; also re-joins the groups).
Server messages: `hello`, events `{"seq", "type", "data"}` (and `events` frames, opted in),
`snapshot`, `resynced`, `pong`, `error`.
"""

import asyncio
import logging
import math
from collections.abc import Callable
from urllib.parse import parse_qs

from autobahn.exception import Disconnected
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.contrib.auth.models import User

from cad.accounts.roles import DESPATCHER, SUPERVISOR, user_bcu_code, user_roles
from cad.accounts.second_factor import requires_second_factor
from cad.accounts.sessions import board_session_seconds_left
from cad.live import events
from cad.live.hub import Delivery, Run, hub_for
from cad.live.rechecked import RecheckedSocket
from cad.live.send_buffer import reader
from cad.live.session_sockets import user_group
from cad.live.shared_frames import Writer, writer
from cad.live.snapshot import board_snapshot

logger = logging.getLogger(__name__)

BOARD_ROLES = {DESPATCHER, SUPERVISOR}
RESYNC_LIMIT = 500
# Positions are held this long and only the newest per unit is sent (settings).
COALESCE_SECONDS = float(getattr(settings, "BOARD_POSITION_HOLD_SECONDS", 0.25))
# How long an event that overtook the one before it waits for it (settings).
GAP_GRACE_SECONDS = float(getattr(settings, "BOARD_GAP_GRACE_SECONDS", 0.5))
# At most this many events wait behind a gap; one more and the gap is filled from the table.
GAP_PARK_LIMIT = int(getattr(settings, "BOARD_GAP_PARK_LIMIT", 1000))
# Sent when the channel layer cannot be reached: the browser polls and retries.
CLOSE_LAYER_DOWN = 4503
# Sent to a desk that stopped reading (cad/live/send_buffer.py): the browser reconnects and
# resyncs, as after any drop.
CLOSE_NOT_READING = 4408
SEND_BUFFER_LIMIT = settings.BOARD_SEND_BUFFER_LIMIT_BYTES  # its default lives in settings


class Turn:
    """`async with socket.turn()`: the socket's lock, then its outbox sent before the lock goes
    (not sent if the turn failed). A class, not `contextlib.asynccontextmanager`: that makes an
    async generator, and the event loop registers each one, for every delivery to every desk
    (about a tenth of daphne's time per delivery at 1,000 desks, docs/benchmarks.md stop 40)."""

    __slots__ = ("socket",)

    def __init__(self, socket: "BoardConsumer"):
        self.socket = socket

    async def __aenter__(self) -> None:
        await self.socket.lock.acquire()

    async def __aexit__(self, kind, value, traceback) -> None:
        try:
            if kind is None:
                await self.socket._send_outbox()
        finally:
            self.socket.lock.release()


class BoardConsumer(RecheckedSocket, AsyncJsonWebsocketConsumer):
    """Sends `hello`, then every event for this desk in order; answers resync/snapshot/ping."""

    unsent: Callable[[], int] | None = None  # the server's reader of what it holds for the desk
    write_text: Writer | None = None  # the server's frame writer (shared_frames)
    cut_off = False  # closed for not reading: nothing more is sent

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        roles, bcu = await database_sync_to_async(self._identity)(user)
        if not roles & BOARD_ROLES:
            await self.close(code=4403)
            return
        session_left = await database_sync_to_async(self._session_left)(user)
        if session_left <= 0:
            await self.close(code=4401)
            return
        self.user_id = user.pk
        self.bcu = bcu
        # The desk's stream comes through the process's hub (cad/live/hub.py); the user's own
        # group, through which logout, idle expiry or a disabled account closes this socket
        # (cad/live/session_sockets.py), through the layer as usual.
        self.hub = hub_for(self.channel_layer)
        self.stream = events.bcu_group(bcu) if bcu else events.ALL_GROUP
        self.groups_joined = [user_group(user.pk)]
        self.pending: dict[str, dict] = {}  # coalesce key -> newest held layer message
        self.flusher: asyncio.Task | None = None
        # Events that arrived before the one they follow: seq -> (layer message, loop time it
        # arrived), in arrival order; see `board_event`.
        self.parked: dict[int, tuple[dict, float]] = {}
        self.gap_closer: asyncio.Task | None = None
        # Opted-in clients get consecutive events in one frame; collected here within a turn.
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        self.batch = query.get("batch") == ["1"]
        self.outbox: list[str] = []
        self.unsent = reader(self.scope)  # None where the server cannot tell
        self.write_text = writer(self.scope)  # None where the server has none
        self.lock = asyncio.Lock()
        # Join before reading the cursor: anything committed after the read arrives live, and
        # waits for the lock, so it goes out after `hello` and is dropped if the cursor has it.
        async with self.lock:
            await self._join()
            await self.accept()
            self.cursor, seq = await database_sync_to_async(self._cursors)()
            await self.send_json(
                {"type": "hello", "seq": seq, "stream_seq": self.cursor, "bcu": bcu}
            )
        self.watcher = asyncio.ensure_future(self._watch(first_wait=session_left))

    @staticmethod
    def _identity(user):
        return user_roles(user), user_bcu_code(user)

    def _session_left(self, user) -> float:
        """Seconds this socket's session stays good (signed in under the current password, not
        idle, past the second factor where one is due); <= 0 when it is not good now.

        Read from the session store, not the scope's copy, which is as old as the socket.
        A scope without a session (built by tests) can only be let in without a second factor.
        """
        key = getattr(self.scope.get("session"), "session_key", None)
        if key is None:
            return 0.0 if requires_second_factor(user) else math.inf
        return board_session_seconds_left(key, user)

    def _verdict(self) -> tuple[int | None, str | None, float]:
        """(close code or None, the BCU to serve, seconds the session stays good), read afresh
        from the database: the scope's user object is as old as the socket."""
        # The scope and its BCU in the same statement: this runs for every socket every minute.
        users = User.objects.select_related("scope__bcu")
        user = users.filter(pk=self.user_id, is_active=True).first()
        if user is None:
            return 4401, None, 0.0
        left = self._session_left(user)
        if left <= 0:
            return 4401, None, 0.0
        roles, bcu = self._identity(user)
        if not roles & BOARD_ROLES:
            return 4403, None, 0.0
        return None, bcu, left

    async def _recheck(self) -> float | None:
        """Close, re-scope or keep the socket. Returns the session's time left, None if closed."""
        code, bcu, left = await database_sync_to_async(self._verdict)()
        if code is not None:
            await self.close(code=code)
            return None
        if bcu != self.bcu:
            await self._rescope(bcu)
        return left

    async def _rescope(self, bcu: str | None) -> None:
        """Serve another BCU's stream (or all London): leave the old stream, join the new one,
        and replace the page's board with a snapshot of it. Nothing of the old stream follows:
        held positions are dropped and deliveries still queued from it are refused by
        `board_events`."""
        async with self.turn():
            self.pending = {}
            self.parked = {}
            self.hub.leave(self.stream, self)
            self.bcu = bcu
            self.stream = events.bcu_group(bcu) if bcu else events.ALL_GROUP
            await self.hub.join(self.stream, self)
            snapshot = await database_sync_to_async(board_snapshot)(bcu=bcu)
            # The snapshot holds everything of the new stream up to its seq.
            self.cursor = snapshot["seq"]
            await self._send_outbox()
            await self.send_json({**snapshot, "bcu": bcu})

    def _cursors(self) -> tuple[int, int]:
        latest = events.latest_seq()
        return (events.latest_seq(bcu=self.bcu) if self.bcu else latest), latest

    async def _join(self):
        await self.hub.join(self.stream, self)
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)

    async def disconnect(self, code):
        for name in ("watcher", "flusher", "gap_closer"):
            task = getattr(self, name, None)
            if task is not None:
                task.cancel()
        if getattr(self, "hub", None):
            self.hub.leave(self.stream, self)
        for group in getattr(self, "groups_joined", []):
            try:
                await self.channel_layer.group_discard(group, self.channel_name)
            except Exception:  # noqa: BLE001  (Redis may be the reason we are disconnecting)
                logger.info("could not leave %s on disconnect", group)

    # --- from the browser ------------------------------------------------------------------

    async def receive_json(self, content, **kwargs):
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "ping":
            # A heartbeat re-checks too (the socket's own clock does so regardless).
            if await self._recheck() is None:
                return
            # Re-joining refreshes group membership, which the list-based layer would otherwise
            # expire (a board may stay open for weeks), and finds out whether Redis is there:
            # the pub/sub layer keeps a socket open, silent, through an outage. Closing it
            # makes the browser show its banner and poll until it can reconnect. Comparing the
            # stream's head with the cursor also catches a lost *last* event, which no later
            # `prev` would reveal.
            try:
                await self._join()
            except Exception:  # noqa: BLE001  (Redis unreachable: live updates are down)
                logger.warning("board %s: channel layer unreachable; closing", self.channel_name)
                await self.close(code=CLOSE_LAYER_DOWN)
                return
            head = await database_sync_to_async(events.latest_seq)(bcu=self.bcu)
            async with self.turn():
                if head > self.cursor:
                    await self._fill_gap(upto=head + 1)
                    await self._deliver_parked()
            await self.send_json({"type": "pong", "seq": head})
        elif kind == "resync":
            since = content.get("since")
            if isinstance(since, bool) or not isinstance(since, int) or since < 0:
                await self.send_json({"type": "error", "detail": "resync needs integer 'since'"})
                return
            async with self.turn():
                await self._flush()
                await self._resync(since)
                await self._deliver_parked()
        elif kind == "snapshot":
            async with self.turn():
                await self._flush()
                await self._send_snapshot()
                await self._deliver_parked()
        else:
            await self.send_json({"type": "error", "detail": "unknown message type"})

    async def _resync(self, since: int):
        missed = await self.hub.reads.events_since(since, bcu=self.bcu, limit=RESYNC_LIMIT)
        if missed is None:
            await self._send_snapshot()
            return
        for _, text in missed:
            await self._send_text(text)
        head = missed[-1][0] if missed else since
        self.cursor = max(self.cursor, head)
        await self._send_outbox()
        await self.send_json({"type": "resynced", "seq": max(self.cursor, head)})

    async def _send_snapshot(self):
        seq, text = await self.hub.reads.snapshot(bcu=self.bcu)
        self.cursor = max(self.cursor, seq)
        await self._send_outbox()
        await self.send(text_data=text)

    async def _fill_gap(self, *, upto: int):
        """Send, from the Event table, what this stream lost between the cursor and `upto`
        (a snapshot when that is more than RESYNC_LIMIT events or has been pruned)."""
        # Held positions are older than anything in the gap.
        await self._flush()
        missed = await self.hub.reads.events_since(
            self.cursor, bcu=self.bcu, limit=RESYNC_LIMIT, before=upto
        )
        if missed is None:
            await self._send_snapshot()
            return
        logger.info("board %s: filling gap after seq %s", self.channel_name, self.cursor)
        for seq, text in missed:
            await self._send_text(text)
            self.cursor = seq

    def turn(self) -> "Turn":
        """Hold the lock; what was queued for an opted-in client goes out as one frame before
        the lock is let go, so frames keep seq order."""
        return Turn(self)

    async def _send_text(self, text: str) -> None:
        """Send one encoded event: at once, or queued for this turn's `events` frame."""
        if self.batch:
            self.outbox.append(text)
        else:
            await self.send(text_data=text, shared=True)

    async def _send_outbox(self) -> None:
        if self.outbox:
            text, shared = self._outbox_frame()
            await self.send(text_data=text, shared=shared)

    def _outbox_frame(self) -> tuple[str, bool]:
        """The queued texts as one frame (emptying the outbox), and whether every desk on the
        stream is sent the same (a single event as published)."""
        texts, self.outbox = self.outbox, []
        if len(texts) == 1:
            return texts[0], True
        # Each event is already JSON (encoded once by the publisher): a join, not a re-encode.
        return '{"type":"events","events":[' + ",".join(texts) + "]}", False

    async def send_json(self, content, close=False):
        """Through `send` below, like every other frame (Channels' own goes around it)."""
        await self.send(text_data=await self.encode_json(content), close=close)

    async def send(self, text_data=None, bytes_data=None, close=False, *, shared=False):
        """A frame for a browser that has just gone is dropped: between its connection closing
        and `disconnect` taking the socket off the hub, daphne refuses sends with autobahn's
        Disconnected, and every delivery in that moment logged a traceback as a failure (30 in
        a five-minute soak with its reconnects, stop 25).

        A text goes straight to daphne's connection where the server allows it
        (cad/live/shared_frames.py); `shared` says every desk on the stream is sent the same
        text (an event as published), so its frame is built once for all of them."""
        if self.cut_off:
            return
        if (unsent := self._unsent()) > SEND_BUFFER_LIMIT:
            # Everything from here on is dropped; the desk resyncs when it reconnects.
            self.cut_off = True
            self.hub.figures.cut_offs += 1
            logger.warning("board %s: the desk stopped reading, %d bytes unsent; closing",
                           self.channel_name, unsent)  # fmt: skip
            await self.close(code=CLOSE_NOT_READING)
            return
        if self.write_text is not None:
            if text_data is not None and not close and self.write_text(text_data, shared=shared):
                return
            self.write_text.flush()  # what it wrote this turn goes first
        try:
            await super().send(text_data=text_data, bytes_data=bytes_data, close=close)
        except Disconnected:
            logger.debug("board %s: send after the browser left; dropped", self.channel_name)

    def _unsent(self) -> int:
        """What daphne still holds for the desk (0 where the server cannot tell), recorded for
        /metrics."""
        if self.unsent is None:
            return 0
        unsent = self.unsent()
        self.hub.figures.observe_unsent(unsent)
        return unsent

    async def close(self, code=None, reason=None):
        """The frames written this turn go before the close frame (cad/live/shared_frames.py)."""
        if self.write_text is not None:
            self.write_text.flush()
        await super().close(code=code, reason=reason)

    # --- from the hub -----------------------------------------------------------------------

    async def board_events(self, items, stream, run: Run | None = None):
        """Events from the hub, in `seq` order. Called directly, not through Channels' dispatch,
        which would also close stale database connections before every call: a thread hop per
        event per socket, the largest socket-side cost once measured; this consumer touches the
        database only through database_sync_to_async, which cleans up itself. One turn of the
        lock for the lot, so an opted-in client gets them in one frame.

        A run of positions that starts where this socket's cursor is (the usual case: a radio
        batch on a socket that is keeping up) is held whole, the newest per unit worked out once
        by the hub for every socket on the stream: item by item, each socket did the same work
        again, most of daphne's time in the soak."""
        async with self.turn():
            await self._take(items, stream, run)

    def board_events_now(self, items, stream, run: Run | None = None) -> bool:
        """`board_events` as plain calls, for the usual delivery to a desk keeping up: the
        awaited path makes a coroutine for every step from the turn and its lock down to
        `send`, for every desk and every event (about a third of daphne's samples per
        delivery at 500 desks, stop 41). True when done. False, having changed nothing, when
        the delivery needs what only the awaited path does: a gap to wait for or fill, parked
        events, a desk over its send buffer to cut off, or no open connection to write to; the
        hub then awaits `board_events`. Nothing here yields, so nothing can come between."""
        write = self.write_text
        if write is None or self.lock.locked() or self.parked or self.cut_off:
            return False
        if not write.ready() or self._unsent() > SEND_BUFFER_LIMIT:
            return False
        if stream != self.stream:
            return True  # queued before the socket was re-scoped: dropped, as `_take` does
        if run is not None and run.first_prev <= self.cursor < run.first_seq:
            self._hold_run(run)
            return True
        cursor = self.cursor
        for item in items:
            if item["seq"] > cursor:
                if item.get("prev", 0) > cursor:
                    return False  # overtaken or lost: `board_event` parks it
                cursor = item["seq"]
        for item in items:
            if item["seq"] > self.cursor and not self._hold(item):
                for held in self._take_held():
                    self._text_now(write, held["text"])
                self._text_now(write, item["text"])
        if self.outbox:
            text, shared = self._outbox_frame()
            write(text, shared=shared)
        return True

    def _text_now(self, write: Writer, text: str) -> None:
        if self.batch:
            self.outbox.append(text)
        else:
            write(text, shared=True)

    async def board_backlog(self, take: Callable[[], list[Delivery]]) -> None:
        """What the hub queued while this socket was busy: all of it in one turn of the lock
        (one frame for an opted-in client), in the order it came."""
        async with self.turn():
            for items, stream, run in take():
                await self._take(items, stream, run)

    async def _take(self, items, stream, run: Run | None) -> None:
        """One delivery from the hub; the caller holds the lock."""
        if stream != self.stream:
            return  # queued before the socket was re-scoped to another stream
        if run is not None and not self.parked and (run.first_prev <= self.cursor < run.first_seq):
            self._hold_run(run)
            return
        for item in items:
            await self.board_event(item, stream)

    async def board_event(self, message, stream):
        """One event from the hub; the caller holds the lock."""
        if message["seq"] <= self.cursor:
            return  # already sent (by a resync, a gap fill or a snapshot)
        if message.get("prev", 0) > self.cursor:
            # Most likely overtaken by its predecessor's publish, not lost: wait for it a little
            # rather than ask the database (a query per socket per overtaken event).
            await self._park(message)
            return
        await self._accept(message)
        if self.parked:
            await self._deliver_parked()

    async def _park(self, message) -> None:
        self.parked[message["seq"]] = (message, asyncio.get_running_loop().time())
        if len(self.parked) > GAP_PARK_LIMIT:
            await self._fill_parked_gaps()
        elif self.gap_closer is None or self.gap_closer.done():
            self.gap_closer = asyncio.ensure_future(self._close_gap_later())

    async def _deliver_parked(self) -> None:
        """Send the parked events the cursor has reached, in order, up to the next gap."""
        for seq in sorted(self.parked):
            message = self.parked[seq][0]
            if seq > self.cursor and message.get("prev", 0) > self.cursor:
                return  # still a gap before it
            del self.parked[seq]
            if seq > self.cursor:
                await self._accept(message)

    async def _fill_parked_gaps(self) -> None:
        """Fill each gap before a parked event from the table (one query a gap), sending the
        parked events between them as they come due."""
        while self.parked:
            first = min(self.parked)
            await self._fill_gap(upto=first)
            if first in self.parked and first > self.cursor:
                # The table holds nothing more before it, whatever its `prev` said: it is next
                # (without this a `prev` the table cannot match would loop here forever).
                await self._accept(self.parked.pop(first)[0])
            await self._deliver_parked()

    async def _close_gap_later(self) -> None:
        """Fill from the table once the longest-waiting parked event has waited the grace."""
        loop = asyncio.get_running_loop()
        while self.parked:
            _, arrived = next(iter(self.parked.values()))  # dicts keep arrival order
            await asyncio.sleep(max(0.0, arrived + GAP_GRACE_SECONDS - loop.time()))
            async with self.turn():
                if self.parked and next(iter(self.parked.values()))[1] == arrived:
                    await self._fill_parked_gaps()

    async def _accept(self, message) -> None:
        """Send (or hold, for a position) the event that follows the cursor."""
        if self._hold(message):
            return
        # Held positions are older than this event: send them first to keep seq order.
        await self._flush()
        await self._send_published(message)

    def _hold(self, message) -> bool:
        """Move the cursor to the event; hold it if it is a position (True), the newest per
        unit, for the next flush."""
        self.cursor = message["seq"]
        key = message.get("coalesce")
        if not key:
            return False
        self.pending.pop(key, None)
        self.pending[key] = message
        self._flush_soon()
        return True

    def _hold_run(self, run: Run) -> None:
        """A run of positions starting at the cursor, held whole (its newest per unit)."""
        self.cursor = run.last_seq
        self.pending.update(run.newest)
        self._flush_soon()

    def _flush_soon(self) -> None:
        if self.flusher is None or self.flusher.done():
            self.flusher = asyncio.ensure_future(self._flush_later())

    def _take_held(self) -> list[dict]:
        """The held positions in seq order, no longer held."""
        held = sorted(self.pending.values(), key=lambda m: m["seq"]) if self.pending else []
        self.pending = {}
        return held

    async def _send_published(self, message):
        await self._send_text(message["text"])

    async def _flush_later(self):
        await asyncio.sleep(COALESCE_SECONDS)
        async with self.turn():
            await self._flush()

    async def _flush(self):
        for message in self._take_held():
            await self._send_published(message)
