"""Live-board events: stored with a gapless sequence number, published after commit.

The Event row is written in the writer's transaction, so it exists exactly when the change does.
On PostgreSQL it is numbered as that transaction commits (the `cad_event_number` trigger), so
the counter row is locked for the length of a commit, not of a whole change: writers no longer
queue behind each other's work (docs/decisions/0025-event-numbering-at-commit.md). Publishing to
the channel layer happens after commit, from the numbers read back, and may fail (Redis down):
the record is safe and browsers catch up with `resync`, which reads this table.

Each desk hears a *stream*: central desks every event (group `board.all`), a BCU desk the events
of its BCU (group `board.bcu.<code>`). A BCU stream is a subsequence of `seq`, so a BCU desk
cannot tell a gap from "not mine" by `seq` alone. Each published message therefore carries
`prev`, the seq of the previous event *on that stream*: the last seq per BCU is kept in an
EventCounter row (id = BCU_STREAM_BASE + BCU id), updated under the same lock as the global
counter, so a consumer that receives an event whose `prev` it has not seen knows it lost one.

Reactions (`react`): an app may ask to run a function after commit whenever an event of some
type is emitted, so a lower app causes work in a higher one without importing it (resources
queues recommendations after `incident.created`; radio queues the despatch message after
`assignment.created`). The higher app registers in its `AppConfig.ready`. Some events exist only
for reactions (`event_notify`): they are neither stored nor sent to desks. The types and their
payloads are each app's `events.py`, listed in docs/events.md.
"""

import asyncio
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Coroutine
from functools import partial
from typing import Any, NamedTuple

from asgiref.sync import async_to_sync
from channels.layers import BaseChannelLayer, InMemoryChannelLayer, get_channel_layer
from django.conf import settings
from django.db import DatabaseError, connection, transaction

from cad.live.direct_publish import direct_publisher
from cad.live.retention import events_pruned_through
from cad.models import BCU, Event, EventCounter
from cad.prepared import PreparedInsert
from cad.redis_breaker import breaker, send_timeout

logger = logging.getLogger(__name__)

ALL_GROUP = "board.all"
GLOBAL_COUNTER = 1
BCU_STREAM_BASE = 1000


def bcu_group(bcu_code: str) -> str:
    return f"board.bcu.{bcu_code}"


def groups_for(bcu_codes: list[str]) -> list[str]:
    """Central desks (ALL_GROUP) get everything; a BCU desk gets its own BCU's events."""
    return [ALL_GROUP, *(bcu_group(code) for code in sorted(set(bcu_codes)) if code)]


# Extra groups an event is published to besides the desks' streams, from apps above (officers'
# phones: a group per unit and per incident, duties/officer/live.py). A route sees the event's
# type and payload and names groups; it runs in the publisher, once per event, so it must be
# quick and must not query. Those groups carry no `prev` chain (0): their consumers catch up
# through their own resync. Coalesced events (GPS fixes) are not routed: a phone does not need
# its own position.
Route = Callable[[str, dict[str, Any]], list[str]]
_routes: list[Route] = []


def register_route(route: Route) -> None:
    """Publish events also to the groups `route(type, data)` names (AppConfig.ready)."""
    if route not in _routes:
        _routes.append(route)


def _targets(message: dict[str, Any], prev: dict[str, int], coalesce: str) -> dict[str, int]:
    """The desks' streams with their `prev`, plus the routed groups (prev 0)."""
    if coalesce or not _routes:
        return prev
    targets = dict(prev)
    for route in _routes:
        for group in route(message["type"], message["data"]):
            targets.setdefault(group, 0)
    return targets


Reaction = Callable[[dict[str, Any]], None]
_reactions: dict[str, list[Reaction]] = {}


def react(type: str, handler: Reaction) -> None:
    """Run `handler(data)` after commit whenever an event of `type` is emitted or notified.

    Registered from a higher app's `AppConfig.ready`. A handler runs once its change is
    committed (after the event is published), must be safe to lose (a crash between commit and
    the handler, or a handler that raises, is logged and not retried here: whatever must not be
    lost has a sweeper behind it) and never sees a change that rolled back.
    """
    handlers = _reactions.setdefault(type, [])
    if handler not in handlers:  # ready() may run twice in tests; register once
        handlers.append(handler)


