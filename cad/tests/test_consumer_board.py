"""The board socket (ws/board/): identity, scope, hello, live events, gaps, resync, snapshot;
the reorder buffer and the opt-in batched frames.

Events are published after commit by several processes, so a desk often hears seq N+1 before
seq N: that must cost no database query and still reach the browser in order. A gap that never
closes is filled from the Event table after the grace. With `?batch=1` consecutive events may
share one `events` frame; without it every event is its own frame.
"""

import asyncio
import json
import time
from functools import partial

import pytest
from autobahn.exception import Disconnected
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from django.utils import timezone

from cad.asgi import application
from cad.live import consumers, events, send_buffer, shared_frames, snapshot
from cad.live.consumers import BoardConsumer
from cad.live.hub import hub_for
from resources import despatch, services
from resources.models import UnitStatus
from resources.services import UnitFix
from tests.factories import make_incident, make_unit
from tests.sockets import CONNECT_S

# Consumers reach the database from worker threads, so the data must be committed;
pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("close_worker_connections", "fresh_layer"),
]


@pytest.fixture
def world(geography, cast):
    return {
        "central": cast.despatcher_all,
        "cn_desk": cast.despatcher_cn,
        "as_desk": cast.despatcher_as,
        "cn01": make_unit(geography["kentish"], callsign="CN01"),
        "as01": make_unit(geography["brixton"], callsign="AS01"),
    }


async def board(user, path: str = "/ws/board/") -> WebsocketCommunicator:
    """A connected board for `user`, its hello already read."""
    communicator = WebsocketCommunicator(BoardConsumer.as_asgi(), path)
    # What AuthMiddlewareStack would put in the scope; the stub's test scope has no "user".
    communicator.scope["user"] = user  # type: ignore[typeddict-unknown-key]
    connected, _ = await communicator.connect(timeout=CONNECT_S)
    assert connected
    hello = await communicator.receive_json_from(timeout=5)
    assert hello["type"] == "hello"
    communicator.hello = hello  # type: ignore[attr-defined]  # kept for the tests to read
    return communicator


async def next_of(communicator, *types: str, timeout: float = 5) -> dict:
    """The next message of one of `types`, skipping others (e.g. unit.updated around an assign)."""
    while True:
        message = await communicator.receive_json_from(timeout=timeout)
        if message["type"] in types:
            return message


create = database_sync_to_async(partial(make_incident, grade="I"))


async def test_anonymous_is_refused():
    communicator = WebsocketCommunicator(BoardConsumer.as_asgi(), "/ws/board/")
    communicator.scope["user"] = AnonymousUser()
    connected, code = await communicator.connect(timeout=CONNECT_S)
    assert not connected and code == 4401
    await communicator.disconnect()


async def test_call_handler_is_refused(make_user):
    user = await database_sync_to_async(make_user)("call_handler")
    communicator = WebsocketCommunicator(BoardConsumer.as_asgi(), "/ws/board/")
    communicator.scope["user"] = user
    connected, code = await communicator.connect(timeout=CONNECT_S)
    assert not connected and code == 4403
    await communicator.disconnect()


async def test_foreign_origin_is_refused(world):
    communicator = WebsocketCommunicator(
        application, "/ws/board/", headers=[(b"origin", b"https://evil.example")]
    )
    connected, _ = await communicator.connect(timeout=CONNECT_S)
    assert not connected
    await communicator.disconnect()


async def test_no_session_through_the_full_stack_is_refused(world):
    communicator = WebsocketCommunicator(
        application, "/ws/board/", headers=[(b"origin", b"http://localhost")]
    )
    connected, code = await communicator.connect(timeout=CONNECT_S)
    assert not connected and code == 4401
    await communicator.disconnect()


async def test_session_cookie_through_the_full_stack_is_accepted(world, client):
    await database_sync_to_async(client.force_login)(world["central"])
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    communicator = WebsocketCommunicator(
        application, "/ws/board/",
        headers=[(b"origin", b"http://localhost"), (b"cookie", cookie)],
    )  # fmt: skip
    connected, _ = await communicator.connect(timeout=CONNECT_S)
    assert connected
    assert (await communicator.receive_json_from(timeout=5))["type"] == "hello"
    await communicator.disconnect()


