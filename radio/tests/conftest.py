"""Radio test world: a gateway account, a despatcher, a unit, and a way to catch queued tasks."""

from datetime import datetime, timedelta
from itertools import count
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from radio import tasks
from radio.bridge import Bridge, BridgeConfig, bridge_user
from radio.tests.gateway_harness import FakeGateway, LoopThread
from resources.models import Unit
from tests.factories import make_unit

_ids = count(1)


@pytest.fixture
def world(geography, cast):
    unit = make_unit(geography["kentish"], callsign="CN01")
    # Its last status and fix were two hours ago, so messages from the last hour are newer.
    long_ago = timezone.now() - timedelta(hours=2)
    Unit.objects.filter(pk=unit.pk).update(status_at=long_ago, position_at=long_ago)
    unit.refresh_from_db()
    return {
        "gateway": cast.gateway,
        "desk": cast.despatcher_all,
        "unit": unit,
        "geo": geography,
    }


@pytest.fixture
def queued(monkeypatch, settings):
    """Record the tasks queued after commit instead of sending them to a broker. GPS fixes go to
    their batch task too (RADIO_POSITIONS_INLINE off), the path a batch takes when its units'
    locks are refused and the one the sweeper shares; test_positions_inline.py tests the
    default, fixes applied as they are stored."""
    settings.RADIO_POSITIONS_INLINE = False
    calls: dict[str, list[Any]] = {"apply": [], "send": []}
    monkeypatch.setattr(tasks.apply_radio_message, "delay", calls["apply"].append)
    # A batch's positions go in one task (radio/positions.py): counted here as applies too.
    calls["positions"] = []

    def positions(ids: list[int]) -> None:
        calls["positions"].append(ids)
        calls["apply"].extend(ids)

    monkeypatch.setattr(tasks.apply_radio_positions, "delay", positions)
    monkeypatch.setattr(tasks.send_outbound, "delay", calls["send"].append)
    return calls


@pytest.fixture
def gateway():
    gateways = []

    def make(**kwargs) -> FakeGateway:
        gw = FakeGateway(**kwargs)
        gateways.append(gw)
        return gw

    yield make
    for gw in gateways:
        gw.close()


@pytest.fixture
def run_bridge(world):
    """Start a bridge (its own loop thread) against a gateway URL; stopped at teardown."""
    running = []

    def start(url: str, **overrides) -> Bridge:
        config = BridgeConfig(
            url=url, window=0.02, backoff_initial=0.05, backoff_max=0.2, open_timeout=5
        )
        for name, value in overrides.items():
            setattr(config, name, value)
        bridge = Bridge(config, user=bridge_user())
        lt = LoopThread()
        running.append((bridge, lt, lt.submit(bridge.run())))
        return bridge

    yield start
    for bridge, lt, done in running:
        bridge.stop()
        done.result(20)  # run() returned: its database thread closed its connection
        lt.close()


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def msg(issi: str, kind: str = "status", *, ago: float = 60, **fields) -> dict:
    """One inbound message as a gateway sends it, sent `ago` seconds before now."""
    body = {"id": f"gw-{next(_ids)}", "issi": issi, "kind": kind,
            "sent_at": iso(timezone.now() - timedelta(seconds=ago))}  # fmt: skip
    body.update(fields)
    return body
