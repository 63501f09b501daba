"""Live-board events: stored with a gapless sequence number, published after commit.

The Event row is written in the writer's transaction, so it exists exactly when the change does.
Publishing to the channel layer happens on commit and may fail (Redis down): the record is safe
and browsers catch up with `resync`, which reads this table.

Each desk hears a *stream*: central desks every event (group `board.all`), a BCU desk the events
of its BCU (group `board.bcu.<code>`). A BCU stream is a subsequence of `seq`, so a BCU desk
cannot tell a gap from "not mine" by `seq` alone. Each published message therefore carries
`prev`, the seq of the previous event *on that stream*: the last seq per BCU is kept in an
EventCounter row (id = BCU_STREAM_BASE + BCU id), updated under the same lock as the global
counter, so a consumer that receives an event whose `prev` it has not seen knows it lost one.
"""

import asyncio
import json
import logging
import os
import threading
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.db import connection, transaction

from cad.models import BCU, Event, EventCounter

logger = logging.getLogger(__name__)

ALL_GROUP = "board.all"
GLOBAL_COUNTER = 1
BCU_STREAM_BASE = 1000


def bcu_group(bcu_code: str) -> str:
    return f"board.bcu.{bcu_code}"


def groups_for(bcu_codes: list[str]) -> list[str]:
    """Central desks (ALL_GROUP) get everything; a BCU desk gets its own BCU's events."""
    return [ALL_GROUP, *(bcu_group(code) for code in sorted(set(bcu_codes)) if code)]


def event_emit(
    *,
    type: str,
    data: dict[str, Any],
    bcus: list[str] | None = None,
    coalesce: str = "",
) -> Event:
    """Store an event and publish it once the surrounding transaction commits.

    `bcus` names every BCU whose desks must hear of it (an incident's BCU, and for a unit sent
    across a border, the unit's own BCU too). `coalesce` marks an event that a later event with
    the same key makes obsolete (a unit's position): a consumer may hold such events for a
    moment and send only the newest, so a busy night does not flood browsers.

    Call it as late as possible in a transaction: the counter row stays locked until commit, and
    every writer queues on it.
    """
    codes = sorted({b for b in (bcus or []) if b})
    # No savepoint: an error here fails the caller's whole change anyway, and a busy create
    # path saves the round trips.
    with transaction.atomic(savepoint=False):
        # The counter row is the serialisation point: numbers are handed out in commit order
        # and never skipped (a rollback returns the number with the change).
        seq = _next_seq()
        prev = {ALL_GROUP: seq - 1}
        if codes:
            prev.update(_advance_bcu_streams(codes, seq))
        event = Event.objects.create(seq=seq, type=type, bcu=",".join(codes), data=data)
    message = event.as_message()
    transaction.on_commit(lambda: publish(message, prev, coalesce=coalesce))
    return event


def _next_seq() -> int:
    """Increment the global counter in one statement; the UPDATE's row lock lasts to commit."""
    table = EventCounter._meta.db_table
    sql = f"UPDATE {table} SET last_seq = last_seq + 1 WHERE id = %s RETURNING last_seq"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [GLOBAL_COUNTER])
        row = cursor.fetchone()
        if row is None:  # a database whose counter row was removed (a flushed test database)
            EventCounter.objects.get_or_create(id=GLOBAL_COUNTER)
            cursor.execute(sql, [GLOBAL_COUNTER])
            row = cursor.fetchone()
    return row[0]


def _advance_bcu_streams(codes: list[str], seq: int) -> dict[str, int]:
    """Move each named BCU's stream on to `seq`; return {group: previous seq on that stream}.

    Safe without further locks: every writer holds the global counter row first.
    """
    ids = dict(BCU.objects.filter(code__in=codes).values_list("code", "id"))
    rows = {
        row.id: row
        for row in EventCounter.objects.filter(id__in=[BCU_STREAM_BASE + i for i in ids.values()])
    }
    prev = {}
    for code, bcu_id in ids.items():
        row = rows.get(BCU_STREAM_BASE + bcu_id)
        if row is None:
            EventCounter.objects.create(id=BCU_STREAM_BASE + bcu_id, last_seq=seq)
            prev[bcu_group(code)] = 0
        else:
            EventCounter.objects.filter(id=row.id).update(last_seq=seq)
            prev[bcu_group(code)] = row.last_seq
    return prev


def publish(message: dict[str, Any], prev: dict[str, int], *, coalesce: str = "") -> None:
    """Send to the channel layer; never raise, because the change is already committed."""
    layer = get_channel_layer()
    if layer is None:
        return
    # Encoded once here rather than once per connected board in every consumer.
    text = json.dumps(message, separators=(",", ":"))

    async def send_all():
        sends = []
        for group, before in prev.items():
            payload = {"type": "board.event", "event": message, "text": text, "prev": before}
            if coalesce:
                payload["coalesce"] = coalesce
            sends.append(layer.group_send(group, payload))
        await asyncio.gather(*sends)

    try:
        if isinstance(layer, InMemoryChannelLayer):
            # The in-memory layer's queues belong to the server's own event loop, which
            # async_to_sync reaches from a sync view; only it may touch them.
            async_to_sync(send_all)()
        else:
            _publisher().run(send_all(), timeout=PUBLISH_TIMEOUT_S)
    except Exception:  # noqa: BLE001  (Redis down must not fail a committed change)
        logger.warning("live publish failed for seq %s; clients will resync", message["seq"])


PUBLISH_TIMEOUT_S = 2.0


class _PublisherLoop:
    """A long-lived event loop in a daemon thread for publishing from synchronous code.

    async_to_sync would start a new loop for every publish, and channels-redis keeps one
    connection pool per loop, so each publish paid for a fresh Redis connection (about 5 ms of
    a request's time, measured with bench/incident_create.py).
    """

    def __init__(self):
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name="event-publisher", daemon=True).start()

    def run(self, coroutine, *, timeout: float):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)


_loop: _PublisherLoop | None = None
_loop_lock = threading.Lock()


def _publisher() -> _PublisherLoop:
    global _loop
    with _loop_lock:
        # A forked worker inherits the object but not the thread: start its own.
        if _loop is None or _loop.pid != os.getpid():
            _loop = _PublisherLoop()
        return _loop


def latest_seq(*, bcu: str | None = None) -> int:
    """The last seq issued overall, or on one BCU's stream."""
    if bcu:
        bcu_id = BCU.objects.filter(code=bcu).values_list("id", flat=True).first()
        if bcu_id is None:
            return 0
        counter_id = BCU_STREAM_BASE + bcu_id
    else:
        counter_id = GLOBAL_COUNTER
    last = EventCounter.objects.filter(id=counter_id).values_list("last_seq", flat=True).first()
    return last or 0


def events_since(seq: int, *, bcu: str | None, limit: int) -> list[dict[str, Any]] | None:
    """Events after `seq` visible to a desk, oldest first; None when more than `limit` missed."""
    rows = Event.objects.filter(seq__gt=seq).order_by("seq")
    if bcu:
        rows = rows.filter(bcu__contains=bcu)
    batch = list(rows.values("seq", "type", "data", "bcu")[: limit + 1])
    if len(batch) > limit:
        return None
    if bcu:
        # `contains` on a comma list can over-match ("AW" in "XAW"); keep exact members only.
        batch = [e for e in batch if bcu in e["bcu"].split(",")]
    return [{"seq": e["seq"], "type": e["type"], "data": e["data"]} for e in batch]
