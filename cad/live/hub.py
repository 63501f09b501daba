"""One channel-layer subscription per board stream per server process, fanned out in-process.

Channels would give every board socket its own membership of its stream's group: at 200 desks a
change then wakes 200 consumer loops, each making a task and an `asyncio.wait` for the message
(about 15% of daphne's fan-out time in the py-spy profile, docs/benchmarks.md). The hub joins
the group once per process with a channel of its own, reads each message once, and hands it to
every local board socket by a direct call. A socket busy with a resync or a gap fill gets a
backlog: what arrives for it meanwhile is listed, and one task hands the whole list over when
the socket is free, in one turn of its lock. So one slow desk never holds up the others, each
desk still sees its events in order, and a busy desk costs a list append per message rather
than a task and a wait on its lock each (5.5 % of daphne's interpreter time in stop 24's soak
profile, docs/benchmarks.md).

The hub belongs to an event loop and a channel layer (tests change both); `hub_for()` finds or
makes the right one. Delivery stays at most once, as before: the consumers' `prev` checks and
gap filling from the Event table are unchanged.

**Behind, it merges positions.** A layer message published more than MERGE_AFTER_S before the
hub reads it means this process is behind: short of CPU (stop 17's soak: daphne's layer reads
minutes behind, its memory growing), or a burst. Handing each stale radio batch to every socket
then spends the most time on the most out-of-date positions. So while behind, consecutive runs
of positions on a stream are merged, newest per unit, and handed out as one run when the chain
meets anything else (an incident, a break in `prev`), a message that is no longer stale,
MERGE_FOR_S of merging, or MERGE_WAIT_S with nothing more to read. A desk then gets each unit's
newest position once instead of every fix on the way, as its own hold of positions already
does, and the board it shows is the same. Non-position events are never merged or held.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

from cad.live.shared_reads import SharedReads
from cad.ops.live import LiveFigures

logger = logging.getLogger(__name__)


class Run(NamedTuple):
    """One layer message's items, when they are positions only and each follows the one before
    in its stream (`prev` is the seq before it): what every socket on the stream would work out
    item by item, worked out once per process. A socket whose cursor is where the run starts
    takes it whole (cad/live/consumers.py)."""

    first_prev: int
    first_seq: int
    last_seq: int
    newest: dict[str, dict[str, Any]]  # coalesce key (the unit) -> its newest item


def run_of(items: list[dict[str, Any]]) -> Run | None:
    """The items as a Run, or None when any is not a position or the chain breaks."""
    newest: dict[str, dict[str, Any]] = {}
    last = None
    for item in items:
        key = item.get("coalesce")
        if not key or (last is not None and item.get("prev", 0) != last):
            return None
        newest[key] = item
        last = item["seq"]
    if last is None:
        return None
    return Run(items[0].get("prev", 0), items[0]["seq"], last, newest)


# Behind: a message read this long after it was published (its `sent`) starts or joins a merge.
MERGE_AFTER_S = 1.0
# A merge is handed out after this long at most, so a desk sees progress while the hub catches
# up, and after this long with nothing more to read (the traffic stopped).
MERGE_FOR_S = 1.0
MERGE_WAIT_S = 0.1


class Merge:
    """Consecutive runs of one stream, merged while the hub is behind."""

    def __init__(self, run: Run, started: float):
        self.first_prev, self.first_seq, self.last_seq = run.first_prev, run.first_seq, run.last_seq
        self.newest = dict(run.newest)
        self.started = started

    def follows(self, run: Run) -> bool:
        return run.first_prev == self.last_seq

    def add(self, run: Run) -> None:
        self.newest.update(run.newest)  # later runs are newer
        self.last_seq = run.last_seq

    def as_run(self) -> tuple[list[dict[str, Any]], Run]:
        """The merged run, and its items for a socket whose cursor is elsewhere: the newest per
        unit in seq order (their `prev`s point into what was merged away, so such a socket
        parks them and fills the gap from the Event table, as for any gap)."""
        items = sorted(self.newest.values(), key=lambda item: item["seq"])
        return items, Run(self.first_prev, self.first_seq, self.last_seq, self.newest)


class Delivery(NamedTuple):
    items: list[dict[str, Any]]
    stream: str
    run: Run | None


class Member(Protocol):
    lock: asyncio.Lock

    async def board_events(
        self, items: list[dict[str, Any]], stream: str, run: Run | None = None
    ) -> None: ...

    def board_events_now(
        self, items: list[dict[str, Any]], stream: str, run: Run | None = None
    ) -> bool:
        """`board_events` without awaiting, when nothing in it has to wait: True if done, False
        (nothing done) to have `board_events` awaited instead."""

    async def board_backlog(self, take: Callable[[], list[Delivery]]) -> None:
        """Once the lock is held, `take()` the deliveries queued so far and handle them in order,
        as `board_events` would one by one."""


class Backlog:
    """What queued for one busy socket and not yet handed over."""

    def __init__(self, first: Delivery):
        self.deliveries = [first]
        self.task: asyncio.Future | None = None  # held: the loop keeps only weak references

    def take(self) -> list[Delivery]:
        taken, self.deliveries = self.deliveries, []
        return taken


class BoardHub:
    def __init__(self, layer):
        self.layer = layer
        self.members: dict[str, set[Member]] = {}
        self.channels: dict[str, str] = {}
        self.pumps: dict[str, asyncio.Task] = {}
        # Per stream, while its channel and pump are being made: the joins waiting for them.
        self.subscribing: dict[str, asyncio.Future] = {}
        # Per busy member: deliveries not yet handed over. While one exists, newer messages join
        # it, so nothing overtakes them.
        self.backlogs: dict[Member, Backlog] = {}
        # Sockets and fan-out lag, for /metrics (cad/ops/live.py).
        self.figures = LiveFigures()
        self.merges: dict[str, Merge] = {}  # per stream, while behind
        # Gap fills, resyncs and snapshots: one read for every socket asking the same at once.
        self.reads = SharedReads()

    def _count(self) -> None:
        self.figures.sockets = sum(len(members) for members in self.members.values())

    async def join(self, group: str, member: Member) -> None:
        """Add a socket to a stream; also refreshes the process's membership (the list layer
        expires groups) and raises if the layer is unreachable.

        The stream's channel and pump are made once while the other sockets wait: when a
        server starts or its desks come back after a restart, hundreds join at once, and each
        that found no pump while the first was still waiting for Redis made its own. Every
        extra pump handed every event to every desk again (the desks dropped the copies by
        seq), so a process could spend the rest of its life doing its fan-out dozens of times
        over (stop 41: 24 to 56 pumps in one daphne of 500 desks, seconds behind)."""
        if self._pumping(group):
            await self.layer.group_add(group, self.channels[group])
        else:
            # One attempt for all who join meanwhile; if Redis is away, all fail with it at once.
            subscribing = self.subscribing.get(group)
            if subscribing is None:
                subscribing = self.subscribing[group] = asyncio.ensure_future(
                    self._subscribe(group)
                )
                subscribing.add_done_callback(lambda done: self._subscribed(group, done))
            await asyncio.shield(subscribing)  # a socket that leaves meanwhile leaves it running
        self.members.setdefault(group, set()).add(member)
        self._count()
        self.figures.report_soon()

    def _pumping(self, group: str) -> bool:
        pump = self.pumps.get(group)
        return pump is not None and not pump.done()

    def _subscribed(self, group: str, done: asyncio.Future) -> None:
        if self.subscribing.get(group) is done:
            del self.subscribing[group]
        if not done.cancelled():
            done.exception()  # retrieved: every socket waiting for it has been told already

    async def _subscribe(self, group: str) -> None:
        """A channel of this process's own in the stream's group, and the pump that reads it."""
        stopped = self.channels.get(group)
        channel = await self.layer.new_channel("board-hub.")
        await self.layer.group_add(group, channel)
        self.channels[group] = channel
        self.pumps[group] = asyncio.ensure_future(self._pump(group, channel))
        if stopped is not None:
            # Its pump has stopped (the layer went away): nothing reads it any more, and the
            # pub/sub layer would queue every message for it in memory.
            try:
                await self.layer.group_discard(group, stopped)
            except Exception:  # noqa: BLE001  (the new channel is in; the old one expires)
                logger.warning("board hub for %s could not leave its old channel", group)

    def leave(self, group: str, member: Member) -> None:
        self.members.get(group, set()).discard(member)
        backlog = self.backlogs.pop(member, None)
        if backlog is not None:
            # Nothing more for a socket that left; one re-scoped would drop it anyway.
            backlog.deliveries.clear()
        self._count()
        self.figures.report_soon(force=True)

    async def _pump(self, group: str, channel: str) -> None:
        # While a merge waits to be handed out, the read is a task of its own, waited for with a
        # timeout that must not cancel it: channels-redis' pub/sub layer unsubscribes a channel
        # whose receive is cancelled. Otherwise it is awaited directly, as before.
        receiving: asyncio.Future | None = None
        try:
            while True:
                try:
                    merge = self.merges.get(group)
                    if receiving is None and merge is None:
                        message = await self.layer.receive(channel)
                    else:
                        if receiving is None:
                            receiving = asyncio.ensure_future(self.layer.receive(channel))
                        if merge is not None:
                            wait = min(MERGE_WAIT_S, merge.started + MERGE_FOR_S - time.monotonic())
                            done, _ = await asyncio.wait({receiving}, timeout=max(0.0, wait))
                            if not done:
                                await self._hand_out_merge(group)
                                continue
                        message = await receiving
                        receiving = None
                except asyncio.CancelledError:
                    raise
                except Exception:  # noqa: BLE001  (the layer went away: members re-join on heartbeat)
                    logger.warning("board hub for %s lost its channel layer", group)
                    return
                await self._handle(group, message)
        finally:
            if receiving is not None:
                receiving.cancel()

    async def _handle(self, group: str, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "board.event":
            items = [message]
        elif kind == "board.events":
            items = message["items"]
        else:
            return
        for item in items:
            if "seq" not in item:  # from a process still running the release before
                item["seq"] = item["event"]["seq"]
        run = run_of(items)
        sent = message.get("sent")
        lag = max(0.0, time.time() - sent) if sent else 0.0
        merge = self.merges.get(group)
        if run is not None and merge is not None and merge.follows(run):
            merge.add(run)
            if lag <= MERGE_AFTER_S or time.monotonic() - merge.started >= MERGE_FOR_S:
                await self._hand_out_merge(group)  # caught up, or held long enough
        else:
            if merge is not None:
                await self._hand_out_merge(group)  # it goes first: its events are older
            if run is not None and lag > MERGE_AFTER_S:
                self.merges[group] = Merge(run, time.monotonic())
            else:
                await self._hand_out(group, items, run)
        if sent:
            self.figures.observe_lag(lag)
            self.figures.report_soon()

    async def _hand_out_merge(self, group: str) -> None:
        merge = self.merges.pop(group, None)
        if merge is None:
            return
        items, run = merge.as_run()
        await self._hand_out(group, items, run)

    async def _hand_out(self, group: str, items: list[dict[str, Any]], run: Run | None) -> None:
        """To every socket on the stream: with plain calls where it can take them now (no
        coroutine per socket), else awaited or queued behind what it is busy with."""
        for member in list(self.members.get(group, ())):
            if not self._deliver_now(member, items, group, run):
                await self._deliver(member, items, group, run)

    def _deliver_now(
        self, member: Member, items: list[dict[str, Any]], group: str, run: Run | None
    ) -> bool:
        if member in self.backlogs or member.lock.locked():
            return False
        try:
            return member.board_events_now(items, group, run)
        except Exception:  # noqa: BLE001  (one broken socket must not stop the others)
            logger.exception("board delivery failed")
            return True

    async def _deliver(
        self, member: Member, items: list[dict[str, Any]], group: str, run: Run | None
    ) -> None:
        # The stream goes with the items: a socket re-scoped while a delivery waited for its
        # lock (cad/live/consumers.py) drops what came from the stream it has left.
        backlog = self.backlogs.get(member)
        if backlog is not None:
            backlog.deliveries.append(Delivery(items, group, run))
            return
        if not member.lock.locked():
            try:
                await member.board_events(items, group, run)
            except Exception:  # noqa: BLE001  (one broken socket must not stop the others)
                logger.exception("board delivery failed")
            return
        backlog = self.backlogs[member] = Backlog(Delivery(items, group, run))
        backlog.task = asyncio.ensure_future(self._drain(member, backlog))

    async def _drain(self, member: Member, backlog: Backlog) -> None:
        """Hand a busy socket its backlog once it is free; again for what came meanwhile. Stops
        once the socket has left (`leave` takes the backlog off it)."""
        try:
            while self.backlogs.get(member) is backlog and backlog.deliveries:
                try:
                    await member.board_backlog(backlog.take)
                except asyncio.CancelledError:
                    raise
                except Exception:  # noqa: BLE001  (one broken socket must not stop the others)
                    logger.exception("board delivery failed")
        finally:
            # No await since the last look: nothing can have joined the backlog unseen.
            if self.backlogs.get(member) is backlog:
                del self.backlogs[member]


_hubs: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # event loop -> BoardHub


def local_figures() -> list[LiveFigures]:
    """This process's hubs' figures (one hub per event loop; daphne has one loop)."""
    return [hub.figures for hub in list(_hubs.values())]


def hub_for(layer) -> BoardHub:
    """The hub of the running event loop for this channel layer."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None or hub.layer is not layer:
        hub = _hubs[loop] = BoardHub(layer)
    return hub
