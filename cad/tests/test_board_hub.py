"""The per-process board hub: one read per event, every local socket served, order kept."""

import asyncio
import time
import uuid

import pytest
from channels.layers import InMemoryChannelLayer
from channels_redis.core import RedisChannelLayer
from channels_redis.pubsub import RedisPubSubChannelLayer

from cad.live.hub import MERGE_AFTER_S, BoardHub, Run, run_of


class Desk:
    def __init__(self):
        self.lock = asyncio.Lock()
        self.got: list[int] = []
        self.backlogs: list[list[int]] = []  # the seqs of each backlog handed over

    def board_events_now(self, items, stream, run=None):
        return False  # always the awaited path, as a desk with no writer of daphne's

    async def board_events(self, items, stream, run=None):
        async with self.lock:
            self.got.extend(item["seq"] for item in items)

    async def board_backlog(self, take):
        async with self.lock:
            seqs = [item["seq"] for delivery in take() for item in delivery.items]
            self.backlogs.append(seqs)
            self.got.extend(seqs)


def _event(seq: int) -> dict:
    return {"type": "board.event", "seq": seq, "text": f'{{"seq":{seq}}}', "prev": seq - 1}


async def _until(predicate, timeout: float = 5.0):
    async def wait():
        while not predicate():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(wait(), timeout)


async def test_a_busy_desk_holds_up_no_other_and_gets_its_events_in_order():
    layer = InMemoryChannelLayer()
    hub = BoardHub(layer)
    busy, free = Desk(), Desk()
    await hub.join("board.all", busy)
    await hub.join("board.all", free)

    await busy.lock.acquire()  # e.g. a resync reading the Event table
    await layer.group_send("board.all", _event(1))
    await layer.group_send("board.all", {"type": "board.events", "items": [_event(2), _event(3)]})
    await _until(lambda: free.got == [1, 2, 3])
    assert busy.got == []

    busy.lock.release()
    await layer.group_send("board.all", _event(4))
    await _until(lambda: busy.got == [1, 2, 3, 4])
    await _until(lambda: free.got == [1, 2, 3, 4])
    for pump in hub.pumps.values():
        pump.cancel()


async def test_what_a_busy_desk_missed_is_handed_over_at_once_without_a_task_each():
    layer = InMemoryChannelLayer()
    hub = BoardHub(layer)
    busy = Desk()
    await hub.join("board.all", busy)
    await busy.lock.acquire()
    for seq in range(1, 6):
        await layer.group_send("board.all", _event(seq))
    await _until(lambda: busy in hub.backlogs and len(hub.backlogs[busy].deliveries) == 5)
    # One task hands the backlog over, however long it grows.
    names = [t.get_coro().__qualname__ for t in asyncio.all_tasks()]
    assert [n for n in names if n.endswith(("board_events", "_drain"))] == ["BoardHub._drain"]

    busy.lock.release()
    await _until(lambda: busy.got == [1, 2, 3, 4, 5])
    assert busy.backlogs == [[1, 2, 3, 4, 5]]  # in one turn of the desk's lock
    await _until(lambda: busy not in hub.backlogs)
    await layer.group_send("board.all", _event(6))  # free again: straight through
    await _until(lambda: busy.got == [1, 2, 3, 4, 5, 6])
    assert busy.backlogs == [[1, 2, 3, 4, 5]]
    for pump in hub.pumps.values():
        pump.cancel()


async def test_what_comes_while_a_backlog_is_handed_over_follows_it_in_order():
    layer = InMemoryChannelLayer()
    hub = BoardHub(layer)
    slow = Desk()
    gate = asyncio.Event()

    async def board_backlog(take):
        async with slow.lock:
            seqs = [item["seq"] for delivery in take() for item in delivery.items]
            await gate.wait()  # e.g. a slow send: more arrives meanwhile
            slow.backlogs.append(seqs)
            slow.got.extend(seqs)

    slow.board_backlog = board_backlog
    await hub.join("board.all", slow)
    await slow.lock.acquire()
    await layer.group_send("board.all", _event(1))
    await _until(lambda: slow in hub.backlogs)
    slow.lock.release()
    await _until(lambda: not hub.backlogs[slow].deliveries)  # taken, waiting on the gate
    await layer.group_send("board.all", _event(2))
    await layer.group_send("board.all", _event(3))
    await _until(lambda: len(hub.backlogs[slow].deliveries) == 2)
    gate.set()
    await _until(lambda: slow.got == [1, 2, 3])
    assert slow.backlogs == [[1], [2, 3]]
    await _until(lambda: slow not in hub.backlogs)
    for pump in hub.pumps.values():
        pump.cancel()