async def test_hello_then_live_incident(world):
    ws = await board(world["central"])
    assert ws.hello["seq"] == await database_sync_to_async(events.latest_seq)()
    incident = await create(world["central"])
    message = await next_of(ws, "incident.created")
    assert message["data"]["id"] == incident.pk
    assert message["seq"] == ws.hello["seq"] + 1
    await ws.disconnect()


async def test_bcu_desk_hears_only_its_bcu_but_every_emergency(world):
    cn, as_ = await board(world["cn_desk"]), await board(world["as_desk"])
    await create(world["central"], where="lambeth")
    assert (await next_of(as_, "incident.created"))["data"]["location"]["bcu"] == "AS"
    await database_sync_to_async(services.unit_raise_emergency)(unit=world["as01"], source="t")
    # CN's first message is the emergency: it never heard of the Lambeth incident.
    first = await cn.receive_json_from(timeout=5)
    assert first["type"] == "unit.emergency" and first["data"]["callsign"] == "AS01"
    assert (await next_of(as_, "unit.emergency"))["data"]["emergency"] is True
    await cn.disconnect()
    await as_.disconnect()


async def test_cross_border_unit_reaches_the_incident_desk(world):
    as_ = await board(world["as_desk"])
    incident = await create(world["central"], where="lambeth")
    await next_of(as_, "incident.created")
    await database_sync_to_async(despatch.assignment_create)(
        incident=incident, unit=world["cn01"], by=world["central"]
    )
    unit = await next_of(as_, "unit.updated")
    assert unit["data"]["callsign"] == "CN01" and unit["data"]["incident"] == incident.pk
    await database_sync_to_async(services.unit_set_status)(
        unit=world["cn01"], status=UnitStatus.EN_ROUTE, source="t"
    )
    moved = await next_of(as_, "unit.updated")
    assert moved["data"]["status"] == "en_route"
    await as_.disconnect()


async def test_resync_after_missed_events(world):
    ws = await board(world["central"])
    seen = ws.hello["seq"]
    await ws.disconnect()
    made = [await create(world["central"]) for _ in range(3)]  # nobody listening
    ws = await board(world["central"])
    await ws.send_json_to({"type": "resync", "since": seen})
    replayed = [await ws.receive_json_from(timeout=5) for _ in range(3)]
    assert [m["seq"] for m in replayed] == [seen + 1, seen + 2, seen + 3]
    assert [m["data"]["id"] for m in replayed] == [i.pk for i in made]
    done = await ws.receive_json_from(timeout=5)
    assert done == {"type": "resynced", "seq": seen + 3}
    await ws.disconnect()


async def test_resync_for_a_bcu_desk_skips_other_bcus(world):
    ws = await board(world["as_desk"])
    seen = ws.hello["seq"]
    await ws.disconnect()
    await create(world["central"], where="camden")
    lambeth = await create(world["central"], where="lambeth")
    ws = await board(world["as_desk"])
    await ws.send_json_to({"type": "resync", "since": seen})
    message = await ws.receive_json_from(timeout=5)
    assert message["type"] == "incident.created" and message["data"]["id"] == lambeth.pk
    assert (await ws.receive_json_from(timeout=5))["type"] == "resynced"
    await ws.disconnect()


async def test_resync_too_far_back_gets_a_snapshot(world, monkeypatch):
    monkeypatch.setattr(consumers, "RESYNC_LIMIT", 2)
    ws = await board(world["central"])
    seen = ws.hello["seq"]
    for _ in range(3):
        await create(world["central"])
    await ws.disconnect()
    ws = await board(world["central"])
    await ws.send_json_to({"type": "resync", "since": seen})
    snapshot = await ws.receive_json_from(timeout=5)
    assert snapshot["type"] == "snapshot"
    assert snapshot["seq"] == seen + 3
    assert len(snapshot["data"]["incidents"]) == 3
    assert {u["callsign"] for u in snapshot["data"]["units"]} == {"CN01", "AS01"}
    await ws.disconnect()


async def test_bad_messages_get_an_error_not_a_crash(world):
    ws = await board(world["central"])
    for bad in ({"type": "resync", "since": "x"}, {"type": "resync", "since": True},
                {"type": "fly"}, [1, 2]):  # fmt: skip
        await ws.send_json_to(bad)
        assert (await ws.receive_json_from(timeout=5))["type"] == "error"
    # Text that is not JSON at all, or nested past the decoder's limit, closed the socket with
    # an exception in the consumer.
    for text in ("not json", "[" * 50_000):
        await ws.send_to(text_data=text)
        assert (await ws.receive_json_from(timeout=5))["type"] == "error"
    await ws.send_json_to({"type": "ping"})
    assert (await ws.receive_json_from(timeout=5))["type"] == "pong"
    await ws.disconnect()


