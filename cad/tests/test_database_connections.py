"""Servers keep their PostgreSQL connections between units of work (decision 0026).

A connection opened per request or per task starts a PostgreSQL backend and fills its catalog
caches only to throw them away: about 50 ms of the database server's CPU each, which in the
soak (bench/soak.py) came to a third of a 2-core machine. Two places did it:

- daphne, where Django must close its connection after every request (threads come and go
  under ASGI): the connection now goes back to a pool (dj_db_conn_pool) instead;
- Celery workers, whose Django fixup closed every connection around every task: workers now
  close only a connection that broke or outlived CONN_MAX_AGE (cad/celery.py).

Each is checked here on a real process against the test database: the backend it used first is
still the one it uses after further work, and one killed under it (as a PostgreSQL restart
would) is replaced without an error reaching the caller.
"""

import http.client
import os
import subprocess
import uuid
from urllib.parse import urlparse

import pytest
from celery import Celery
from dj_db_conn_pool.core import pool_container
from django.db import OperationalError, connection
from django.db.utils import load_backend

from tests.servers import ROOT, daphne_server, stop_process, subprocess_database_url, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

WAIT_S = 60  # an upper bound on an HTTP answer; nothing asserts on speed
SWEEP = "radio.tasks.apply_pending_radio_messages"  # a task that reads the database, harmlessly


def _other_backends() -> set[int]:
    """Backends connected to the test database, other than this test's own."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        )
        return {pid for (pid,) in cursor.fetchall()}


def _terminate(pids: set[int]) -> None:
    with connection.cursor() as cursor:
        for pid in pids:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])


# --- Celery workers ----------------------------------------------------------------------


@pytest.fixture
def worker(postgres, private_broker, tmp_path, settings):
    """A `celery worker -Q radio` with one prefork child, as production runs them."""
    log_path = tmp_path / "worker.log"
    env = {**os.environ, "DATABASE_URL": subprocess_database_url(), "REDIS_URL": private_broker,
           "DJANGO_SETTINGS_MODULE": "cad.settings", "DB_CONN_MAX_AGE": "60"}  # fmt: skip
    celery = ROOT / ".venv" / "bin" / "celery"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(  # noqa: S603  (our own command line)
            [str(celery) if celery.exists() else "celery", "-A", "cad", "worker", "-Q", "radio",
             "-c", "1", "-n", f"conntest-{uuid.uuid4().hex[:6]}@%h", "-l", "info",
             "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    app = Celery(broker=private_broker, set_as_current=False)
    # Under the key prefix the worker takes from (the suite's own: tests/xdist_workers.py).
    app.conf.broker_transport_options = settings.CELERY_BROKER_TRANSPORT_OPTIONS

    def run_tasks(count: int) -> None:
        """Send `count` tasks and wait until the worker has run them all."""
        done = log_path.read_text(errors="replace").count("succeeded")
        for _ in range(count):
            app.send_task(SWEEP, queue="radio")
        wait_until(f"{count} tasks", lambda: log_path.read_text(errors="replace").count("succeeded")
              >= done + count)  # fmt: skip

    run_tasks.log = lambda: log_path.read_text(errors="replace")
    yield run_tasks
    stop_process(process)


def test_a_worker_runs_task_after_task_on_one_connection(worker):
    worker(1)
    first = wait_until("the worker's connection", _other_backends)
    worker(10)
    # Celery's fixup alone closes the connection after every task: nothing would be left
    # connected here, and each task would have had a backend of its own.
    assert _other_backends() == first, worker.log()[-2000:]


def test_a_worker_replaces_a_connection_killed_under_it(worker):
    worker(1)
    first = wait_until("the worker's connection", _other_backends)
    _terminate(first)
    wait_until("the old backend to go", lambda: not (_other_backends() & first))
    worker(2)
    now = _other_backends()
    assert now and not (now & first)
    assert "raised" not in worker.log(), worker.log()[-2000:]


# --- daphne --------------------------------------------------------------------------------

POOL_ALIAS = "pool_exhausted_test"


@pytest.fixture
def pooled(postgres):
    """Makes connections of daphne's backend, whose pool holds one and waits 0.5 s for it."""
    backend = load_backend("cad.db_pool")
    made = []

    def make():
        pool = {"POOL_SIZE": 1, "MAX_OVERFLOW": 0, "TIMEOUT": 0.5}
        settings_dict = {**connection.settings_dict, "ENGINE": "cad.db_pool", "POOL_OPTIONS": pool}
        made.append(backend.DatabaseWrapper(settings_dict, alias=POOL_ALIAS))
        return made[-1]

    yield make
    for wrapper in made:
        wrapper.close()
    pool_container.pop(POOL_ALIAS).dispose()


def test_a_request_that_finds_the_pool_empty_fails_as_the_database_unavailable(pooled):
    holder, waiter = pooled(), pooled()
    holder.ensure_connection()
    # Django's OperationalError is what the API answers 503 for (cad/api/errors.py); the
    # pool's own TimeoutError would have been a 500.
    with pytest.raises(OperationalError, match="no database connection free"):
        waiter.ensure_connection()
    holder.close()  # back to the pool: now there is one for the waiter
    waiter.ensure_connection()
    with waiter.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


def _get(base: str, path: str) -> int:
    url = urlparse(base)
    client = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=WAIT_S)
    try:
        client.request("GET", path)
        return client.getresponse().status
    finally:
        client.close()


@pytest.fixture
def daphne(postgres):
    with daphne_server({"DATABASE_URL": subprocess_database_url()}) as base:
        yield base


def test_daphne_serves_request_after_request_from_its_pool(daphne):
    assert _get(daphne, "/healthz") == 200
    first = wait_until("daphne's pooled connection", _other_backends)
    for _ in range(20):
        assert _get(daphne, "/healthz") == 200
    # Without the pool Django closes its connection after every request under ASGI: nothing
    # would be left connected, and every request would have started a backend. (Django gives
    # a connection back only after the response has gone, so the next request may find it
    # still out and the pool open a second: equality would be too strict.)
    after = _other_backends()
    assert first <= after
    assert len(after) < 20


def test_daphne_replaces_a_pooled_connection_killed_under_it(daphne):
    assert _get(daphne, "/healthz") == 200
    first = wait_until("daphne's pooled connection", _other_backends)
    _terminate(first)
    wait_until("the old backend to go", lambda: not (_other_backends() & first))
    # The pool pings a connection as it hands it out: the dead one is replaced, not used.
    assert [_get(daphne, "/healthz") for _ in range(3)] == [200, 200, 200]
    assert _other_backends() - first