async def test_a_desk_that_leaves_while_busy_is_handed_nothing_more():
    layer = InMemoryChannelLayer()
    hub = BoardHub(layer)
    busy = Desk()
    await hub.join("board.all", busy)
    await busy.lock.acquire()
    await layer.group_send("board.all", _event(1))
    await _until(lambda: busy in hub.backlogs)
    backlog = hub.backlogs[busy]
    hub.leave("board.all", busy)
    busy.lock.release()
    await asyncio.wait_for(backlog.task, 5)
    assert busy.got == [] and busy not in hub.backlogs
    for pump in hub.pumps.values():
        pump.cancel()


async def test_one_channel_per_stream_and_a_desk_that_left_hears_nothing():
    layer = InMemoryChannelLayer()
    hub = BoardHub(layer)
    stays, leaves = Desk(), Desk()
    await hub.join("board.bcu.CN", stays)
    await hub.join("board.bcu.CN", leaves)
    # Both desks share the hub's one membership of the group.
    assert len(layer.groups["board.bcu.CN"]) == 1
    hub.leave("board.bcu.CN", leaves)
    await layer.group_send("board.bcu.CN", _event(7))
    await _until(lambda: stays.got == [7])
    assert leaves.got == []
    for pump in hub.pumps.values():
        pump.cancel()


@pytest.mark.redis
@pytest.mark.parametrize("kind", [RedisPubSubChannelLayer, RedisChannelLayer])
async def test_desks_joining_at_once_share_one_channel_and_hear_each_event_once(redis_url, kind):
    """A server's desks all come back at once after a restart. Each join that found no pump
    while the first was still waiting for Redis used to make its own, and each pump handed
    every event to every desk again."""
    layer = kind(hosts=[redis_url], prefix=f"hub-{uuid.uuid4().hex[:8]}")
    hub = BoardHub(layer)
    desks = [Desk() for _ in range(30)]
    await asyncio.gather(*(hub.join("board.all", desk) for desk in desks))
    pumps = [t for t in asyncio.all_tasks() if t.get_coro().__qualname__ == "BoardHub._pump"]
    assert len(pumps) == 1

    await layer.group_send("board.all", _event(1))
    await _until(lambda: all(desk.got for desk in desks))
    await asyncio.sleep(0.3)  # time for any second copy to arrive
    assert [desk.got for desk in desks] == [[1]] * len(desks)
    await _stop(hub)
    await layer.flush()


class Unreachable(InMemoryChannelLayer):
    """A layer whose Redis is away: making a channel fails after a connect timeout."""

    attempts = 0

    async def new_channel(self, prefix="specific."):
        self.attempts += 1
        await asyncio.sleep(0.05)
        raise ConnectionError("Redis is away")


async def test_desks_joining_while_the_layer_is_away_share_one_attempt_and_fail_together():
    layer = Unreachable()
    hub = BoardHub(layer)
    results = await asyncio.gather(
        *(hub.join("board.all", Desk()) for _ in range(20)), return_exceptions=True
    )
    assert [type(result) for result in results] == [ConnectionError] * 20
    assert layer.attempts == 1
    assert hub.members.get("board.all", set()) == set() and not hub.subscribing
    with pytest.raises(ConnectionError):  # a later join tries again
        await hub.join("board.all", Desk())
    assert layer.attempts == 2


async def test_a_stopped_pump_is_replaced_and_its_channel_leaves_the_group():
    layer = InMemoryChannelLayer()
    hub = BoardHub(layer)
    first, second = Desk(), Desk()
    await hub.join("board.all", first)
    stopped = hub.channels["board.all"]
    await _stop(hub)  # as when the layer went away under it
    await hub.join("board.all", second)
    assert set(layer.groups["board.all"]) == {hub.channels["board.all"]} != {stopped}
    await layer.group_send("board.all", _event(1))
    await _until(lambda: first.got and second.got)
    assert (first.got, second.got) == ([1], [1])
    await _stop(hub)


