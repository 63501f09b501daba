"""Board sockets and fan-out lag of each server process, for `/metrics`.

Each daphne process's board hub (cad/live/hub.py) counts its sockets and measures, for every
layer message it fans out, the time from publish (`sent`, stamped by cad/live/events.py) to the last
local socket handed the event. A scrape reaches one process, so with Redis each hub writes its
figures to a key of its own (`beacon:<prefix>:live:<host>:<pid>`, expiring after
LIVE_REPORT_TTL_SECONDS) at most every LIVE_REPORT_SECONDS, on a join, leave or fan-out (board
sockets ping every few seconds, so a quiet process still reports); the collector reads every
process's key. On the embedded default there is one process, and the figures are read in place.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any

import redis
import redis.asyncio as aioredis
from django.conf import settings

logger = logging.getLogger(__name__)

LIVE_REPORT_SECONDS = 10.0
LIVE_REPORT_TTL_SECONDS = 120


def process_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _key_prefix() -> str:
    return f"beacon:{getattr(settings, 'CHANNEL_LAYER_PREFIX', 'asgi')}:live:"


@dataclass
class LiveFigures:
    """One process's figures: sockets now, and the fan-out lag since the last report."""

    sockets: int = 0
    lag_max: float = 0.0
    lag_last: float | None = None
    fanouts: int = 0
    # What daphne held unsent for a board socket when a frame went to it: the largest since
    # the last report. How near desks come to the cut-off (decision 0037) before any is cut.
    unsent_max: int = 0
    cut_offs: int = 0  # board sockets closed for not reading, since the process started
    reported_at: float = 0.0
    _client: Any = field(default=None, repr=False)
    _reporting: bool = False

    def observe_lag(self, seconds: float) -> None:
        self.lag_last = seconds
        self.lag_max = max(self.lag_max, seconds)
        self.fanouts += 1

    def observe_unsent(self, size: int) -> None:
        if size > self.unsent_max:
            self.unsent_max = size

    def as_dict(self) -> dict[str, Any]:
        return {
            "sockets": self.sockets,
            "lag_max_s": self.lag_max,
            "lag_last_s": self.lag_last,
            "fanouts": self.fanouts,
            "unsent_max_bytes": self.unsent_max,
            "cut_offs": self.cut_offs,
            "at": time.time(),
        }

    def report_soon(self, *, force: bool = False) -> None:
        """Report in the background if due: the board's own work never waits for metrics."""
        if not settings.REDIS_URL or self._reporting:
            return
        if force or time.monotonic() - self.reported_at >= LIVE_REPORT_SECONDS:
            asyncio.ensure_future(self.maybe_report(force=force))

    async def maybe_report(self, *, force: bool = False) -> None:
        """Write this process's figures to Redis if due; never raise (metrics must not break
        the board), and give up after two seconds."""
        if not settings.REDIS_URL or self._reporting:
            return
        now = time.monotonic()
        if not force and now - self.reported_at < LIVE_REPORT_SECONDS:
            return
        self._reporting = True
        self.reported_at = now
        try:
            if self._client is None:
                self._client = aioredis.from_url(
                    settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1
                )
            key, value = _key_prefix() + process_id(), json.dumps(self.as_dict())
            await asyncio.wait_for(self._client.set(key, value, ex=LIVE_REPORT_TTL_SECONDS), 2)
            self.lag_max = 0.0  # the maxima are per report interval
            self.unsent_max = 0
        except Exception:  # noqa: BLE001
            logger.debug("could not report live figures", exc_info=True)
        finally:
            self._reporting = False


def collect(local: list[LiveFigures]) -> dict[str, dict[str, Any]]:
    """{process: figures} of every live server process (from Redis), or of this one."""
    if not settings.REDIS_URL:
        if not local:
            return {}
        return {
            process_id(): {
                "sockets": sum(f.sockets for f in local),
                "lag_max_s": max(f.lag_max for f in local),
                "lag_last_s": next((f.lag_last for f in local if f.lag_last is not None), None),
                "unsent_max_bytes": max(f.unsent_max for f in local),
                "cut_offs": sum(f.cut_offs for f in local),
            }
        }
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2)
    try:
        keys = list(client.scan_iter(match=_key_prefix() + "*", count=500))
        values = client.mget(keys) if keys else []
    finally:
        client.close()
    prefix = _key_prefix()
    return {
        key.decode().removeprefix(prefix): json.loads(value)
        for key, value in zip(keys, values, strict=True)
        if value is not None
    }
