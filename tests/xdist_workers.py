"""pytest-xdist workers that never share a database, a Redis database or a prefix (`make test`).

`make test` runs the suite as pytest-xdist workers (`-n`, `--dist loadfile`): each worker takes
the next whole test file as it finishes one, so the workers end together however wrong a guess
about a file's cost is. Most of the suite's wall time is waiting (for daphne, Celery and
Chromium started as subprocesses, for PostgreSQL, for sockets), so two workers on a 2-core
machine overlap their waits.

Loaded with `-p tests.xdist_workers` before pytest-django configures Django, this plugin gives
each worker after the first everything shared that a test may write to, so no test sees
another worker's:

- its own database (DATABASE_URL's name plus `_s<k>`, created if missing): pytest-django's
  test database is named after it, and some subprocesses connect to DATABASE_URL's database
  itself;
- its own Redis database number (REDIS_URL's, plus k), so Celery queues, throttle counters and
  anything a bench flushes stay apart;
- its own channel-layer prefix (Redis pub/sub channels ignore the database number) and cache
  key prefix.

Every process that runs tests (each worker, or the one process of a run without `-n`) also
queues its Celery tasks under Redis keys of its own (`CELERY_KEY_PREFIX`, `test-<random>:` after
any the environment gives, which the servers and workers its tests start inherit), removed when
it finishes: most of the suite's tasks are never taken by a worker, and on the configured Redis's
shared queues they would wait for the next worker there (a developer's `make run`, say) to run
them against that database's incidents with the same ids.

Worker gw0 keeps the environment as given. Without DATABASE_URL (the SQLite default) each
process has its own in-memory database anyway. Subprocess servers take free ports, private
Redis and PostgreSQL servers their own directories (tests/servers.py, tests/faults/stack.py).

Files are queued costliest first (`weight` below), so that the last file a worker starts is a
short one: files that start servers or a browser cost far more than their count of tests says.
"""

from __future__ import annotations

import os
import re
import uuid
import warnings
from collections.abc import Generator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import pytest
import redis
from django.conf import settings
from psycopg2 import sql

from tests.redis_keys import delete_keys

# Seconds on a slow 2-core machine: the files above 40 s in a whole run's `--durations=0` (stop
# 26, docs/benchmarks.md), then rough guesses by kind; anything else, a few seconds a test. Only
# the order matters: costliest first.
MEASURED_SECONDS = {
    "tests/test_api_fuzz.py": 470.0,
    "tests/test_authz_matrix.py": 350.0,
    "tests/test_browser_accessibility.py": 200.0,
    "tests/test_bench_soak.py": 110.0,
    "cad/tests/test_consumer_board.py": 90.0,
    "tests/test_seed_demo.py": 80.0,
    "tests/test_training.py": 70.0,
    "tests/test_simulation_training.py": 50.0,
    "cad/tests/test_socket_recheck.py": 50.0,
    "cad/tests/test_settings_profiles.py": 40.0,
}
KIND_SECONDS = [
    (re.compile(r"/test_bench_[a-z_]+\.py$"), 40.0),
    (re.compile(r"/test_browser_[a-z_]+\.py$"), 30.0),
    (re.compile(r"tests/faults/test_[a-z_]+\.py$"), 30.0),
]
TEST_DEF = re.compile(r"^(?:async )?def test_", re.MULTILINE)
# The Celery key prefix this process queued its tasks under, removed when it finishes.
QUEUE_KEYS = pytest.StashKey[str]()