def _react_after_commit(type: str, data: dict[str, Any]) -> None:
    for handler in _reactions.get(type, ()):
        # robust: the change is committed; a failing reaction is logged, never the caller's error.
        transaction.on_commit(partial(handler, data), robust=True)


def event_notify(*, type: str, data: dict[str, Any]) -> None:
    """Tell the reactions registered for `type`, after commit. Not stored, not sent to desks:
    for facts that only other apps act on (`assignment.created`, `incident.regraded`)."""
    _react_after_commit(type, data)


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

    On PostgreSQL the event is numbered as the transaction commits (the `cad_event_number`
    trigger, docs/decisions/0025-event-numbering-at-commit.md): its `seq` and `prev` are empty
    until then and filled in on the returned object when it is published.
    """
    codes = sorted({b for b in (bcus or []) if b})
    if _numbered_at_commit():
        event = Event(type=type, bcu=",".join(codes), data=data)
        _EVENT_INSERT.insert(event)
    else:
        # No savepoint: an error here fails the caller's whole change anyway.
        with transaction.atomic(savepoint=False):
            # The counter row is the serialisation point: numbers are handed out in commit
            # order and never skipped (a rollback returns the number with the change).
            seq = _next_seq()
            prev = {ALL_GROUP: seq - 1}
            if codes:
                prev.update(_advance_bcu_streams(codes, seq))
            event = Event.objects.create(
                seq=seq, type=type, bcu=",".join(codes), data=data, prev=prev
            )
    _publish_after_commit(_Unpublished([event], [coalesce], batch=False))
    _react_after_commit(type, data)
    return event


_EVENT_INSERT = PreparedInsert(Event)  # every change emits one


def _numbered_at_commit() -> bool:
    """PostgreSQL numbers events at commit (its trigger); SQLite, one writer at a time, here."""
    return connection.vendor == "postgresql"


class _Unpublished(NamedTuple):
    events: list[Event]
    coalesce: list[str]
    batch: bool  # from events_emit: published together (publish_many)


def _publish_after_commit(item: _Unpublished) -> None:
    """Queue `item` for publishing after the transaction commits.

    The events of one transaction are published by one callback, after one query that reads
    the numbers the commit gave them. A callback is registered per item all the same: one
    registered inside a savepoint that rolls back is dropped with it, and whichever survives
    publishes everything. An item whose rows rolled back is simply not found.
    """
    items = _unpublished()
    items.append(item)
    transaction.on_commit(partial(_publish_committed, items))


def _unpublished() -> list[_Unpublished]:
    """This transaction's list of unpublished items: the connection's current one while a
    callback of this transaction still waits to publish it, else a new one. A list left behind
    by a transaction that rolled back (its callbacks dropped) is never reused: on SQLite a
    rolled-back row's id comes round again."""
    held = getattr(connection, "beacon_unpublished", None)
    if held is None or not any(
        isinstance(callback, partial) and callback.args and callback.args[0] is held
        # (savepoint ids, callback, robust): the stubs know only the first two
        for callback in (entry[1] for entry in connection.run_on_commit)
    ):
        held = []
        connection.beacon_unpublished = held  # type: ignore[attr-defined]
    return held


def _publish_committed(items: list[_Unpublished]) -> None:
    """Publish the committed events among `items`, in `seq` order; never raise."""
    taken = list(items)
    items.clear()
    if not taken:
        return
    try:
        stored = _numbers_given([event.pk for item in taken for event in item.events])
    except DatabaseError:  # the change is committed: desks catch up by resync
        logger.warning("could not read back %s committed events; clients will resync", len(taken))
        return
    seen: set[int] = set()
    for item in taken:
        batch = []
        for event, coalesce in zip(item.events, item.coalesce, strict=True):
            seq, prev = stored.get(event.pk, (None, None))
            if seq is None or event.pk in seen:  # rolled back (or, unnumbered, never published)
                continue
            seen.add(event.pk)
            event.seq, event.prev = seq, prev
            batch.append((event.as_message(), prev or {ALL_GROUP: seq - 1}, coalesce))
        if not batch:
            continue
        if item.batch:
            publish_many(batch)
        else:
            for message, prev, coalesce in batch:
                publish(message, prev, coalesce=coalesce)


