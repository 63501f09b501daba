"""The board socket (ws/board/): identity, scope, hello, live events, gaps, resync, snapshot."""

from functools import partial

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser

from cad.asgi import application
from cad.live import consumers, events
from cad.live.consumers import BoardConsumer
from resources import despatch, services
from resources.models import UnitStatus
from tests.factories import make_incident, make_unit

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


async def board(user) -> WebsocketCommunicator:
    """A connected board for `user`, its hello already read."""
    communicator = WebsocketCommunicator(BoardConsumer.as_asgi(), "/ws/board/")
    # What AuthMiddlewareStack would put in the scope; the stub's test scope has no "user".
    communicator.scope["user"] = user  # type: ignore[typeddict-unknown-key]
    connected, _ = await communicator.connect()
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
    connected, code = await communicator.connect()
    assert not connected and code == 4401
    await communicator.disconnect()


async def test_call_handler_is_refused(make_user):
    user = await database_sync_to_async(make_user)("call_handler")
    communicator = WebsocketCommunicator(BoardConsumer.as_asgi(), "/ws/board/")
    communicator.scope["user"] = user
    connected, code = await communicator.connect()
    assert not connected and code == 4403
    await communicator.disconnect()


async def test_foreign_origin_is_refused(world):
    communicator = WebsocketCommunicator(
        application, "/ws/board/", headers=[(b"origin", b"https://evil.example")]
    )
    connected, _ = await communicator.connect()
    assert not connected
    await communicator.disconnect()


async def test_no_session_through_the_full_stack_is_refused(world):
    communicator = WebsocketCommunicator(
        application, "/ws/board/", headers=[(b"origin", b"http://localhost")]
    )
    connected, code = await communicator.connect()
    assert not connected and code == 4401
    await communicator.disconnect()


async def test_session_cookie_through_the_full_stack_is_accepted(world, client):
    await database_sync_to_async(client.force_login)(world["central"])
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    communicator = WebsocketCommunicator(
        application, "/ws/board/",
        headers=[(b"origin", b"http://localhost"), (b"cookie", cookie)],
    )  # fmt: skip
    connected, _ = await communicator.connect()
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
