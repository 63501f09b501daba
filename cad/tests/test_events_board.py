"""The event log behind the board: gapless, per-BCU streams, nothing for a rolled-back change."""

import asyncio
import gc
import json
import threading

import pytest
from django.db import transaction

from cad.live import events
from cad.models import Event
from tests.factories import make_incident


@pytest.fixture
def published(monkeypatch):
    sent = []
    monkeypatch.setattr(events, "publish", lambda message, prev, **kw: sent.append((message, prev)))
    return sent


def test_seq_is_gapless_and_streams_carry_prev(geography, make_user, published,
                                               django_capture_on_commit_callbacks):  # fmt: skip
    desk = make_user("despatcher")
    with django_capture_on_commit_callbacks(execute=True):
        a = make_incident(desk, where="camden", grade="I")
        b = make_incident(desk, where="lambeth", grade="I")
        c = make_incident(desk, where="camden", grade="I")
    seqs = [m["seq"] for m, _ in published]
    assert seqs == [seqs[0], seqs[0] + 1, seqs[0] + 2]
    assert [m["data"]["id"] for m, _ in published] == [a.pk, b.pk, c.pk]
    # The CN stream skips Lambeth's event: c's `prev` on board.bcu.CN is a's seq.
    assert published[2][1] == {events.ALL_GROUP: seqs[1], "board.bcu.CN": seqs[0]}
    assert events.latest_seq() == seqs[2]
    assert events.latest_seq(bcu="AS") == seqs[1]
    assert events.latest_seq(bcu="CN") == seqs[2]


def test_a_desk_stream_gets_seq_and_text_and_a_routed_group_the_event_as_well(monkeypatch):
    # Desks send the text as it is, so their items carry no event to unpack (decoding it was a
    # fifth of daphne's time); an officer's phone reads the event's type and data.
    monkeypatch.setattr(events, "_routes", [lambda type, data: [f"officer.{data['callsign']}"]])
    status = {"seq": 12, "type": "unit.status", "data": {"callsign": "CN01", "status": "ENR"}}
    fix = {"seq": 13, "type": "unit.position", "data": {"callsign": "CN01", "lat": 51.5}}
    groups = events.group_messages([
        (status, {events.ALL_GROUP: 11, "board.bcu.CN": 9}, ""),
        (fix, {events.ALL_GROUP: 12, "board.bcu.CN": 12}, "unit:CN01"),
    ])  # fmt: skip
    desk = [item for message in groups[events.ALL_GROUP] for item in message["items"]]
    assert [json.loads(item["text"]) for item in desk] == [status, fix]
    assert [(item["seq"], item["prev"], item.get("coalesce")) for item in desk] == [
        (12, 11, None), (13, 12, "unit:CN01"),
    ]  # fmt: skip
    assert all("event" not in item for item in desk)
    # Positions are not routed (a phone is not sent every fix).
    [routed] = [item for message in groups["officer.CN01"] for item in message["items"]]
    assert routed["event"] == status and routed["prev"] == 0 and routed["seq"] == 12


def test_rolled_back_change_leaves_no_event_and_no_publish(
    geography, make_user, published, django_capture_on_commit_callbacks
):
    desk = make_user("despatcher")
    before = events.latest_seq()
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        make_incident(desk, grade="I")
        raise RuntimeError("the caller rang off; the desk cancelled")
    assert published == []
    assert events.latest_seq() == before
    assert not Event.objects.filter(seq__gt=before).exists()
    # The number came back: the next event takes it, so there is no gap.
    with django_capture_on_commit_callbacks(execute=True):
        make_incident(desk, grade="I")
    assert [m["seq"] for m, _ in published] == [before + 1]


def test_events_since_filters_by_exact_bcu(geography, make_user):
    desk = make_user("despatcher")
    start = events.latest_seq()
    make_incident(desk, where="camden", grade="I")
    make_incident(desk, where="lambeth", grade="I")
    assert [e["type"] for e in events.events_since(start, bcu="AS", limit=10)] == [
        "incident.created"
    ]
    assert len(events.events_since(start, bcu=None, limit=10)) == 2
    assert events.events_since(start, bcu=None, limit=1) is None
    assert events.events_since(start, bcu="A", limit=10) == []  # no prefix matches


def test_publish_survives_a_broken_layer(monkeypatch, caplog):
    class Broken:
        async def group_send(self, group, message):
            raise ConnectionError("redis is down")

    monkeypatch.setattr(events, "get_channel_layer", lambda: Broken())
    events.publish({"seq": 7, "type": "x", "data": {}}, {events.ALL_GROUP: 6})
    assert "seq 7" in caplog.text


def test_a_send_given_up_on_ends_without_an_unread_error():
    """redis-py answers the timeout's cancellation with its own TimeoutError; with nobody left
    to read it, asyncio logged "Task exception was never retrieved" for every timed-out
    publish. An error of a send still awaited is still raised."""
    publisher = events._PublisherLoop()
    unread = []
    publisher.loop.set_exception_handler(lambda loop, context: unread.append(context))
    finished = threading.Event()

    async def like_redis_py():
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            raise TimeoutError("Timeout reading from 127.0.0.1:6379") from None
        finally:
            finished.set()

    with pytest.raises(TimeoutError):
        publisher.run(like_redis_py(), timeout=0.05)
    assert finished.wait(5)

    async def broken():
        raise ConnectionError("redis is down")

    with pytest.raises(ConnectionError):
        publisher.run(broken(), timeout=5)
    # A task's unread error is reported when the task is collected.
    asyncio.run_coroutine_threadsafe(asyncio.sleep(0.05), publisher.loop).result(5)
    publisher.loop.call_soon_threadsafe(gc.collect)
    asyncio.run_coroutine_threadsafe(asyncio.sleep(0.05), publisher.loop).result(5)
    assert unread == []
    publisher.loop.call_soon_threadsafe(publisher.loop.stop)