def _numbers_given(pks: list[int]) -> dict[int, tuple[int | None, dict | None]]:
    """{event id: (seq, prev)} as committed. This read follows every commit that emits an event,
    so on PostgreSQL it is one fixed statement: building the ORM's query was two thirds of the
    publishing callback's CPU (py-spy, bench/incident_create.py; stop 22)."""
    if connection.vendor != "postgresql":
        return {
            pk: (seq, prev)
            for pk, seq, prev in Event.objects.filter(pk__in=pks)
            .order_by()
            .values_list("pk", "seq", "prev")
        }
    with connection.cursor() as cursor:
        cursor.execute(_NUMBERS_GIVEN, [pks])
        # Django has psycopg2 hand jsonb back as text (its JSONField decodes it); a connection
        # opened some other way may already decode it.
        return {
            pk: (seq, json.loads(prev) if isinstance(prev, str) else prev)
            for pk, seq, prev in cursor.fetchall()
        }


_NUMBERS_GIVEN = f"SELECT id, seq, prev FROM {Event._meta.db_table} WHERE id = ANY(%s)"  # noqa: S608


def _next_seq(count: int = 1) -> int:
    """Take `count` numbers in one statement; return the last. The row lock lasts to commit."""
    table = EventCounter._meta.db_table
    sql = f"UPDATE {table} SET last_seq = last_seq + %s WHERE id = %s RETURNING last_seq"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [count, GLOBAL_COUNTER])
        row = cursor.fetchone()
        if row is None:  # a database whose counter row was removed (a flushed test database)
            EventCounter.objects.get_or_create(id=GLOBAL_COUNTER)
            cursor.execute(sql, [count, GLOBAL_COUNTER])
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
    """Send to the channel layer; never raise, because the change is already committed.

    Through this process's Redis breaker (cad/redis_breaker.py): while Redis is known to be
    down the message is kept and sent, in order, when it answers again, and the request does
    not wait for Redis' timeouts."""
    layer = get_channel_layer()
    if layer is None:
        return

    async def send_all() -> None:
        await _send(layer, message, prev, coalesce)

    if isinstance(layer, InMemoryChannelLayer):
        # The in-memory layer's queues belong to the server's own event loop, which
        # async_to_sync reaches from a sync view; only it may touch them. No Redis, no breaker.
        try:
            async_to_sync(send_all)()
        except Exception:  # noqa: BLE001  (a committed change must not fail here)
            logger.warning("live publish failed for seq %s; clients will resync", message["seq"])
        return

    def send_now() -> None:
        # The layer as it is when the send runs: a kept send may run after a reconnect.
        current = get_channel_layer() or layer
        direct = direct_publisher(current)
        if direct is not None:  # the pub/sub layer, as shipped: no hop to the publisher thread
            direct.publish(_layer_items(message, prev, coalesce), timeout=publish_timeout())
            return
        _publisher().run(_send(current, message, prev, coalesce), timeout=publish_timeout())

    breaker().send(send_now, describe=f"live publish of seq {message['seq']}")


def publish_timeout(events: int = 1) -> float:
    """How long one publish may wait for Redis before it counts as failed (longer when the
    breaker sends what it kept: cad/redis_breaker.py)."""
    return send_timeout(settings.REDIS_PUBLISH_TIMEOUT_S + 0.01 * (events - 1))


async def _send(
    layer: BaseChannelLayer, message: dict[str, Any], prev: dict[str, int], coalesce: str
) -> None:
    items = _layer_items(message, prev, coalesce)
    await asyncio.gather(*(layer.group_send(group, payload) for group, payload in items))


def _layer_items(
    message: dict[str, Any], prev: dict[str, int], coalesce: str
) -> list[tuple[str, dict[str, Any]]]:
    """[(group, layer message)] for one event: each stream and routed group it goes to."""
    # Encoded once here rather than once per connected board in every consumer.
    text = json.dumps(message, separators=(",", ":"))
    # `sent`: when it left, for the fan-out lag each process's hub measures (cad/ops/live.py).
    sent = time.time()
    items = []
    for group, before in _targets(message, prev, coalesce).items():
        payload = _layer_item(message, text, group, before, prev, coalesce)
        payload["sent"] = sent
        items.append((group, payload))
    return items