async def test_items_from_the_release_before_still_arrive_by_seq():
    # Until every process runs this release, a desk's items may still carry the whole event
    # instead of `seq`.
    layer = InMemoryChannelLayer()
    hub = BoardHub(layer)
    desk = Desk()
    await hub.join("board.all", desk)
    older = {"type": "board.event", "event": {"seq": 8}, "text": '{"seq":8}', "prev": 7}
    await layer.group_send("board.all", older)
    await layer.group_send("board.all", _event(9))
    await _until(lambda: desk.got == [8, 9])
    for pump in hub.pumps.values():
        pump.cancel()


def _fix(seq: int, unit: str) -> dict:
    return {**_event(seq), "coalesce": f"unit:{unit}"}


def test_a_run_of_positions_is_worked_out_once_newest_per_unit():
    items = [_fix(5, "a"), _fix(6, "b"), _fix(7, "a")]
    assert run_of(items) == Run(4, 5, 7, {"unit:a": items[2], "unit:b": items[1]})


def test_no_run_when_an_item_is_not_a_position_or_does_not_follow_the_one_before():
    assert run_of([_fix(5, "a"), _event(6)]) is None
    assert run_of([_fix(5, "a"), {**_fix(7, "b"), "prev": 5}]) is not None
    assert run_of([_fix(5, "a"), {**_fix(7, "b"), "prev": 6}]) is None
    assert run_of([]) is None


# --- behind: runs of positions merged ------------------------------------------------------------


class Recorder:
    """A desk that records each hand-out: the items' seqs and the run."""

    def __init__(self):
        self.lock = asyncio.Lock()
        self.calls: list[tuple[list[int], Run | None]] = []

    def board_events_now(self, items, stream, run=None):
        return False

    async def board_events(self, items, stream, run=None):
        async with self.lock:
            self.calls.append(([item["seq"] for item in items], run))

    async def board_backlog(self, take):
        async with self.lock:
            self.calls.extend(([item["seq"] for item in d.items], d.run) for d in take())


def _batch(items: list[dict], *, ago: float) -> dict:
    """A layer message as cad/live/events.py publishes it, `ago` seconds ago."""
    return {"type": "board.events", "items": items, "sent": time.time() - ago}


STALE = MERGE_AFTER_S + 4.0


async def _listening(layer):
    """The layer, a hub on it, and a recording desk on the all-London stream."""
    hub = BoardHub(layer)
    desk = Recorder()
    await hub.join("board.all", desk)
    return layer, hub, desk


async def _stop(hub: BoardHub) -> None:
    for pump in hub.pumps.values():
        pump.cancel()
    await asyncio.gather(*hub.pumps.values(), return_exceptions=True)


async def test_behind_it_merges_runs_of_positions_and_hands_them_out_once():
    layer, hub, desk = await _listening(InMemoryChannelLayer())
    a1, b2, a3, c4, b5 = _fix(1, "a"), _fix(2, "b"), _fix(3, "a"), _fix(4, "c"), _fix(5, "b")
    await layer.group_send("board.all", _batch([a1, b2], ago=STALE))
    await layer.group_send("board.all", _batch([a3, c4], ago=STALE))
    await layer.group_send("board.all", _batch([b5], ago=0.0))  # caught up
    await _until(lambda: desk.calls)
    await asyncio.sleep(0.3)  # nothing else may follow
    # One hand-out: each unit's newest position, the cursor moved over all five.
    newest = {"unit:a": a3, "unit:b": b5, "unit:c": c4}
    assert desk.calls == [([3, 4, 5], Run(0, 1, 5, newest))]
    await _stop(hub)


