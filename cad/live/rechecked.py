"""The re-check clock shared by every socket that serves a signed-in user (the board, the
officers' phones): re-check at least every BOARD_RECHECK_SECONDS and just after the session
would go idle, close on `session.close`, re-check on `session.recheck`
(cad/live/session_sockets.py, cad/accounts/identity_changes.py)."""

import asyncio
import json
import logging

from django.conf import settings

logger = logging.getLogger(__name__)


class RecheckedSocket:
    """Mixed into an AsyncJsonWebsocketConsumer that defines `_recheck()`: the seconds until
    the next check is due, or None once the socket has closed."""

    async def _recheck(self) -> float | None:
        raise NotImplementedError

    @classmethod
    async def decode_json(cls, text_data):
        """A frame that is not JSON (or nests past the decoder's limit) is None, which
        `receive_json` answers as an unknown message: channels' own decoder raises, and the
        exception closed the socket."""
        try:
            return json.loads(text_data)
        except (ValueError, RecursionError):
            return None

    async def _watch(self, *, first_wait: float) -> None:
        """The socket's own clock, so an ended session never waits for the next heartbeat."""
        every = float(settings.BOARD_RECHECK_SECONDS)
        wait = first_wait
        while True:
            # A moment past the idle deadline, so the re-check finds it passed.
            await asyncio.sleep(max(0.0, min(every, wait + 0.05)))
            try:
                left = await self._recheck()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001  (database briefly away: try again next round)
                logger.warning("socket %s: re-check failed; retrying", self.channel_name)  # type: ignore[attr-defined]
                left = every
            if left is None:
                return
            wait = left

    async def session_close(self, message):
        """The user logged out, went idle or was disabled: the socket must not outlive that."""
        await self.close(code=4401)  # type: ignore[attr-defined]

    async def session_recheck(self, message):
        """The user's password, roles or scope changed: re-check now."""
        await self._recheck()