def _layer_item(
    message: dict[str, Any],
    text: str,
    group: str,
    before: int,
    prev: dict[str, int],
    coalesce: str,
) -> dict[str, Any]:
    """One event as a layer message. A desk's stream gets its `seq` and its text only: the
    board sends the text as it is, and every daphne unpacking the event's dict as well spent a
    fifth of its time in the layer's deserializer (py-spy, bench/soak.py). A routed group (an
    officer's phone) also gets the event, whose type and data its consumer reads."""
    item = {"type": "board.event", "seq": message["seq"], "text": text, "prev": before}
    if group not in prev:
        item["event"] = message
    if coalesce:
        item["coalesce"] = coalesce
    return item


# --- many events at once (radio/positions.py: a gateway batch moves hundreds of units) -------


class EventSpec(NamedTuple):
    type: str
    data: dict[str, Any]
    bcus: list[str]
    coalesce: str = ""


def events_emit(specs: list[EventSpec]) -> list[Event]:
    """`event_emit` for many events in one transaction step: the same gapless `seq` (in list
    order), the same per-BCU `prev` chains and the same messages, published in order after
    commit; but a handful of queries for the lot instead of several per event, and one publish
    (`publish_many`) instead of one per event."""
    if not specs:
        return []
    if _numbered_at_commit():
        rows = Event.objects.bulk_create(
            [
                Event(type=spec.type, bcu=",".join(sorted({b for b in spec.bcus if b})),
                      data=spec.data)
                for spec in specs
            ]
        )  # fmt: skip
    else:
        rows = _events_numbered_here(specs)
    _publish_after_commit(_Unpublished(rows, [spec.coalesce for spec in specs], batch=True))
    for spec in specs:
        _react_after_commit(spec.type, spec.data)
    return rows


def _events_numbered_here(specs: list[EventSpec]) -> list[Event]:
    """SQLite's `events_emit`: numbered at the write, as `cad_event_number` does at commit."""
    with transaction.atomic(savepoint=False):
        first = _next_seq(len(specs)) - len(specs) + 1
        wanted = sorted({b for spec in specs for b in spec.bcus if b})
        ids = dict(BCU.objects.filter(code__in=wanted).values_list("code", "id"))
        held = dict(
            EventCounter.objects.filter(
                id__in=[BCU_STREAM_BASE + i for i in ids.values()]
            ).values_list("id", "last_seq")
        )
        last = {code: held.get(BCU_STREAM_BASE + bcu_id) for code, bcu_id in ids.items()}
        rows = []
        for offset, spec in enumerate(specs):
            seq = first + offset
            codes = sorted({b for b in spec.bcus if b})
            prev = {ALL_GROUP: seq - 1}
            for code in codes:
                if code in ids:  # as _advance_bcu_streams: an unknown code has no stream
                    prev[bcu_group(code)] = last[code] or 0
                    last[code] = seq
            rows.append(
                Event(seq=seq, type=spec.type, bcu=",".join(codes), data=spec.data, prev=prev)
            )
        for code, stream_seq in last.items():
            counter_id = BCU_STREAM_BASE + ids[code]
            if counter_id not in held:
                if stream_seq is not None:
                    EventCounter.objects.create(id=counter_id, last_seq=stream_seq)
            elif stream_seq != held[counter_id]:
                EventCounter.objects.filter(id=counter_id).update(last_seq=stream_seq)
        return Event.objects.bulk_create(rows)


def group_messages(batch: list[tuple[dict[str, Any], dict[str, int], str]]) -> dict[str, list]:
    """{group: layer messages} for `publish_many`: per group, "board.events" messages carrying
    its events in `seq` order (the consumer unpacks them), not one message per event. A group
    send costs several Redis round trips, which was most of a batch's time
    (bench/radio_ingest.py). Order within a group is what a desk needs: an overtaken event
    would look like a gap, to be filled from the table."""
    per_group: dict[str, list[dict[str, Any]]] = {}
    for message, prev, coalesce in batch:
        text = json.dumps(message, separators=(",", ":"))
        for group, before in _targets(message, prev, coalesce).items():
            item = _layer_item(message, text, group, before, prev, coalesce)
            per_group.setdefault(group, []).append(item)
    sent = time.time()
    return {
        group: [
            {
                "type": "board.events",
                "items": items[start : start + PUBLISH_MANY_CHUNK],
                "sent": sent,
            }
            for start in range(0, len(items), PUBLISH_MANY_CHUNK)
        ]
        for group, items in per_group.items()
    }


