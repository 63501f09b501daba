"""A Celery worker killed mid-task loses nothing (acks_late) and a re-run changes nothing.

Real processes throughout: `celery -A cad worker -Q radio` against the test database
(PostgreSQL, so the worker sees the rows this test commits) and a private redis-server as the
broker, so no task left on the shared Redis by other tests can reach these workers.

How the task is stopped mid-apply: the test holds the unit's row lock, so the worker blocks
inside the apply transaction, after its claim (received → applied) and before any effect. The
test then SIGKILLs the worker (and ends its orphaned database session, as PostgreSQL would on
noticing the dead client), so that transaction rolls back and the message is `received` again.

What brings the task back: Redis redelivery, not the sweeper. The task was never
acknowledged (acks_late), so it waits in the broker's `unacked` set; the workers here run with
a 2 s visibility timeout (CELERY_VISIBILITY_TIMEOUT), and the second worker restores it when
it starts. Nothing in this test runs the sweeper.
"""

import os
import signal
import subprocess
import time
import uuid

import pytest
import redis
from celery import Celery
from django.db import connection, transaction

from cad.models import AuditEvent, Event
from cad.ops.health import broker_key_prefix
from radio import services
from radio.models import RadioMessage
from radio.tests.conftest import msg
from resources.models import Unit, UnitStatus, UnitStatusChange
from tests.faults.stack import record
from tests.servers import ROOT, subprocess_database_url, wait_until

# Part of the fault suite (tests/faults/, `make faults`, docs/reliability.md) as well as the
# ordinary run: it starts its own broker and workers, on the test database.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.faults]

VISIBILITY_S = 2


class Worker:
    """One `celery worker -Q radio` process (solo pool: the task runs in the process we kill)."""

    def __init__(self, broker_url: str, log_path):
        self.log_path = log_path
        env = {
            **os.environ,
            "DATABASE_URL": subprocess_database_url(),
            "REDIS_URL": broker_url,
            "DJANGO_SETTINGS_MODULE": "cad.settings",
            "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_S),
            # The worker waits on our lock for a few seconds; it must not time out first.
            "DB_STATEMENT_TIMEOUT_MS": "120000",
            "DB_CONN_MAX_AGE": "0",
        }
        celery = ROOT / ".venv" / "bin" / "celery"
        self.log = open(log_path, "ab")  # noqa: SIM115  (closed in stop())
        self.process = subprocess.Popen(  # noqa: S603  (our own command line)
            [str(celery) if celery.exists() else "celery", "-A", "cad", "worker", "-Q", "radio",
             "-P", "solo", "-c", "1", "-n", f"killtest-{uuid.uuid4().hex[:6]}@%h",
             "-l", "info", "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self.log.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.log.close()


def _waiting_on_lock() -> list[int]:
    """Database sessions of this test database blocked on a lock (the worker's)."""
    with connection.cursor() as cursor:
        # Statistics views are snapshotted once per transaction, and we ask from inside one.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        return [row[0] for row in cursor.fetchall()]


def _snapshot(unit: Unit, message: RadioMessage) -> dict:
    unit.refresh_from_db()
    message.refresh_from_db()
    return {
        "message": (message.state, message.note, message.state_at),
        "unit": (unit.status, unit.deployable, unit.status_at, unit.version),
        "changes": UnitStatusChange.objects.filter(unit=unit).count(),
        "events": Event.objects.count(),
        "audit": AuditEvent.objects.count(),
    }


def test_worker_killed_mid_apply_loses_nothing_and_a_rerun_changes_nothing(
    postgres, private_broker, world, queued, tmp_path, settings
):
    unit = world["unit"]
    services.radio_messages_receive(messages=[msg(unit.issi, code=8, ago=5)], by=world["gateway"])
    message = RadioMessage.objects.get(issi=unit.issi)
    assert queued["apply"] == [message.pk]  # the test sends the task itself, to its own broker
    # Not the current app: the project's tasks must keep resolving to the project's app.
    sender = Celery("killtest", broker=private_broker, set_as_current=False)
    # Under the key prefix the worker takes from (the suite's own: tests/xdist_workers.py).
    sender.conf.broker_transport_options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    unacked = broker_key_prefix() + "unacked"

    def send_apply() -> str:
        task_id = uuid.uuid4().hex
        sender.send_task(
            "radio.tasks.apply_radio_message", args=[message.pk], queue="radio", task_id=task_id
        )
        return task_id

    first = Worker(private_broker, tmp_path / "worker1.log")
    try:
        with transaction.atomic():
            Unit.objects.select_for_update().get(pk=unit.pk)  # the worker will queue behind this
            original = send_apply()
            (blocked,) = wait_until("the worker to block inside the apply", _waiting_on_lock)
            first.kill()
            # The dead worker's session is still waiting for our lock; end it as the server
            # would on noticing its client gone, so its transaction (the claim) rolls back.
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(%s)", [blocked])
            wait_until("the killed worker's session to end", lambda: blocked not in _pids())
    finally:
        first.stop()

    # Killed mid-task: nothing applied, the message still waiting, the task still on the broker.
    message.refresh_from_db()
    assert message.state == RadioMessage.State.RECEIVED
    assert Unit.objects.get(pk=unit.pk).status == UnitStatus.AVAILABLE
    assert redis.Redis.from_url(private_broker).hlen(unacked) == 1  # taken, never acknowledged

    time.sleep(VISIBILITY_S + 0.5)  # let the task's visibility timeout lapse before restarting
    restarted = time.monotonic()
    second = Worker(private_broker, tmp_path / "worker2.log")
    try:
        wait_until(
            "the redelivered task to apply the message",
            lambda: RadioMessage.objects.filter(
                pk=message.pk, state=RadioMessage.State.APPLIED
            ).exists(),
        )
        recovered = time.monotonic() - restarted
        # The very task the killed worker held, redelivered, not a new one.
        wait_until("the worker to finish it", lambda: f"[{original}] succeeded" in second.output())
        assert redis.Redis.from_url(private_broker).hlen(unacked) == 0
        applied = _snapshot(unit, message)
        assert applied["unit"][:2] == (UnitStatus.UNAVAILABLE, False)
        assert applied["changes"] == 1
        assert UnitStatusChange.objects.get(unit=unit).to_status == UnitStatus.UNAVAILABLE

        # Run the task again, as a second redelivery would: it finds nothing to claim.
        again = send_apply()
        wait_until("the repeated task to finish", lambda: f"[{again}] succeeded" in second.output())
        assert _snapshot(unit, message) == applied
        record("celery-worker-killed", {
            "fault": "celery-worker-killed", "requests": 1, "tasks_sent": 2,
            "by_status": {"stored by the API": 1},
            "acknowledged": 1, "applied": applied["changes"], "applied_twice": 0,
            "recovery_s": round(recovered, 2),
            "note": "recovery counted from the second worker's start; the visibility timeout "
                    f"({VISIBILITY_S} s here, CELERY_VISIBILITY_TIMEOUT) comes before it",
        })  # fmt: skip
    finally:
        second.stop()


def _pids() -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        return [row[0] for row in cursor.fetchall()]