async def test_lost_publish_is_filled_from_the_event_table(world, monkeypatch):
    """The layer drops one event: the consumer notices by `prev` and sends it before the next."""
    ws = await board(world["central"])
    real_publish = events.publish
    dropped = []

    def lossy(message, prev, **kwargs):
        if not dropped:
            dropped.append(message["seq"])
            return
        real_publish(message, prev, **kwargs)

    monkeypatch.setattr(events, "publish", lossy)
    first = await create(world["central"])
    second = await create(world["central"])
    got = [await ws.receive_json_from(timeout=5) for _ in range(2)]
    assert [m["data"]["id"] for m in got] == [first.pk, second.pk]
    assert got[0]["seq"] == dropped[0] and got[1]["seq"] == dropped[0] + 1
    await ws.disconnect()


async def test_lost_last_event_is_found_on_ping(world, monkeypatch):
    ws = await board(world["central"])
    monkeypatch.setattr(events, "publish", lambda *a, **k: None)
    incident = await create(world["central"])
    await ws.send_json_to({"type": "ping"})
    message = await ws.receive_json_from(timeout=5)
    assert message["type"] == "incident.created" and message["data"]["id"] == incident.pk
    assert (await ws.receive_json_from(timeout=5))["type"] == "pong"
    await ws.disconnect()


async def test_positions_are_coalesced_and_statuses_are_not(world, monkeypatch):
    ws = await board(world["central"])
    move = database_sync_to_async(services.unit_set_position)
    # A held position goes out by itself when the hold ends.
    monkeypatch.setattr(consumers, "COALESCE_SECONDS", 0.2)
    await move(unit=world["cn01"], lat=51.49, lon=-0.1, source="t")
    alone = await ws.receive_json_from(timeout=5)
    assert alone["type"] == "unit.updated"
    assert alone["data"]["position"]["lat"] == pytest.approx(51.49)
    # A hold longer than the test: only the newest of five fixes is kept, and a status change
    # goes out at once, after the held position (seq order is kept). No timing involved.
    monkeypatch.setattr(consumers, "COALESCE_SECONDS", 60)
    for i in range(5):
        await move(unit=world["cn01"], lat=51.50 + i / 100, lon=-0.1, source="t")
    assert await ws.receive_nothing(timeout=0.3)
    await database_sync_to_async(services.unit_set_status)(
        unit=world["cn01"], status=UnitStatus.UNAVAILABLE, source="t"
    )
    held, status = await ws.receive_json_from(timeout=5), await ws.receive_json_from(timeout=5)
    assert held["type"] == "unit.updated"
    assert held["data"]["position"]["lat"] == pytest.approx(51.54)
    assert status["data"]["status"] == "unavailable" and status["seq"] > held["seq"]
    assert await ws.receive_nothing(timeout=0.3)
    await ws.disconnect()


async def test_snapshot_on_request(world):
    ws = await board(world["cn_desk"])
    await create(world["central"], where="camden")
    await next_of(ws, "incident.created")
    await ws.send_json_to({"type": "snapshot"})
    snapshot = await ws.receive_json_from(timeout=5)
    assert snapshot["type"] == "snapshot"
    assert [u["callsign"] for u in snapshot["data"]["units"]] == ["CN01"]
    assert len(snapshot["data"]["incidents"]) == 1
    await ws.disconnect()


async def test_desks_asking_for_a_snapshot_at_once_share_one_read(world, monkeypatch):
    # After a restart or a long stall every desk on a stream may need the whole picture at
    # once; they share one read and one encoding (cad/live/shared_reads.py).
    real, reads = snapshot.board_snapshot, []

    def slow(*, bcu):
        reads.append(bcu)
        time.sleep(0.3)  # long enough for every desk's request to arrive while it runs
        return real(bcu=bcu)

    monkeypatch.setattr(snapshot, "board_snapshot", slow)
    await create(world["central"], where="camden")
    desks = [await board(world["cn_desk"]) for _ in range(3)]
    for ws in desks:
        await ws.send_json_to({"type": "snapshot"})
    got = [await next_of(ws, "snapshot") for ws in desks]
    assert reads == ["CN"]
    assert got[0] == got[1] == got[2]
    assert [u["callsign"] for u in got[0]["data"]["units"]] == ["CN01"]
    assert len(got[0]["data"]["incidents"]) == 1
    for ws in desks:
        await ws.disconnect()


