"""The gateway simulator: its protocol promises, and a despatch driven end to end through the
bridge (simulated time sped up, so the unit's journey takes a moment)."""

import threading
from contextlib import contextmanager
from types import SimpleNamespace

import pytest
from websockets.sync.client import connect

from radio import protocol, services, tasks
from radio.adapters import WebSocketGatewayAdapter
from radio.bridge import Bridge, BridgeConfig, bridge_user
from radio.models import RadioMessage
from radio.simulator import GatewayServer, SimConfig, Simulator, distance_m
from radio.tests.gateway_harness import LoopThread, wait_until
from resources.despatch import assignment_create
from resources.models import Assignment, Unit
from tests.factories import make_incident

UNIT = {"callsign": "CN01", "lat": 51.55, "lon": -0.14, "status": "available",
        "urban_kmh": 30.0, "blue_kmh": 45.0}  # fmt: skip


def start(simulator: Simulator) -> tuple[LoopThread, str]:
    lt = LoopThread()
    ready = threading.Event()
    lt.submit(simulator.run("127.0.0.1", 0, ready=lambda port: ready.set()))
    assert ready.wait(20), "simulator did not start"
    return lt, f"ws://127.0.0.1:{simulator.server.port}/"


@pytest.fixture
def simulator():
    running = []

    def make(config: SimConfig, **kwargs) -> tuple[Simulator, str, LoopThread]:
        sim = Simulator(config, **kwargs)
        lt, url = start(sim)
        running.append(lt)
        return sim, url, lt

    yield make
    for lt in running:
        lt.close()


@contextmanager
def _bridge_session(url: str):
    with connect(url, open_timeout=5) as ws:
        ws.send(protocol.encode(protocol.hello("bridge")))
        # A frame that is not JSON (None) fails the test here just the same.
        assert protocol.decode(ws.recv(timeout=5))["type"] == "welcome"  # type: ignore[index]
        yield ws


def _messages(ws, wanted: int) -> list[dict]:
    got: list[dict] = []
    while len(got) < wanted:
        frame = protocol.decode(ws.recv(timeout=10))
        assert frame is not None
        got += frame["messages"] if frame["type"] == "batch" else [frame]
    return got


def test_unacknowledged_messages_are_sent_again_until_acked(simulator):
    sim, url, lt = simulator(SimConfig(patrol=False), loader=lambda: {})
    server: GatewayServer = sim.server
    server.resend_after = 0.2
    frames = [{"type": "position", "issi": "1", "lat": 51.5, "lon": -0.1,
               "sent_at": protocol.iso_now()} for _ in range(3)]  # fmt: skip
    for frame in frames:  # no bridge yet: kept
        lt.submit(server.publish(frame)).result(10)
    ids = sorted(f["id"] for f in frames)
    assert len(set(ids)) == 3 and all(i.startswith("sim-") for i in ids)

    with _bridge_session(url) as ws:  # first session: received, never acknowledged
        assert sorted(m["id"] for m in _messages(ws, 3)) == ids
    with _bridge_session(url) as ws:  # a reconnect gets them all again at once
        assert sorted(m["id"] for m in _messages(ws, 3)) == ids
        # ... and a live session gets them again after the resend interval
        assert sorted(m["id"] for m in _messages(ws, 3)) == ids
        ws.send(protocol.encode({"type": "ack", "ids": ids[:2]}))
        ws.send(protocol.encode({"type": "nack", "id": ids[2], "errors": {"x": ["bad"]}}))
        wait_until(lambda: server.pending == 0, "acked and nacked messages forgotten")
    assert server.acked == set(ids[:2]) and ids[2] in server.nacked


def test_despatch_to_an_unknown_issi_is_rejected(simulator, settings):
    sim, url, _ = simulator(SimConfig(patrol=False), loader=lambda: {"2620113": dict(UNIT)})
    settings.RADIO_GATEWAY_URL = url
    adapter = WebSocketGatewayAdapter()
    unknown = SimpleNamespace(pk=7, issi="9999999", text="job", raw={})
    result = adapter.send(unknown)
    assert result.state == "failed" and "unknown ISSI" in result.note
    known = SimpleNamespace(pk=8, issi="2620113", text="job", raw={"lat": 51.55, "lon": -0.14})
    assert adapter.send(known).state == "sent"


@pytest.mark.django_db(transaction=True)
def test_despatched_unit_acknowledges_drives_to_the_incident_and_clears(
    postgres, world, simulator, settings, monkeypatch
):
    # Applying runs in the bridge's thread as an eager task would; sending is driven here.
    for name in ("apply_radio_message", "apply_radio_positions"):  # positions may go in bulk
        if task := getattr(tasks, name, None):
            monkeypatch.setattr(task, "delay", lambda *args, task=task: task(*args))
    monkeypatch.setattr(tasks.send_outbound, "delay", lambda pk: None)
    unit = world["unit"]
    config = SimConfig(speedup=100, position_every=0.05, tick=0.02, ack_delay=2, dwell=30,
                       patrol=False, seed=1)  # fmt: skip
    sim, url, _ = simulator(config)
    assert unit.issi in sim.units  # read from the database
    settings.RADIO_GATEWAY_URL = url
    settings.RADIO_GATEWAY_ADAPTER = "radio.adapters.WebSocketGatewayAdapter"
    bridge = Bridge(BridgeConfig(url=url, window=0.01, backoff_initial=0.05), user=bridge_user())
    bridge_lt = LoopThread()
    bridge_done = bridge_lt.submit(bridge.run())
    try:
        incident = make_incident(
            world["desk"], lat=51.545, lon=-0.16, grade="I", summary="fight outside pub"
        )  # about 1.5 km away
        assignment = assignment_create(
            incident=incident, unit=unit, by=world["desk"], source="test"
        )
        message = RadioMessage.objects.get(assignment=assignment)
        assert services.radio_message_send(message_id=message.pk) == "sent"

        def job():
            return Assignment.objects.get(pk=assignment.pk)

        wait_until(lambda: job().message_state == "delivered", "the officer acknowledged")
        wait_until(lambda: job().en_route_at, "code 5: en route")
        wait_until(lambda: job().at_scene_at, "code 6: at scene")
        wait_until(lambda: job().cleared_at, "code 2: available again, job cleared")
        done = job()
        assert done.en_route_at <= done.at_scene_at <= done.cleared_at
        positions = RadioMessage.objects.filter(issi=unit.issi, kind=RadioMessage.Kind.POSITION)
        assert positions.count() >= 3, "positions reported along the way"
        assert not positions.filter(state="received").exists()  # all taken by apply
        unit = Unit.objects.get(pk=unit.pk)
        assert unit.status == "available"
        assert distance_m((unit.lat, unit.lon), (incident.lat, incident.lon)) < 50
        # Everything the simulator changed came through the bridge, as the gateway account.
        inbound = RadioMessage.objects.filter(direction=RadioMessage.Direction.INBOUND)
        assert set(inbound.values_list("by__username", flat=True)) == {"radio-bridge"}
    finally:
        bridge.stop()
        bridge_done.result(20)
        bridge_lt.close()
