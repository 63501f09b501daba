"""The radio bridge killed mid-batch (issue 23).

A gateway (radio/tests/gateway_harness.FakeGateway: it keeps every message until acknowledged
and sends the unacknowledged again on the next session) sends a thousand messages; the bridge
(`manage.py radio_bridge`, a real process on the suite's PostgreSQL and Redis) stores them in
groups of 20 and acknowledges each group after its commit. It is SIGKILLed with part of them
acknowledged, and started again. Nothing is lost (every message stored), nothing is stored twice
(the gateway's id is unique; a redelivered one is skipped), and nothing is applied twice (each
unit's status change recorded once, by the Celery worker applying them). What the killed bridge
stored but never queued for applying is applied by beat's radio sweep.
"""

import os
import signal
import subprocess
import time

import pytest

from radio.tests.gateway_harness import FakeGateway, position, status
from tests.faults.stack import manage, record
from tests.servers import ROOT, venv_bin

pytestmark = [pytest.mark.faults, pytest.mark.faults_extended]

UNITS = 50
PER_UNIT = 20  # one status (code 8: unavailable) and 19 positions each
SEED_UNITS = """
from datetime import timedelta
from django.utils import timezone
from cad.models import Station
from resources.models import Unit
from tests.factories import make_unit
station = Station.objects.get(code="KT")
for n in range({units}):
    unit = make_unit(station, callsign=f"{prefix}{{n:02d}}")
    Unit.objects.filter(pk=unit.pk).update(status_at=timezone.now() - timedelta(hours=2),
                                           position_at=timezone.now() - timedelta(hours=2))
    print("ISSI", unit.issi)
"""


def _wait(check, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.02)
    return None


class BridgeProcess:
    def __init__(self, env: dict, url: str, log) -> None:
        self.process = subprocess.Popen(  # noqa: S603  (our own command line)
            [venv_bin("python"), "manage.py", "radio_bridge", "--url", url, "--max-group", "20",
             "--window-ms", "20"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


def test_radio_bridge_killed_mid_batch_loses_nothing_and_applies_nothing_twice(
    fault_postgres, fault_redis, make_stack, tmp_path
):
    pg, _ = fault_postgres
    prefix = f"FB{os.getpid() % 1000}"
    out = manage(pg.url, "shell", "-c", SEED_UNITS.format(units=UNITS, prefix=prefix))
    issis = [line.split()[1] for line in out.splitlines() if line.startswith("ISSI")]
    # The worker applies what the bridge stores; beat's radio sweep applies what was stored but
    # never queued (a bridge killed between its commit and its after-commit enqueue).
    stack = make_stack(database_url=pg.url, redis_url=fault_redis.url,
                       RADIO_SWEEP_AFTER_SECONDS="5")  # fmt: skip
    stack.start_beat()
    gateway = FakeGateway()
    ids: list[str] = []
    frames = []
    for issi in issis:
        batch = [status(f"{prefix}-{issi}-s", issi, code=8)]
        batch += [position(f"{prefix}-{issi}-p{n}", issi, lat=51.55 + n * 1e-4)
                  for n in range(PER_UNIT - 1)]  # fmt: skip
        ids += [m["id"] for m in batch]
        frames.append({"type": "batch", "messages": batch})
    gateway.add(frames)  # kept until acknowledged; sent when the bridge connects
    log = open(tmp_path / "bridge.log", "ab")  # noqa: SIM115  (closed below)
    first = second = None
    try:
        first = BridgeProcess(stack.env, gateway.url, log)
        # Kill it mid-batch: best between a group's commit and its acknowledgement (stored, not
        # acknowledged: the gateway sends it again); else once some are acknowledged.
        caught = _wait(lambda: _stored(pg, prefix) > max(60, len(set(gateway.acked))), 60)
        if not caught:
            assert _wait(lambda: len(set(gateway.acked)) >= 100, 60), "nothing acknowledged"
        first.kill()
        acked_at_kill = len(set(gateway.acked))
        stored_at_kill = _stored(pg, prefix)
        restarted = time.monotonic()
        second = BridgeProcess(stack.env, gateway.url, log)
        all_acked = _wait(lambda: set(ids) <= set(gateway.acked), 180)
        recovered = time.monotonic() - restarted
        applied_at = _wait(lambda: _waiting(pg, prefix) == 0 and time.monotonic(), 180)
    finally:
        for bridge in (first, second):
            if bridge is not None:
                bridge.stop()
        log.close()
        gateway.close()

    stored = _stored(pg, prefix)
    changes = pg.query(
        "SELECT count(*) FROM resources_unitstatuschange c JOIN resources_unit u "
        "ON u.id = c.unit_id WHERE u.callsign LIKE %s", (f"{prefix}%",)
    )[0][0]  # fmt: skip
    figures = record("radio-bridge-killed", {
        "fault": "radio-bridge-killed", "requests": len(ids),
        "by_status": {"acknowledged": len(set(gateway.acked)),
                      "acknowledged at the kill": acked_at_kill},
        "stored_at_kill": stored_at_kill,
        "stored_not_acknowledged_at_kill": stored_at_kill - acked_at_kill,
        "acknowledged": len(set(gateway.acked)),
        "saved": stored, "acknowledged_not_saved": len(ids) - stored if all_acked else None,
        "sessions": gateway.bridge_sessions, "status_changes": changes,
        "status_messages": len(issis), "recovery_s": round(recovered, 2),
        "all_applied_after_s": None if not applied_at else round(applied_at - restarted, 2),
    })  # fmt: skip

    assert stored_at_kill < len(ids), "the kill came after the last message: not mid-batch"
    assert all_acked, "some messages were never acknowledged after the restart"
    assert stored == len(ids)  # each once: the gateway id is unique
    assert applied_at, "messages left unapplied"
    assert changes == len(issis), "a status applied twice (or not at all)"
    assert figures["sessions"] >= 2


def _stored(pg, prefix: str) -> int:
    return pg.query("SELECT count(*) FROM radio_radiomessage WHERE gateway_id LIKE %s",
                    (f"{prefix}-%",))[0][0]  # fmt: skip


def _waiting(pg, prefix: str) -> int:
    return pg.query("SELECT count(*) FROM radio_radiomessage WHERE gateway_id LIKE %s "
                    "AND state = 'received'", (f"{prefix}-%",))[0][0]  # fmt: skip
