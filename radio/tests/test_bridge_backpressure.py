"""Back-pressure (issue 22; docs/radio-protocol.md "Flow control"): a bridge short of CPU slows
the gateway down instead of drowning in resends, and loses nothing."""

import time
from collections import Counter

import pytest
from django.db.models import Count

from radio import protocol
from radio.bridge import Bridge
from radio.models import RadioMessage
from radio.tests.gateway_harness import position, status, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

RESEND_AFTER = 0.5  # the protocol's 10 s, shortened so the test is quick
STORE_DELAY = 0.2  # each store call takes this much longer: a bridge short of CPU


def test_a_starved_bridge_slows_the_gateway_down_and_loses_nothing(
    postgres, world, queued, gateway, run_bridge, monkeypatch
):
    real_store = Bridge._store

    def starved(self, items, *args):
        time.sleep(STORE_DELAY)  # on the bridge's database thread, as a slow store would be
        return real_store(self, items, *args)

    monkeypatch.setattr(Bridge, "_store", starved)
    issi = world["unit"].issi
    gw = gateway(resend_after=RESEND_AFTER)
    window = 40
    bridge = run_bridge(gw.url, max_group=10, flow_window=window, busy_every=RESEND_AFTER / 5)
    wait_until(lambda: gw.connected, "bridge connected")

    # 240 messages offered in 1.2 s; storing them takes at least 24 x 0.2 = 4.8 s, so with
    # the old behaviour most would wait far longer than RESEND_AFTER unacknowledged.
    offered = []
    for tick in range(12):
        frames = [status(f"s-{tick}-{n}", issi, code=2 + n % 2) for n in range(5)]
        frames.append({"type": "batch", "messages": [
            position(f"p-{tick}-{n}", issi, lat=51.5 + (tick * 15 + n) / 10000) for n in range(15)
        ]})  # fmt: skip
        gw.add(frames)
        offered += [m["id"] for f in frames for m in f.get("messages", [f])]
        time.sleep(0.1)

    wait_until(lambda: not gw.pending, "every message acknowledged", deadline=60)
    per_id = Counter(
        dict(
            RadioMessage.objects.filter(gateway_id__in=offered)
            .values_list("gateway_id")
            .annotate(n=Count("id"))
        )
    )
    assert len(offered) == 240
    assert len(per_id) == 240 and set(per_id.values()) == {1}  # every one, exactly once
    assert sorted(queued["apply"]) == sorted(set(queued["apply"])) and len(queued["apply"]) == 240
    assert gw.resends == 0, f"{gw.resends} resends on a live session"
    assert gw.window == window and gw.max_in_flight <= window  # the gateway held the rest
    assert bridge.stats["duplicates"] == 0 and bridge.stats["busy"] > 0


def test_only_a_bridge_that_stops_making_progress_is_resent_to():
    """The gateway's side, without a network: the resend clock of a windowed session starts
    again at each ack, nack or busy; a session without a window resends as before."""
    windowed = protocol.Flow(window=3, progress_at=0.0)
    windowed.sent(["a", "b", "c"], now=0.0)
    assert windowed.room() == 0
    windowed.settled(["a"], now=8.0)
    assert windowed.room() == 1
    windowed.busy(now=15.0)
    assert windowed.due(now=20.0, resend_after=10) == []  # slow but alive
    assert windowed.due(now=25.0, resend_after=10) == ["b", "c"]  # silent for 10 s
    assert windowed.due(now=30.0, resend_after=10) == []  # their clocks restarted

    legacy = protocol.Flow(window=None, progress_at=0.0)
    legacy.sent(["a", "b"], now=0.0)
    legacy.sent(["c"], now=5.0)
    legacy.busy(now=9.0)  # a bridge without a window never says busy; ignored if it did
    assert legacy.due(now=10.0, resend_after=10) == ["a", "b"]
    assert legacy.room() > 1_000_000
    assert protocol.hello_window({"window": 50}) == 50
    assert protocol.hello_window({}) is None and protocol.hello_window({"window": True}) is None


def test_a_failed_store_is_retried_by_the_bridge_not_left_to_a_resend(
    postgres, world, queued, gateway, run_bridge, monkeypatch
):
    """The gateway waits for a bridge that says busy, so the bridge must not rely on a resend
    for a group it could not store (the database away): it tries again itself."""
    real_store = Bridge._store
    failures = [RuntimeError("the database is away")] * 2

    def flaky(self, items, *args):
        if failures:
            raise failures.pop()
        return real_store(self, items, *args)

    monkeypatch.setattr(Bridge, "_store", flaky)
    gw = gateway()  # no resends on a live session at all
    bridge = run_bridge(gw.url, retry_after=0.1)
    wait_until(lambda: gw.connected, "bridge connected")
    gw.add([status("r-1", world["unit"].issi), position("r-2", world["unit"].issi)])

    wait_until(lambda: not gw.pending, "both acknowledged")
    assert bridge.stats["store_errors"] == 2 and gw.resends == 0
    assert RadioMessage.objects.filter(gateway_id__in=["r-1", "r-2"]).count() == 2