# --- out of order, lost for good, batched ---------------------------------------------------


@pytest.fixture
def gap_fills(monkeypatch):
    """The `since` of every read of the Event table for a gap, resync or ping."""
    calls = []
    real = events.events_since

    def counted(seq, **kwargs):
        calls.append(seq)
        return real(seq, **kwargs)

    monkeypatch.setattr(events, "events_since", counted)
    return calls


@pytest.fixture
def held(monkeypatch):
    """Publishes kept back, for the test to send when and in the order it likes."""
    kept = []
    monkeypatch.setattr(events, "publish", lambda *args, **kwargs: kept.append((args, kwargs)))
    return kept


real_publish = database_sync_to_async(events.publish)  # the module's, not the tests' stand-ins


async def incidents_from(ws, count: int) -> list[dict]:
    return [await ws.receive_json_from(timeout=5) for _ in range(count)]


async def test_an_overtaken_event_waits_for_its_predecessor_without_a_query(world, held, gap_fills):
    ws = await board(world["central"])
    first, second = await create(world["central"]), await create(world["central"])
    assert len(held) == 2
    (early_args, early_kwargs), (late_args, late_kwargs) = held[1], held[0]
    await real_publish(*early_args, **early_kwargs)  # seq N+1 arrives first
    assert await ws.receive_nothing(timeout=0.2)  # parked, not sent out of order
    await real_publish(*late_args, **late_kwargs)
    got = await incidents_from(ws, 2)
    assert [m["data"]["id"] for m in got] == [first.pk, second.pk]
    assert got[1]["seq"] == got[0]["seq"] + 1
    assert gap_fills == []
    assert await ws.receive_nothing(timeout=0.2)
    await ws.disconnect()


async def test_a_gap_that_never_closes_is_filled_from_the_table_after_the_grace(
    world, held, gap_fills, monkeypatch
):
    # raising=False: without the buffer the test fails on what the desk receives, not here.
    monkeypatch.setattr(consumers, "GAP_GRACE_SECONDS", 0.5, raising=False)
    ws = await board(world["central"])
    first, second = await create(world["central"]), await create(world["central"])
    args, kwargs = held[1]
    await real_publish(*args, **kwargs)  # the first publish is lost
    assert await ws.receive_nothing(timeout=0.3)  # within the grace: waiting, no query
    assert gap_fills == []
    got = await incidents_from(ws, 2)
    assert [m["data"]["id"] for m in got] == [first.pk, second.pk]
    assert len(gap_fills) == 1
    await ws.disconnect()


async def test_desks_on_one_stream_fill_the_same_gap_with_one_read(
    world, held, gap_fills, monkeypatch
):
    # Every desk on the stream parks the same event behind the same lost one; they share the
    # read of the table (cad/live/shared_reads.py) instead of making one each.
    monkeypatch.setattr(consumers, "GAP_GRACE_SECONDS", 0.5, raising=False)
    desks = [await board(world["central"]) for _ in range(4)]
    first, second = await create(world["central"]), await create(world["central"])
    args, kwargs = held[1]
    await real_publish(*args, **kwargs)  # the first publish is lost
    for ws in desks:
        got = await incidents_from(ws, 2)
        assert [m["data"]["id"] for m in got] == [first.pk, second.pk]
    assert len(gap_fills) == 1
    for ws in desks:
        await ws.disconnect()


async def test_too_many_parked_events_fill_the_gap_at_once(world, held, gap_fills, monkeypatch):
    monkeypatch.setattr(consumers, "GAP_GRACE_SECONDS", 60)
    monkeypatch.setattr(consumers, "GAP_PARK_LIMIT", 1)
    ws = await board(world["central"])
    made = [await create(world["central"]) for _ in range(3)]
    for args, kwargs in held[1:]:  # the first publish is lost
        await real_publish(*args, **kwargs)
    got = await incidents_from(ws, 3)
    assert [m["data"]["id"] for m in got] == [i.pk for i in made]
    assert len(gap_fills) == 1
    await ws.disconnect()


