"""Gap fills and snapshots shared by the sockets of one process (cad/live/shared_reads.py):
reads asked for at once with the same arguments are one read; nothing is kept after it."""

import asyncio
import json
import threading
import time

import pytest

from cad.live import events, snapshot
from cad.live.shared_reads import SharedReads

# The reads below are stand-ins, but database_sync_to_async tidies the thread's connections
# before each call, which on SQLite touches the database.
pytestmark = pytest.mark.django_db

ROWS = [
    {"seq": 11, "type": "incident.created", "data": {"id": 1, "summary": "Café fight"}},
    {"seq": 12, "type": "unit.updated", "data": {"callsign": "CN01"}},
]


@pytest.fixture
def table(monkeypatch):
    """events.events_since replaced by a slow stand-in that records each call's arguments."""
    calls = []
    release = threading.Event()

    def read(since, *, bcu, limit, before=None):
        calls.append((since, bcu, limit, before))
        release.wait(timeout=5)  # held until the test lets the read finish
        return None if limit < len(ROWS) else [dict(row) for row in ROWS]

    monkeypatch.setattr(events, "events_since", read)
    return calls, release


async def until(predicate) -> None:
    for _ in range(500):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("timed out")


async def test_reads_asked_for_at_once_are_one_read_encoded_once(table):
    calls, release = table
    reads = SharedReads()
    waiting = [
        asyncio.ensure_future(reads.events_since(10, bcu="CN", limit=500, before=13))
        for _ in range(5)
    ]
    await until(lambda: calls)
    release.set()
    answers = await asyncio.gather(*waiting)

    assert calls == [(10, "CN", 500, 13)]
    expected = [(row["seq"], json.dumps(row)) for row in ROWS]
    assert all(answer == expected for answer in answers)
    assert json.loads(answers[0][0][1])["data"]["summary"] == "Café fight"


async def test_other_arguments_are_other_reads(table):
    calls, release = table
    reads = SharedReads()
    release.set()
    answers = await asyncio.gather(
        reads.events_since(10, bcu="CN", limit=500, before=13),
        reads.events_since(10, bcu="AS", limit=500, before=13),
        reads.events_since(9, bcu="CN", limit=500, before=13),
        reads.events_since(10, bcu="CN", limit=1, before=13),
    )
    assert sorted(calls) == sorted(
        [(10, "CN", 500, 13), (10, "AS", 500, 13), (9, "CN", 500, 13), (10, "CN", 1, 13)]
    )
    assert answers[3] is None  # over the limit: a snapshot, as events_since says


async def test_nothing_is_kept_after_a_read(table):
    calls, release = table
    reads = SharedReads()
    release.set()
    await reads.events_since(10, bcu=None, limit=500)
    await reads.events_since(10, bcu=None, limit=500)
    assert len(calls) == 2
    assert reads.reading == {}


async def test_a_socket_that_goes_away_does_not_cancel_the_others_read(table):
    calls, release = table
    reads = SharedReads()
    leaving = asyncio.ensure_future(reads.events_since(10, bcu=None, limit=500))
    staying = asyncio.ensure_future(reads.events_since(10, bcu=None, limit=500))
    await until(lambda: calls)
    leaving.cancel()
    time.sleep(0.01)
    release.set()
    assert await staying == [(row["seq"], json.dumps(row)) for row in ROWS]
    assert leaving.cancelled()
    assert len(calls) == 1


async def test_snapshots_asked_for_at_once_are_one_read_per_stream(monkeypatch):
    calls = []
    release = threading.Event()

    def board(*, bcu):
        calls.append(bcu)
        release.wait(timeout=5)
        return {"type": "snapshot", "seq": 40, "data": {"units": [{"callsign": f"{bcu}01"}]}}

    monkeypatch.setattr(snapshot, "board_snapshot", board)
    reads = SharedReads()
    waiting = [asyncio.ensure_future(reads.snapshot(bcu=bcu)) for bcu in ("CN", "CN", "CN", None)]
    await until(lambda: len(calls) == 2)
    release.set()
    answers = await asyncio.gather(*waiting)

    assert sorted(calls, key=str) == ["CN", None]
    assert answers[0] == answers[1] == answers[2] == (40, json.dumps(board(bcu="CN")))
    assert answers[3] == (40, json.dumps(board(bcu=None)))
