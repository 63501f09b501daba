"""bench/soak.py at CI size (issue 23, point 4): the whole system started and loaded for 30 s.

Not a speed test (the figures are for the full size on a quiet machine): it checks that nothing
is lost, that every window reports its figures, and that the event-log prune ran under load.
The soak flushes its Redis database, so it gets a redis-server of its own.
"""

import json
import os
import signal
import subprocess
import sys

import pytest

from tests.servers import ROOT, PrivateRedis

WINDOW_FIELDS = {
    "created", "failed", "failures", "closed", "create_p50", "create_p99", "push_n", "push_p50",
    "push_p99", "radio_n", "radio_p50", "radio_p99", "event_rows", "event_mb", "pruned_through",
    "last_seq", "db_mb", "redis_mb", "rss_mb",
}  # fmt: skip
# REST on gunicorn beside daphne, as the proxy in docs/operations.md splits them (decision 0029).
SERVERS = {
    "daphne", "gunicorn", "celery-radio", "celery-default", "beat", "bridge", "gateway", "soak",
}  # fmt: skip


@pytest.fixture
def private_redis(redis_url):
    server = PrivateRedis()
    server.start()
    yield server.url
    server.stop()


def test_soak_at_ci_size_loses_nothing_and_reports_every_window(postgres, private_redis, tmp_path):
    out = tmp_path / "soak.json"
    # --small (bench/soak.py's SMALL): 30 s of load in 10 s windows, 40 fixes a second over 200
    # units, an incident a second, 6 sockets, the log pruned to 15 s, a 20 s drain.
    command = [sys.executable, "bench/soak.py", "--small", "--tag", "ci", "--json", str(out)]
    # Its own session, so a timeout stops the soak (which stops what it started), not only it.
    soak = subprocess.Popen(
        command, cwd=ROOT, env={**os.environ, "REDIS_URL": private_redis},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        stdout, stderr = soak.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        os.killpg(soak.pid, signal.SIGTERM)
        stdout, stderr = soak.communicate(timeout=60)
        pytest.fail("the soak overran 300 s:\n" + stdout[-4000:] + stderr[-4000:])
    assert soak.returncode == 0, stdout[-4000:] + stderr[-4000:]
    report = json.loads(out.read_text())
    assert report["lost"] == 0 and report["radio_lost"] == 0 and report["incidents_lost"] == 0
    # Every desk had every incident before the 20 s drain ran out (counted from the load's end).
    assert 0 < report["desks_caught_up_s"] <= 20 + 5
    assert abs(report["radio_sent"] - 30 * 40) <= 8  # 4 fixes every 0.1 s tick
    assert report["radio_stored"] == report["radio_sent"]
    assert report["incidents"] >= 25  # one a second for 30 s, a few may fail on a busy machine
    windows = report["windows"]
    assert len(windows) >= 3
    for window in windows:
        assert set(window) >= WINDOW_FIELDS
        assert {name.split()[0] for name in window["rss_mb"]} >= SERVERS - {"gateway"}
        assert all(mb > 0 for mb in window["rss_mb"].values())
    for window in windows[:3]:  # the load's windows
        assert window["created"] > 0 and window["push_n"] > 0 and window["radio_n"] > 0
        assert window["create_p50"] <= window["create_p99"]
    # The prune ran during the soak and the log holds less than everything ever written.
    last = windows[-1]
    assert last["pruned_through"] > 0 and last["event_rows"] < last["last_seq"]
    assert set(report["rss_growth_pct"]) and report["db_growth_mb_per_hour"] is not None
    assert "verdict:" in stdout and "[    0-10   s]" in stdout
    # The load runs ahead of the servers for the CPU where it may (root here and in CI).
    assert report["harness_nice"] == (-5 if os.geteuid() == 0 else 0)
    assert "harness: " in stdout
    # Where the server runs without autovacuum (this workplace's), the soak stands in for it,
    # and vacuums at least the units' table, which every fix updates.
    if report["args"]["stand_in_vacuum"]:
        assert report["stand_in_rounds"] >= 2 and "by its rules and pace" in stdout
        assert report["stand_in_vacuumed"].get("resources_unit", 0) >= 1
