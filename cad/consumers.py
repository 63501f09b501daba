"""The live board socket at ws/board/: push only; commands go through the REST API."""

import logging

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from cad import events
from cad.roles import DESPATCHER, SUPERVISOR, user_bcu_code, user_roles

logger = logging.getLogger(__name__)

BOARD_ROLES = {DESPATCHER, SUPERVISOR}
RESYNC_LIMIT = 500


class BoardConsumer(AsyncJsonWebsocketConsumer):
    """Sends `hello`, then every event for this desk; answers `resync` and `ping`."""

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        roles, bcu = await database_sync_to_async(self._identity)(user)
        if not roles & BOARD_ROLES:
            await self.close(code=4403)
            return
        self.bcu = bcu
        self.groups_joined = [events.bcu_group(bcu)] if bcu else [events.ALL_GROUP]
        await self._join()
        await self.accept()
        seq = await database_sync_to_async(events.latest_seq)()
        await self.send_json({"type": "hello", "seq": seq, "bcu": bcu})

    @staticmethod
    def _identity(user):
        return user_roles(user), user_bcu_code(user)

    async def _join(self):
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)

    async def disconnect(self, code):
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "ping":
            # Re-joining refreshes group membership, which channels-redis would otherwise
            # expire: a board may stay open for weeks.
            await self._join()
            await self.send_json({"type": "pong"})
        elif kind == "resync":
            since = content.get("since")
            if not isinstance(since, int) or since < 0:
                await self.send_json({"type": "error", "detail": "resync needs integer 'since'"})
                return
            missed = await database_sync_to_async(events.events_since)(
                since, bcu=self.bcu, limit=RESYNC_LIMIT
            )
            if missed is None:
                await self.send_json(await self._snapshot())
            else:
                for message in missed:
                    await self.send_json(message)
        else:
            await self.send_json({"type": "error", "detail": "unknown message type"})

    async def _snapshot(self):
        from cad.snapshot import board_snapshot

        return await database_sync_to_async(board_snapshot)(bcu=self.bcu)

    async def board_event(self, message):
        await self.send_json(message["event"])
