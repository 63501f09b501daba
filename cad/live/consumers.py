"""The live board socket at ws/board/: push only; commands go through the REST API.

Delivery through the channel layer is at-most-once (a full channel or a Redis outage drops
messages), so the consumer keeps a cursor on its desk's stream and checks every event's `prev`
against it: a gap is filled from the Event table before the event itself goes out. The browser
therefore sees its stream in order and complete while the socket is up, and after a reconnect it
sends `resync` with the last seq it holds.

Client messages: `{"type": "resync", "since": n}`, `{"type": "snapshot"}` (a fresh board asks
for the whole picture), `{"type": "ping"}` (heartbeat; also re-joins the groups).
Server messages: `hello`, events `{"seq", "type", "data"}`, `snapshot`, `resynced`, `pong`,
`error`.
"""

import asyncio
import logging

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from cad.accounts.roles import DESPATCHER, SUPERVISOR, user_bcu_code, user_roles
from cad.accounts.second_factor import requires_second_factor
from cad.accounts.sessions import board_session_ok
from cad.live import events
from cad.live.hub import hub_for
from cad.live.session_sockets import user_group
from cad.live.snapshot import board_snapshot

logger = logging.getLogger(__name__)

BOARD_ROLES = {DESPATCHER, SUPERVISOR}
RESYNC_LIMIT = 500
# Positions are held this long and only the newest per unit is sent (settings).
COALESCE_SECONDS = float(getattr(settings, "BOARD_POSITION_HOLD_SECONDS", 0.5))
# Sent when the channel layer cannot be reached: the browser polls and retries.
CLOSE_LAYER_DOWN = 4503


class BoardConsumer(AsyncJsonWebsocketConsumer):
    """Sends `hello`, then every event for this desk in order; answers resync/snapshot/ping."""

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        roles, bcu = await database_sync_to_async(self._identity)(user)
        if not roles & BOARD_ROLES:
            await self.close(code=4403)
            return
        if not await database_sync_to_async(self._session_ok)(user):
            await self.close(code=4401)
            return
        self.bcu = bcu
        # The desk's stream comes through the process's hub (cad/live/hub.py); the user's own
        # group, through which logout, idle expiry or a disabled account closes this socket
        # (cad/live/session_sockets.py), through the layer as usual.
        self.hub = hub_for(self.channel_layer)
        self.stream = events.bcu_group(bcu) if bcu else events.ALL_GROUP
        self.groups_joined = [user_group(user.pk)]
        self.pending: dict[str, dict] = {}  # coalesce key -> newest held layer message
        self.flusher: asyncio.Task | None = None
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

    @staticmethod
    def _identity(user):
        return user_roles(user), user_bcu_code(user)

    def _session_ok(self, user) -> bool:
        """Still signed in, not idle, and past the second factor where one is due.

        Read from the session store, not the scope's copy, which is as old as the socket.
        A scope without a session (built by tests) can only be let in without a second factor.
        """
        key = getattr(self.scope.get("session"), "session_key", None)
        if key is None:
            return not requires_second_factor(user)
        return board_session_ok(key, user)

    async def session_close(self, message):
        """The user logged out, went idle or was disabled: the board must not outlive that."""
        await self.close(code=4401)

    def _cursors(self) -> tuple[int, int]:
        latest = events.latest_seq()
        return (events.latest_seq(bcu=self.bcu) if self.bcu else latest), latest

    async def _join(self):
        await self.hub.join(self.stream, self)
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)

    async def disconnect(self, code):
        flusher = getattr(self, "flusher", None)
        if flusher:
            flusher.cancel()
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
            # Heartbeats are the socket's clock: a session that ended or went idle closes here.
            if not await database_sync_to_async(self._session_ok)(self.scope["user"]):
                await self.close(code=4401)
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
            async with self.lock:
                if head > self.cursor:
                    await self._fill_gap(upto=head + 1)
            await self.send_json({"type": "pong", "seq": head})
        elif kind == "resync":
            since = content.get("since")
            if isinstance(since, bool) or not isinstance(since, int) or since < 0:
                await self.send_json({"type": "error", "detail": "resync needs integer 'since'"})
                return
            async with self.lock:
                await self._flush()
                await self._resync(since)
        elif kind == "snapshot":
            async with self.lock:
                await self._flush()
                await self._send_snapshot()
        else:
            await self.send_json({"type": "error", "detail": "unknown message type"})

    async def _resync(self, since: int):
        missed = await database_sync_to_async(events.events_since)(
            since, bcu=self.bcu, limit=RESYNC_LIMIT
        )
        if missed is None:
            await self._send_snapshot()
            return
        for message in missed:
            await self.send_json(message)
        head = missed[-1]["seq"] if missed else since
        self.cursor = max(self.cursor, head)
        await self.send_json({"type": "resynced", "seq": max(self.cursor, head)})

    async def _send_snapshot(self):
        snapshot = await database_sync_to_async(board_snapshot)(bcu=self.bcu)
        self.cursor = max(self.cursor, snapshot["seq"])
        await self.send_json(snapshot)

    async def _fill_gap(self, *, upto: int):
        """Send, from the Event table, what this stream lost between the cursor and `upto`."""
        missed = await database_sync_to_async(events.events_since)(
            self.cursor, bcu=self.bcu, limit=RESYNC_LIMIT
        )
        if missed is None:
            await self._send_snapshot()
            return
        logger.info("board %s: filling gap after seq %s", self.channel_name, self.cursor)
        for message in missed:
            if message["seq"] >= upto:
                break
            await self.send_json(message)
            self.cursor = message["seq"]

    # --- from the hub -----------------------------------------------------------------------

    async def board_events(self, items):
        """Events from the hub, in `seq` order. Called directly, not through Channels' dispatch,
        which would also close stale database connections before every call: a thread hop per
        event per socket, the largest socket-side cost once measured; this consumer touches the
        database only through database_sync_to_async, which cleans up itself."""
        for item in items:
            await self.board_event(item)

    async def board_event(self, message):
        event = message["event"]
        async with self.lock:
            if event["seq"] <= self.cursor:
                return  # already sent (by a resync, a gap fill or a snapshot)
            if message.get("prev", 0) > self.cursor:
                await self._flush()
                await self._fill_gap(upto=event["seq"])
                if event["seq"] <= self.cursor:
                    return
            self.cursor = event["seq"]
            key = message.get("coalesce")
            if key:
                self.pending.pop(key, None)
                self.pending[key] = message
                if self.flusher is None or self.flusher.done():
                    self.flusher = asyncio.ensure_future(self._flush_later())
                return
            # Held positions are older than this event: send them first to keep seq order.
            await self._flush()
            await self._send_published(message)

    async def _send_published(self, message):
        if "text" in message:
            await self.send(text_data=message["text"])
        else:
            await self.send_json(message["event"])

    async def _flush_later(self):
        await asyncio.sleep(COALESCE_SECONDS)
        async with self.lock:
            await self._flush()

    async def _flush(self):
        if not self.pending:
            return
        held = sorted(self.pending.values(), key=lambda m: m["event"]["seq"])
        self.pending = {}
        for message in held:
            await self._send_published(message)
