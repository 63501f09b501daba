"""The per-process board hub: one read per event, every local socket served, order kept."""

import asyncio

from channels.layers import InMemoryChannelLayer

from cad.live.hub import BoardHub, Run, run_of


class Desk:
    def __init__(self):
        self.lock = asyncio.Lock()
        self.got: list[int] = []

    async def board_events(self, items, stream, run=None):
        async with self.lock:
            self.got.extend(item["seq"] for item in items)


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