async def positions_then_status(world, monkeypatch) -> None:
    """Three fixes for two units, held (only the newest per unit is kept), then a status
    change, which sends the held positions before itself."""
    monkeypatch.setattr(consumers, "COALESCE_SECONDS", 60)
    move = database_sync_to_async(services.unit_set_position)
    await move(unit=world["cn01"], lat=51.50, lon=-0.1, source="t")
    await move(unit=world["as01"], lat=51.45, lon=-0.1, source="t")
    await move(unit=world["cn01"], lat=51.51, lon=-0.1, source="t")
    await database_sync_to_async(services.unit_set_status)(
        unit=world["as01"], status=UnitStatus.UNAVAILABLE, source="t"
    )


async def test_opted_in_client_gets_held_positions_in_one_frame(world, monkeypatch):
    ws = await board(world["central"], "/ws/board/?batch=1")
    await positions_then_status(world, monkeypatch)
    frame = json.loads(await ws.receive_from(timeout=5))
    assert frame["type"] == "events"
    got = frame["events"]
    assert [set(m) for m in got] == [{"seq", "type", "data"}] * 3
    assert [m["seq"] for m in got] == sorted(m["seq"] for m in got)
    assert [(m["data"]["callsign"], m["data"]["position"]["lat"]) for m in got[:2]] == [
        ("AS01", pytest.approx(51.45)),
        ("CN01", pytest.approx(51.51)),
    ]
    assert got[2]["data"]["status"] == "unavailable"
    assert await ws.receive_nothing(timeout=0.2)
    await ws.disconnect()


async def test_without_the_opt_in_every_event_is_its_own_frame(world, monkeypatch):
    ws = await board(world["central"])
    await positions_then_status(world, monkeypatch)
    got = [await ws.receive_json_from(timeout=5) for _ in range(3)]
    assert [m["type"] for m in got] == ["unit.updated"] * 3
    assert [m["seq"] for m in got] == sorted(m["seq"] for m in got)
    assert got[2]["data"]["status"] == "unavailable"
    assert await ws.receive_nothing(timeout=0.2)
    await ws.disconnect()


def _move_together(*moves) -> None:
    """One radio batch: several units moved in one transaction, published as one layer message
    per stream (`board.events`), as radio/positions.py does."""
    with transaction.atomic():
        services.units_set_positions(
            fixes=[
                UnitFix(unit_id=unit.pk, lat=lat, lon=-0.1, at=timezone.now())
                for unit, lat in moves
            ]  # fmt: skip
        )


@pytest.fixture
def per_item(monkeypatch):
    """Every event the consumer looks at one by one (`board_event`), by seq."""
    seen = []
    real = BoardConsumer.board_event

    async def counted(self, message, stream):
        seen.append(message["seq"])
        await real(self, message, stream)

    monkeypatch.setattr(BoardConsumer, "board_event", counted)
    return seen


async def test_a_batch_of_positions_is_held_whole_and_goes_out_newest_per_unit(
    world, monkeypatch, per_item
):
    ws = await board(world["central"], "/ws/board/?batch=1")
    monkeypatch.setattr(consumers, "COALESCE_SECONDS", 60)
    move = database_sync_to_async(_move_together)
    await move((world["cn01"], 51.50), (world["as01"], 51.45))
    await move((world["cn01"], 51.51))
    await database_sync_to_async(services.unit_set_status)(
        unit=world["as01"], status=UnitStatus.UNAVAILABLE, source="t"
    )
    frame = json.loads(await ws.receive_from(timeout=5))
    got = frame["events"]
    assert [(m["data"]["callsign"], m["data"].get("status")) for m in got] == [
        ("AS01", "available"), ("CN01", "available"), ("AS01", "unavailable")
    ]  # fmt: skip
    assert [m["seq"] for m in got] == sorted(m["seq"] for m in got)
    assert got[1]["data"]["position"]["lat"] == pytest.approx(51.51)
    # The two batches were taken whole: only the status was looked at by itself.
    assert per_item == [got[2]["seq"]]
    assert await ws.receive_nothing(timeout=0.2)
    await ws.disconnect()


