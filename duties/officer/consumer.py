"""The officer's phone socket at /ws/officer/: push only, like the board (cad/live/consumers.py).

It carries only `unit.updated`/`unit.emergency` for the unit the officer is booked on to and
`incident.*` for that unit's current job, in the board's envelope (`hello`, events
`{"seq", "type", "data"}`, `resync` → missed events then `resynced`, or `snapshot` when too many
were missed: the phone then reloads its unit and job over the API).

Delivery is at most once, so the phone resyncs after a reconnect. The socket follows its user as
the board does: it re-checks the session, role and post at least every BOARD_RECHECK_SECONDS and
whenever told (logout, password or role change: the `user.<id>` group), closing with 4401 (signed
out) or 4403 (no longer an officer), and moving to another unit's group when the officer is
booked on to another one (announced by an unasked-for `snapshot`).
"""

import asyncio
import logging
import math
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.contrib.auth.models import User
from django.db.models import Q

from cad.accounts.roles import OFFICER, has_role
from cad.accounts.second_factor import requires_second_factor
from cad.accounts.sessions import board_session_seconds_left
from cad.live import events
from cad.live.rechecked import RecheckedSocket
from cad.live.retention import events_pruned_through
from cad.live.session_sockets import user_group
from cad.models import Event
from duties.officer.live import INCIDENT_TYPES, UNIT_TYPES, incident_group, unit_group
from duties.officer.selectors import officer_post, unit_current_incident_id

logger = logging.getLogger(__name__)

RESYNC_LIMIT = 200


