"""One read of the Event table per gap per process, shared by every board socket that needs it.

When a publish is late (a busy publisher, a merge while behind), every socket on the stream parks
the same events behind the same gap, and when the grace runs out each of them filled it on its
own: the same query, and the same rows JSON-encoded once per socket. With 100 desks at 1,000
radio fixes a second that was about a tenth of daphne's CPU, and a queue of threads at the
database (py-spy with --gil, docs/benchmarks.md "stop 24").

Here a read asked for while the same read (same `since`, `before`, BCU and limit) is in flight
waits for that one instead, and gets its answer with each event encoded once. Nothing is kept
after the read finishes: a later fill reads the table again, so a socket never gets an answer
older than one it would have read itself a moment before. Snapshots are shared the same way,
per BCU: a socket that joins one already being read takes its seq as its cursor, and anything
committed after that seq reaches it live, as with a snapshot of its own.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from functools import partial
from typing import Any

from channels.db import database_sync_to_async

from cad.live import events, snapshot

# (seq, the event encoded as the board sends it), oldest first; None: the desk needs a snapshot.
Encoded = list[tuple[int, str]] | None


def encoded_events_since(
    since: int, *, bcu: str | None, limit: int, before: int | None = None
) -> Encoded:
    """`events.events_since`, each event JSON-encoded for the socket."""
    missed = events.events_since(since, bcu=bcu, limit=limit, before=before)
    if missed is None:
        return None
    return [(message["seq"], json.dumps(message)) for message in missed]


def encoded_snapshot(*, bcu: str | None) -> tuple[int, str]:
    """`snapshot.board_snapshot`: its seq, and the snapshot JSON-encoded for the socket."""
    board = snapshot.board_snapshot(bcu=bcu)
    return board["seq"], json.dumps(board)


class SharedReads:
    """In-flight reads by their arguments (one instance per event loop: the board hub's)."""

    def __init__(self) -> None:
        self.reading: dict[tuple[Any, ...], asyncio.Future] = {}

    async def events_since(
        self, since: int, *, bcu: str | None, limit: int, before: int | None = None
    ) -> Encoded:
        return await self._once(
            ("events", since, bcu, limit, before),
            partial(encoded_events_since, since, bcu=bcu, limit=limit, before=before),
        )

    async def snapshot(self, *, bcu: str | None) -> tuple[int, str]:
        """The stream's snapshot (all London for None), shared as the reads are: after a restart
        or a long stall every desk on a stream may ask for it at once, and one for all London
        is megabytes of JSON."""
        return await self._once(("snapshot", bcu), partial(encoded_snapshot, bcu=bcu))

    async def _once(self, key: tuple[Any, ...], read: Callable[[], Any]) -> Any:
        pending = self.reading.get(key)
        if pending is None:
            pending = asyncio.ensure_future(database_sync_to_async(read)())
            self.reading[key] = pending
            pending.add_done_callback(lambda done: self._forget(key, done))
        # Shielded: a socket that closes while waiting must not cancel the others' read.
        return await asyncio.shield(pending)

    def _forget(self, key: tuple[Any, ...], done: asyncio.Future) -> None:
        if self.reading.get(key) is done:
            del self.reading[key]