async def test_a_batch_after_a_lost_one_is_not_taken_whole_and_the_gap_is_filled(
    world, monkeypatch, per_item
):
    ws = await board(world["central"], "/ws/board/?batch=1")
    monkeypatch.setattr(consumers, "COALESCE_SECONDS", 60)
    monkeypatch.setattr(consumers, "GAP_GRACE_SECONDS", 0.2)
    real_many = events.publish_many
    dropped = []

    def lossy(batch):
        if not dropped:
            dropped.append(len(batch))
            return
        real_many(batch)

    monkeypatch.setattr(events, "publish_many", lossy)
    move = database_sync_to_async(_move_together)
    await move((world["cn01"], 51.50), (world["as01"], 51.45))  # lost on the way
    await move((world["cn01"], 51.51))
    await database_sync_to_async(services.unit_set_status)(
        unit=world["as01"], status=UnitStatus.UNAVAILABLE, source="t"
    )
    got = []
    while not got or got[-1]["data"].get("status") != "unavailable":
        frame = json.loads(await ws.receive_from(timeout=5))
        got.extend(frame["events"] if frame["type"] == "events" else [frame])
    assert dropped == [2]
    # The lost batch comes from the Event table as it was (a gap fill does not coalesce), then
    # the held newer fix, then the status: every event once, in seq order.
    moved = [(m["data"]["callsign"], round(m["data"]["position"]["lat"], 2)) for m in got[:-1]]
    assert sorted(moved[:2]) == [("AS01", 51.45), ("CN01", 51.50)]
    assert moved[2:] == [("CN01", 51.51)]
    seqs = [m["seq"] for m in got]
    assert seqs == sorted(set(seqs))
    assert per_item  # the second batch did not start at the desk's cursor: looked at one by one
    await ws.disconnect()


async def test_what_queued_while_a_desk_was_busy_goes_out_in_one_frame(world):
    # A desk busy with a gap fill or a resync misses nothing that arrives meanwhile, and gets it
    # all in one turn of its lock: one frame for an opted-in client (cad/live/hub.py).
    ws = await board(world["central"], "/ws/board/?batch=1")
    hub = hub_for(get_channel_layer())
    [desk] = hub.members[events.ALL_GROUP]
    await desk.lock.acquire()
    change = database_sync_to_async(services.unit_set_status)
    for status in (UnitStatus.UNAVAILABLE, UnitStatus.AVAILABLE, UnitStatus.UNAVAILABLE):
        await change(unit=world["as01"], status=status, source="t")
    for _ in range(500):
        if desk in hub.backlogs and len(hub.backlogs[desk].deliveries) == 3:
            break
        await asyncio.sleep(0.01)
    assert await ws.receive_nothing(timeout=0.1)
    desk.lock.release()
    frame = json.loads(await ws.receive_from(timeout=5))
    assert frame["type"] == "events"
    assert [m["data"]["status"] for m in frame["events"]] == [
        "unavailable", "available", "unavailable"
    ]  # fmt: skip
    assert [m["seq"] for m in frame["events"]] == sorted(m["seq"] for m in frame["events"])
    assert await ws.receive_nothing(timeout=0.2)
    await ws.disconnect()


async def test_a_send_to_a_browser_that_just_left_is_dropped_quietly(world, caplog):
    # Between the browser's connection closing and `disconnect` taking the socket off the hub,
    # daphne refuses sends with autobahn's Disconnected. That is not a failed delivery.
    ws = await board(world["central"])
    hub = hub_for(get_channel_layer())
    [desk] = hub.members[events.ALL_GROUP]

    async def gone(message):
        raise Disconnected("Attempt to send on a closed protocol")

    desk.base_send = gone
    await database_sync_to_async(services.unit_set_status)(
        unit=world["as01"], status=UnitStatus.UNAVAILABLE, source="t"
    )
    for _ in range(500):
        if desk.cursor > ws.hello["stream_seq"]:
            break
        await asyncio.sleep(0.01)
    assert desk.cursor > ws.hello["stream_seq"]  # the event reached the socket...
    assert "board delivery failed" not in caplog.text  # ...and its refused send is no failure
    await ws.disconnect()