def worker_number() -> int | None:
    """k of this process's `gw<k>`, or None outside an xdist worker."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "")
    return int(name[2:]) if name.startswith("gw") and name[2:].isdigit() else None


def with_suffix_db(url: str, k: int) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"{parts.path.rstrip('/')}_s{k}"))


def with_redis_db(url: str, k: int) -> str:
    parts = urlsplit(url)
    base = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{(base + k) % 16}"))


def worker_env(env: dict[str, str], k: int) -> dict[str, str]:
    """The variables worker k changes, given the environment it started with."""
    if k == 0:
        return {}
    changed = {
        "CHANNEL_LAYER_PREFIX": f"{env.get('CHANNEL_LAYER_PREFIX', 'asgi')}-s{k}",
        "CACHE_KEY_PREFIX": f"{env.get('CACHE_KEY_PREFIX', 'beacon')}-s{k}",
    }
    if env.get("DATABASE_URL"):
        changed["DATABASE_URL"] = with_suffix_db(env["DATABASE_URL"], k)
    if env.get("REDIS_URL"):
        changed["REDIS_URL"] = with_redis_db(env["REDIS_URL"], k)
    return changed


def ensure_database(url: str) -> None:
    """Create a worker's own database if it is missing (see the module's docstring)."""
    if not url.startswith(("postgres://", "postgresql://")):
        return
    parts = urlsplit(url)
    name = parts.path.strip("/")
    admin = psycopg2.connect(urlunsplit(parts._replace(path="/postgres")))
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            if cursor.fetchone() is None:
                cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    finally:
        admin.close()


@pytest.hookimpl(wrapper=True)
def pytest_load_initial_conftests(early_config, parser, args) -> Generator[None, None, None]:
    # A wrapper runs before every plain implementation, pytest-django's among them, which reads
    # the settings (and so these variables) as it configures Django.
    k = worker_number()
    if k is not None:
        # The product's 1 s Redis connect (fail fast on a Redis that is gone) is the kernel's
        # first SYN retransmit; a loaded 2-core machine running the suite has exceeded it on
        # loopback (tests/sockets.py). Stopped servers in tests refuse at once either way.
        os.environ.setdefault("REDIS_CONNECT_TIMEOUT_S", "5")
        os.environ.update(worker_env(dict(os.environ), k))
        ensure_database(os.environ.get("DATABASE_URL", ""))
    if runs_tests(early_config) and os.environ.get("REDIS_URL"):
        key_prefix = f"test-{uuid.uuid4().hex[:12]}:"
        os.environ["CELERY_KEY_PREFIX"] = os.environ.get("CELERY_KEY_PREFIX", "") + key_prefix
        early_config.stash[QUEUE_KEYS] = os.environ["CELERY_KEY_PREFIX"]
    return (yield)


def runs_tests(config: pytest.Config) -> bool:
    """Whether this process runs tests: an xdist worker, or a run without workers (not the
    controller of `-n`, whose workers choose their own keys)."""
    return worker_number() is not None or not getattr(
        config.known_args_namespace, "numprocesses", None
    )


def pytest_sessionfinish(session: pytest.Session) -> None:
    key_prefix = session.config.stash.get(QUEUE_KEYS, None)
    broker = settings.CELERY_BROKER_URL if settings.configured else ""
    if key_prefix and broker.startswith(("redis://", "rediss://")):
        try:
            delete_keys(broker, key_prefix)
        except redis.RedisError as error:  # the run's result stands; its keys are left behind
            warnings.warn(f"{key_prefix}* left on {broker}: {error}", stacklevel=1)


def weight(name: str, source: str) -> float:
    """A test file's rough cost in seconds, from its path and its text."""
    for path, seconds in MEASURED_SECONDS.items():
        if name == path or name.endswith(f"/{path}"):
            return seconds
    for pattern, seconds in KIND_SECONDS:
        if pattern.search(name):
            return seconds
    return 2.0 + 3.0 * len(TEST_DEF.findall(source))


def costliest_first(items: list[pytest.Item]) -> list[pytest.Item]:
    """The items with whole files in order of weight, heaviest first; within a file, as found."""
    weights: dict[Path, float] = {}
    for item in items:
        path = item.path
        if path not in weights:
            weights[path] = weight(path.as_posix(), path.read_text())
    first_seen = {path: n for n, path in enumerate(weights)}
    return sorted(items, key=lambda item: (-weights[item.path], first_seen[item.path]))


def pytest_collection_modifyitems(session, config, items) -> None:
    # Only workers reorder: `--dist loadfile --no-loadscope-reorder` queues the files in the
    # order the workers collected them.
    if worker_number() is not None:
        items[:] = costliest_first(items)
