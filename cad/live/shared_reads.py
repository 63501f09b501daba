"""One read of the Event table per gap per process, shared by every board socket that needs it.

When a publish is late (a busy publisher, a merge while behind), every socket on the stream parks
the same events behind the same gap, and when the grace runs out each of them filled it on its
own: the same query, and the same rows JSON-encoded once per socket. With 100 desks at 1,000
radio fixes a second that was about a tenth of daphne's CPU, and a queue of threads at the
database (py-spy with --gil, docs/benchmarks.md "stop 24").

Here a read asked for while the same read (same `since`, `before`, BCU and limit) is in flight
waits for that one instead, and gets its answer with each event encoded once. Nothing is kept
after the read finishes: a later fill reads the table again, so a socket never gets an answer
older than one it would have read itself a moment before.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from channels.db import database_sync_to_async

from cad.live import events

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


class SharedReads:
    """In-flight reads by their arguments (one instance per event loop: the board hub's)."""

    def __init__(self) -> None:
        self.reading: dict[tuple[Any, ...], asyncio.Future] = {}

    async def events_since(
        self, since: int, *, bcu: str | None, limit: int, before: int | None = None
    ) -> Encoded:
        key = (since, bcu, limit, before)
        read = self.reading.get(key)
        if read is None:
            read = asyncio.ensure_future(
                database_sync_to_async(encoded_events_since)(
                    since, bcu=bcu, limit=limit, before=before
                )
            )
            self.reading[key] = read
            read.add_done_callback(lambda done: self._forget(key, done))
        # Shielded: a socket that closes while waiting must not cancel the others' read.
        return await asyncio.shield(read)

    def _forget(self, key: tuple[Any, ...], done: asyncio.Future) -> None:
        if self.reading.get(key) is done:
            del self.reading[key]