async def test_a_desk_that_stops_reading_is_closed_and_sent_nothing_more(world, settings):
    # daphne's reader of what it still holds for the socket (cad/live/send_buffer.py), faked:
    # the communicator has no Twisted transport to read.
    held = [0]
    figures = hub_for(get_channel_layer()).figures  # the process's, for /metrics
    cut_offs = figures.cut_offs
    communicator = WebsocketCommunicator(BoardConsumer.as_asgi(), "/ws/board/")
    communicator.scope["user"] = world["central"]
    communicator.scope["extensions"] = {send_buffer.EXTENSION: lambda: held[0]}
    connected, _ = await communicator.connect(timeout=CONNECT_S)
    assert connected
    assert (await communicator.receive_json_from(timeout=5))["type"] == "hello"
    held[0] = consumers.SEND_BUFFER_LIMIT  # at the limit: still sent
    await communicator.send_json_to({"type": "snapshot"})
    assert (await communicator.receive_json_from(timeout=5))["type"] == "snapshot"
    assert figures.unsent_max == consumers.SEND_BUFFER_LIMIT
    held[0] = consumers.SEND_BUFFER_LIMIT + 1
    await communicator.send_json_to({"type": "snapshot"})
    assert await communicator.receive_output(timeout=5) == {
        "type": "websocket.close",
        "code": consumers.CLOSE_NOT_READING,
    }
    assert figures.cut_offs == cut_offs + 1
    held[0] = 0  # even once the buffer drains, a socket that was cut off stays silent
    await communicator.send_json_to({"type": "snapshot"})
    await communicator.send_json_to({"type": "ping"})  # answered with a JSON frame of its own
    assert await communicator.receive_nothing(timeout=1)
    await communicator.disconnect()


class FakeWriter:
    """daphne's frame writer (cad/live/shared_frames.py) for a communicator, which has no
    connection to write to: records each text and whether it was shared while `open`, and
    refuses (leaving the frame to ASGI) once the connection is closing."""

    def __init__(self):
        self.written: list[tuple[str, bool]] = []
        self.open = True

    def __call__(self, text: str, *, shared: bool = False) -> bool:
        if self.open:
            self.written.append((text, shared))
        return self.open

    def flush(self) -> None:
        pass

    def ready(self) -> bool:
        return self.open


@pytest.mark.parametrize("path", ["/ws/board/", "/ws/board/?batch=1"])
async def test_an_event_goes_to_the_servers_writer_as_shared_and_the_rest_as_the_desks_own(
    world, path
):
    write = FakeWriter()
    communicator = WebsocketCommunicator(BoardConsumer.as_asgi(), path)
    communicator.scope["user"] = world["central"]
    communicator.scope["extensions"] = {shared_frames.EXTENSION: write}
    connected, _ = await communicator.connect(timeout=CONNECT_S)
    assert connected

    def written() -> list[tuple[dict, bool]]:
        return [(json.loads(text), shared) for text, shared in write.written]

    async def written_one(kind: str) -> None:
        for _ in range(500):
            if any(message["type"] == kind for message, _ in written()):
                return
            await asyncio.sleep(0.01)

    await create(world["central"])
    await written_one("incident.created")  # before the snapshot, which would cover it
    await communicator.send_json_to({"type": "snapshot"})
    await written_one("snapshot")
    by_type = {message["type"]: shared for message, shared in written()}
    # The event as published is the same text for every desk; hello and a snapshot are this
    # desk's own (a snapshot is large: keeping its frame would only hold memory).
    assert by_type == {"hello": False, "incident.created": True, "snapshot": False}
    assert await communicator.receive_nothing(timeout=0.2)  # nothing went twice
    write.open = False  # the connection is closing: ASGI's path answers
    await communicator.send_json_to({"type": "ping"})
    assert (await communicator.receive_json_from(timeout=5))["type"] == "pong"
    await communicator.disconnect()


async def desk_with_writer(user, path="/ws/board/", unsent=lambda: 0):
    """A connected board socket whose frames go to a FakeWriter, its consumer, and a record of
    each time the hub awaited its `board_events` instead of delivering with plain calls."""
    write = FakeWriter()
    communicator = WebsocketCommunicator(BoardConsumer.as_asgi(), path)
    communicator.scope["user"] = user
    communicator.scope["extensions"] = {
        shared_frames.EXTENSION: write,
        send_buffer.EXTENSION: unsent,
    }
    connected, _ = await communicator.connect(timeout=CONNECT_S)
    assert connected
    for _ in range(500):  # the hello goes once the cursor is read, after the accept
        if write.written:
            break
        await asyncio.sleep(0.01)
    assert json.loads(write.written[0][0])["type"] == "hello"
    hub = hub_for(get_channel_layer())
    [desk] = hub.members[events.ALL_GROUP]
    awaited: list[list[int]] = []
    awaited_path = desk.board_events

    async def board_events(items, stream, run=None):
        awaited.append([item["seq"] for item in items])
        await awaited_path(items, stream, run)

    desk.board_events = board_events
    write.written.clear()  # the hello
    return communicator, hub, desk, write, awaited