class OfficerConsumer(RecheckedSocket, AsyncJsonWebsocketConsumer):
    """Sends `hello`, then its unit's and its job's events; answers resync and ping."""

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        self.user_id = user.pk
        code, callsign, incident, left = await database_sync_to_async(self._verdict)()
        if code is not None:
            await self.close(code=code)
            return
        self.callsign: str | None = None
        self.incident: int | None = None
        self.lock = asyncio.Lock()
        await self.channel_layer.group_add(user_group(self.user_id), self.channel_name)
        await self._move(callsign, incident)
        await self.accept()
        seq = await database_sync_to_async(events.latest_seq)()
        await self.send_json(
            {"type": "hello", "seq": seq, "unit": self.callsign, "incident": self.incident}
        )
        self.watcher = asyncio.ensure_future(self._watch(first_wait=left))

    def _session_left(self, user) -> float:
        key = getattr(self.scope.get("session"), "session_key", None)
        if key is None:
            return 0.0 if requires_second_factor(user) else math.inf
        return board_session_seconds_left(key, user)

    def _verdict(self) -> tuple[int | None, str | None, int | None, float]:
        """(close code or None, the unit's call sign, its job, session seconds left), read
        afresh: the scope's user is as old as the socket."""
        user = User.objects.filter(pk=self.user_id, is_active=True).first()
        if user is None:
            return 4401, None, None, 0.0
        left = self._session_left(user)
        if left <= 0:
            return 4401, None, None, 0.0
        post = officer_post(user=user)
        if not has_role(user, OFFICER) or post is None:
            return 4403, None, None, 0.0
        unit = post.unit
        if unit is None:
            return None, None, None, left
        return None, unit.callsign, unit_current_incident_id(unit=unit), left

    async def _move(self, callsign: str | None, incident: int | None) -> None:
        """Be in exactly the groups of this unit and this job."""
        if callsign != self.callsign:
            if self.callsign:
                await self.channel_layer.group_discard(unit_group(self.callsign), self.channel_name)
            if callsign:
                await self.channel_layer.group_add(unit_group(callsign), self.channel_name)
            self.callsign = callsign
        await self._follow_job(incident)

    async def _follow_job(self, incident: int | None) -> None:
        if incident == self.incident:
            return
        if self.incident:
            await self.channel_layer.group_discard(incident_group(self.incident), self.channel_name)
        if incident:
            await self.channel_layer.group_add(incident_group(incident), self.channel_name)
        self.incident = incident

    async def _recheck(self) -> float | None:
        code, callsign, incident, left = await database_sync_to_async(self._verdict)()
        if code is not None:
            await self.close(code=code)
            return None
        async with self.lock:
            if callsign != self.callsign or incident != self.incident:
                await self._move(callsign, incident)
                seq = await database_sync_to_async(events.latest_seq)()
                await self.send_json(
                    {"type": "snapshot", "seq": seq, "unit": callsign, "incident": incident}
                )
        return left

    async def disconnect(self, code):
        watcher = getattr(self, "watcher", None)
        if watcher is not None:
            watcher.cancel()
        groups = [user_group(self.user_id)] if hasattr(self, "user_id") else []
        callsign, incident = getattr(self, "callsign", None), getattr(self, "incident", None)
        if callsign:
            groups.append(unit_group(callsign))
        if incident:
            groups.append(incident_group(incident))
        for group in groups:
            try:
                await self.channel_layer.group_discard(group, self.channel_name)
            except Exception:  # noqa: BLE001  (Redis may be why we are disconnecting)
                logger.info("could not leave %s on disconnect", group)

    # --- from the phone ---------------------------------------------------------------------

    async def receive_json(self, content, **kwargs):
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "ping":
            if await self._recheck() is None:
                return
            seq = await database_sync_to_async(events.latest_seq)()
            await self.send_json({"type": "pong", "seq": seq})
        elif kind == "resync":
            since = content.get("since")
            if isinstance(since, bool) or not isinstance(since, int) or since < 0:
                await self.send_json({"type": "error", "detail": "resync needs integer 'since'"})
                return
            async with self.lock:
                await self._resync(since)
        else:
            await self.send_json({"type": "error", "detail": "unknown message type"})

    def _missed(self, since: int) -> list[dict[str, Any]] | None:
        mine = Q(pk__in=[])
        if self.callsign:
            mine |= Q(type__in=UNIT_TYPES, data__callsign=self.callsign)
        if self.incident:
            mine |= Q(type__in=INCIDENT_TYPES, data__id=self.incident)
        rows = [
            {"seq": e["seq"], "type": e["type"], "data": e["data"]}
            for e in Event.objects.filter(mine, seq__gt=since)
            .order_by("seq")
            .values("seq", "type", "data")[: RESYNC_LIMIT + 1]
        ]
        # Some of what it missed may have been pruned (cad/live/retention.py): a snapshot, not
        # a list with its start gone. Read after the rows, as events_since does.
        if len(rows) > RESYNC_LIMIT or since < events_pruned_through():
            return None
        return rows

    async def _resync(self, since: int) -> None:
        missed = await database_sync_to_async(self._missed)(since)
        seq = await database_sync_to_async(events.latest_seq)()
        if missed is None:
            await self.send_json(
                {"type": "snapshot", "seq": seq, "unit": self.callsign, "incident": self.incident}
            )
            return
        for message in missed:
            await self.send_json(message)
        await self.send_json({"type": "resynced", "seq": seq})

    # --- from the channel layer -------------------------------------------------------------

    async def dispatch(self, message):
        """Events straight to their handler. Channels' dispatch first closes stale database
        connections through the thread that runs every synchronous database call of the
        process: one hop per event per phone, queued behind 2,000 phones' re-checks, which was
        seconds of delay in bench/officer_push.py. These handlers touch the database only
        through database_sync_to_async, which cleans up itself (as the board's hub does)."""
        if message.get("type") == "board.event":
            await self.board_event(message)
        elif message.get("type") == "board.events":
            await self.board_events(message)
        else:
            await super().dispatch(message)

    async def board_events(self, message):
        for item in message["items"]:
            await self.board_event(item)

    async def board_event(self, message):
        event = message["event"]
        data = event.get("data") or {}
        async with self.lock:
            if event["type"] in UNIT_TYPES:
                if data.get("callsign") != self.callsign:
                    return  # sent to a group this socket has just left
                # Both carry the unit's job: a new despatch moves the socket to its group.
                await self._follow_job(data.get("incident"))
            elif event["type"] in INCIDENT_TYPES:
                if data.get("id") != self.incident:
                    return
            else:
                return
            if "text" in message:
                await self.send(text_data=message["text"])
            else:
                await self.send_json(event)