def publish_many(batch: list[tuple[dict[str, Any], dict[str, int], str]]) -> None:
    """Publish (message, prev, coalesce) triples in order; never raise (see `publish`)."""
    layer = get_channel_layer()
    if layer is None:
        return
    per_group = group_messages(batch)

    async def send_in_order(layer: BaseChannelLayer) -> None:
        async def send_group(group: str, messages: list[dict[str, Any]]) -> None:
            for message in messages:  # in order, one by one
                await layer.group_send(group, message)

        await asyncio.gather(*(send_group(g, msgs) for g, msgs in per_group.items()))

    if isinstance(layer, InMemoryChannelLayer):  # see `publish`
        try:
            async_to_sync(send_in_order)(layer)
        except Exception:  # noqa: BLE001  (a committed change must not fail here)
            logger.warning("live publish of %s events failed; clients will resync", len(batch))
        return

    def send_now() -> None:
        current = get_channel_layer() or layer
        direct = direct_publisher(current)
        if direct is not None:  # see `publish`: each group's messages in order, one round trip
            items = [(group, m) for group, messages in per_group.items() for m in messages]
            direct.publish(items, timeout=publish_timeout(len(batch)))
            return
        _publisher().run(send_in_order(current), timeout=publish_timeout(len(batch)))

    breaker().send(
        send_now, describe=f"live publish of {len(batch)} events from seq {batch[0][0]['seq']}"
    )


PUBLISH_MANY_CHUNK = 200  # events per layer message: well inside Redis' and msgpack's comfort


class _PublisherLoop:
    """A long-lived event loop in a daemon thread for publishing from synchronous code, where
    the layer is not the pub/sub one `cad.live.direct_publish` sends to itself.

    async_to_sync would start a new loop for every publish, and channels-redis keeps one
    connection pool per loop, so each publish paid for a fresh Redis connection (about 5 ms of
    a request's time, measured with bench/incident_create.py).
    """

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name="event-publisher", daemon=True).start()

    def run(self, coroutine: Coroutine[Any, Any, Any], *, timeout: float) -> Any:
        future = asyncio.run_coroutine_threadsafe(_abandoned_quietly(coroutine), self.loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            # Stop it: a send stuck on a slow Redis holds the layer's connection lock, and every
            # later send would queue behind it.
            future.cancel()
            raise


async def _abandoned_quietly(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run a send; once `run` has given up on it (timed out, so cancelled), let it end without
    an error. redis-py turns the cancellation into its own TimeoutError, which nobody is left
    to read, and asyncio logged each one as "Task exception was never retrieved" with a
    traceback: under overload (bench/soak.py) that was the log's noise. The caller has already
    had its TimeoutError and the breaker counted it."""
    try:
        return await coroutine
    except Exception:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            return None
        raise


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


def events_since(
    seq: int, *, bcu: str | None, limit: int, before: int | None = None
) -> list[dict[str, Any]] | None:
    """Events after `seq` (and before `before`, if given) visible to a desk, oldest first; None
    when more than `limit` missed or when some of them have been pruned
    (cad/live/retention.py): the desk needs a snapshot. `before` lets a desk filling a gap
    count only the gap, not the events it already holds behind it."""
    rows = Event.objects.filter(seq__gt=seq).order_by("seq")
    if before is not None:
        rows = rows.filter(seq__lt=before)
    if bcu:
        rows = rows.filter(bcu__contains=bcu)
    batch = list(rows.values("seq", "type", "data", "bcu")[: limit + 1])
    # Read after the events: a prune that commits between the two reads raises the watermark,
    # so the answer errs towards a snapshot, never towards a list with its start missing.
    if len(batch) > limit or seq < events_pruned_through():
        return None
    if bcu:
        # `contains` on a comma list can over-match ("AW" in "XAW"); keep exact members only.
        batch = [e for e in batch if bcu in e["bcu"].split(",")]
    return [{"seq": e["seq"], "type": e["type"], "data": e["data"]} for e in batch]