def item(seq: int, prev: int, *, coalesce: str = "") -> dict:
    text = json.dumps({"type": "unit.updated", "seq": seq})
    return {"seq": seq, "prev": prev, "text": text, "coalesce": coalesce}


async def test_events_that_follow_the_cursor_are_written_without_awaiting_the_desk(world):
    communicator, hub, desk, write, awaited = await desk_with_writer(world["central"])
    start = desk.cursor
    items = [item(start + 1, start), item(start + 2, start + 1)]
    await hub._hand_out(events.ALL_GROUP, items, None)
    assert write.written == [(items[0]["text"], True), (items[1]["text"], True)]
    assert awaited == [] and desk.cursor == start + 2
    await hub._hand_out(events.ALL_GROUP, [item(start + 2, start + 1)], None)
    assert len(write.written) == 2  # already sent: dropped
    await communicator.disconnect()


async def test_an_event_after_a_gap_goes_to_the_awaited_path_which_parks_it(world):
    communicator, hub, desk, write, awaited = await desk_with_writer(world["central"])
    start = desk.cursor
    # The second follows the first, the third leaves a gap: nothing is written at once.
    items = [item(start + 1, start), item(start + 3, start + 2)]
    await hub._hand_out(events.ALL_GROUP, items, None)
    assert awaited == [[start + 1, start + 3]]
    assert write.written == [(items[0]["text"], True)]  # by the awaited path
    assert list(desk.parked) == [start + 3]
    await communicator.disconnect()


async def test_held_positions_are_written_before_the_next_event_in_seq_order(world):
    communicator, hub, desk, write, awaited = await desk_with_writer(world["central"])
    start = desk.cursor
    a1 = item(start + 1, start, coalesce="unit:a")
    b2 = item(start + 2, start + 1, coalesce="unit:b")
    a3 = item(start + 3, start + 2, coalesce="unit:a")
    status = item(start + 4, start + 3)
    await hub._hand_out(events.ALL_GROUP, [a1, b2, a3], None)
    assert write.written == []  # held, the newest per unit
    await hub._hand_out(events.ALL_GROUP, [status], None)
    assert [text for text, _ in write.written] == [b2["text"], a3["text"], status["text"]]
    assert awaited == [] and desk.pending == {}
    await communicator.disconnect()


async def test_an_opted_in_desk_gets_one_delivery_as_one_frame(world):
    communicator, hub, desk, write, awaited = await desk_with_writer(
        world["central"], "/ws/board/?batch=1"
    )
    start = desk.cursor
    items = [item(start + 1, start), item(start + 2, start + 1)]
    await hub._hand_out(events.ALL_GROUP, items, None)
    [(text, shared)] = write.written
    assert json.loads(text) == {"type": "events", "events": [json.loads(i["text"]) for i in items]}
    assert shared is False and awaited == []
    await hub._hand_out(events.ALL_GROUP, [item(start + 3, start + 2)], None)
    assert write.written[1] == (item(start + 3, start + 2)["text"], True)  # one event: as sent
    await communicator.disconnect()


async def test_a_desk_over_its_send_buffer_is_left_to_the_awaited_path_and_cut_off(world):
    held = [0]
    communicator, hub, desk, write, awaited = await desk_with_writer(
        world["central"], unsent=lambda: held[0]
    )
    start = desk.cursor
    held[0] = consumers.SEND_BUFFER_LIMIT + 1
    assert desk.board_events_now([item(start + 1, start)], events.ALL_GROUP) is False
    assert desk.cursor == start  # nothing changed
    await hub._hand_out(events.ALL_GROUP, [item(start + 1, start)], None)
    assert awaited == [[start + 1]] and desk.cut_off
    assert write.written == []
    assert await communicator.receive_output(timeout=5) == {
        "type": "websocket.close",
        "code": consumers.CLOSE_NOT_READING,
    }
    await communicator.disconnect()