async def test_anything_but_a_position_ends_a_merge_and_keeps_its_place_in_the_stream():
    layer, hub, desk = await _listening(InMemoryChannelLayer())
    a1, b2, a4 = _fix(1, "a"), _fix(2, "b"), _fix(4, "a")
    created = _event(3)  # an incident: never merged, never held
    await layer.group_send("board.all", _batch([a1, b2], ago=STALE))
    await layer.group_send("board.all", _batch([created], ago=STALE))
    await layer.group_send("board.all", _batch([a4], ago=STALE))
    # The last merge has nothing after it: it is handed out once the hub finds nothing to read.
    await _until(lambda: len(desk.calls) == 3)
    assert desk.calls == [
        ([1, 2], Run(0, 1, 2, {"unit:a": a1, "unit:b": b2})),
        ([3], None),
        ([4], Run(3, 4, 4, {"unit:a": a4})),
    ]
    await _stop(hub)


async def test_a_break_in_the_chain_is_not_merged_over():
    layer, hub, desk = await _listening(InMemoryChannelLayer())
    a1, b3 = _fix(1, "a"), {**_fix(3, "b"), "prev": 2}  # seq 2 never came
    await layer.group_send("board.all", _batch([a1], ago=STALE))
    await layer.group_send("board.all", _batch([b3], ago=STALE))
    await _until(lambda: len(desk.calls) == 2)
    assert desk.calls == [([1], Run(0, 1, 1, {"unit:a": a1})), ([3], Run(2, 3, 3, {"unit:b": b3}))]
    await _stop(hub)


async def test_messages_that_are_not_behind_are_handed_out_one_by_one():
    layer, hub, desk = await _listening(InMemoryChannelLayer())
    a1, b2 = _fix(1, "a"), _fix(2, "b")
    await layer.group_send("board.all", _batch([a1], ago=0.0))
    await layer.group_send("board.all", _batch([b2], ago=0.0))
    await _until(lambda: len(desk.calls) == 2)
    assert desk.calls == [([1], Run(0, 1, 1, {"unit:a": a1})), ([2], Run(1, 2, 2, {"unit:b": b2}))]
    await _stop(hub)


@pytest.mark.redis
async def test_waiting_out_a_merge_keeps_the_pubsub_subscription(redis_url):
    """The merge's timed wait must not cancel the layer's receive: channels-redis' pub/sub
    layer unsubscribes a channel whose receive is cancelled, and the stream would go silent."""
    layer = RedisPubSubChannelLayer(hosts=[redis_url], prefix=f"hub-{uuid.uuid4().hex[:8]}")
    layer, hub, desk = await _listening(layer)
    a1, b2 = _fix(1, "a"), _fix(2, "b")
    await layer.group_send("board.all", _batch([a1], ago=STALE))
    await _until(lambda: len(desk.calls) == 1)  # handed out after the wait timed out
    await asyncio.sleep(0.3)  # several more timed waits' worth, had one been left running
    await layer.group_send("board.all", _batch([b2], ago=0.0))
    await _until(lambda: len(desk.calls) == 2)
    assert desk.calls == [([1], Run(0, 1, 1, {"unit:a": a1})), ([2], Run(1, 2, 2, {"unit:b": b2}))]
    await _stop(hub)
    await layer.flush()


class EagerDesk(Desk):
    """A desk that takes a delivery with plain calls whenever it is offered one."""

    def __init__(self):
        super().__init__()
        self.now: list[int] = []

    def board_events_now(self, items, stream, run=None):
        self.now.extend(item["seq"] for item in items)
        self.got.extend(item["seq"] for item in items)
        return True


async def test_a_desk_free_now_is_handed_events_with_plain_calls_but_never_ahead_of_its_backlog():
    hub = BoardHub(InMemoryChannelLayer())
    eager = EagerDesk()
    hub.members["board.all"] = {eager}
    await hub._hand_out("board.all", [_event(1)], None)
    assert eager.now == [1] and not hub.backlogs

    await eager.lock.acquire()  # busy: what comes is queued
    await hub._hand_out("board.all", [_event(2)], None)
    assert eager.now == [1] and eager in hub.backlogs
    eager.lock.release()
    # Free again, but its backlog is not handed over yet: the next event goes behind it.
    await hub._hand_out("board.all", [_event(3)], None)
    await _until(lambda: eager.got == [1, 2, 3])
    assert eager.now == [1]
    await _until(lambda: eager not in hub.backlogs)
