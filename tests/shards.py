"""Run the test suite as several pytest processes at once (`make test`; SHARDS=1 runs one).

Most of the suite's wall time is waiting: for daphne, Celery and Chromium started as
subprocesses, for PostgreSQL, for sockets. One pytest process waits for each in turn, and on a
2-core machine half as fast as the one before it the whole suite took about 40 minutes, past
CI's 25. Two processes at once wait side by side.

Each shard gets everything shared that a test may write to, so no test sees another shard's:

- its own PostgreSQL test database (pytest-django names it after DATABASE_URL's database, which
  gets the suffix `_s<k>`);
- its own Redis database number (REDIS_URL's, plus k), so Celery queues, throttle counters and
  anything a bench flushes stay apart;
- its own channel-layer prefix (Redis pub/sub channels ignore the database number) and cache
  key prefix.

Shard 0 keeps the environment as given. Without DATABASE_URL (the SQLite default) each process
has its own in-memory database anyway. Subprocess servers take free ports, private Redis and
PostgreSQL servers their own directories (tests/servers.py, tests/faults/stack.py).

Files are dealt to shards by an estimate of their cost, largest first (`weight` below). Each
shard's output is printed whole when it ends, with its slowest tests (`--durations`), so the
weights can be corrected from a CI log. Exit status: 0 only if every shard passed.

    .venv/bin/python tests/shards.py --shards 2 -- -m "not faults_extended"
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2
from psycopg2 import sql

ROOT = Path(__file__).resolve().parent.parent
TEST_DIRS = ["tests", "incidents", "resources", "duties", "radio", "cad"]  # pyproject's testpaths

# Seconds, roughly, on a slow 2-core machine: files that start servers or a browser cost far
# more than their count of tests says. Everything else: a few seconds a test.
HEAVY = [
    (re.compile(r"tests/test_api_fuzz\.py$"), 400.0),
    (re.compile(r"tests/test_authz_matrix\.py$"), 200.0),
    (re.compile(r"/test_bench_[a-z_]+\.py$"), 100.0),
    (re.compile(r"/test_browser_[a-z_]+\.py$"), 45.0),
    (re.compile(r"tests/faults/test_[a-z_]+\.py$"), 60.0),
    (re.compile(r"tests/test_seed_demo\.py$"), 120.0),
]
TEST_DEF = re.compile(r"^(?:async )?def test_", re.MULTILINE)


def test_files() -> list[Path]:
    found: list[Path] = []
    for top in TEST_DIRS:
        found.extend(p for p in (ROOT / top).rglob("test_*.py") if ".venv" not in p.parts)
    return sorted(found)


def weight(path: Path) -> float:
    name = path.relative_to(ROOT).as_posix()
    for pattern, seconds in HEAVY:
        if pattern.search(name):
            return seconds
    return 2.0 + 3.0 * len(TEST_DEF.findall(path.read_text()))


def deal(files: list[Path], shards: int) -> list[tuple[list[Path], float]]:
    """Largest first, each to the shard with the least so far; (files, estimated s) a shard."""
    weights = {path: weight(path) for path in files}
    bins: list[list[Path]] = [[] for _ in range(shards)]
    loads = [0.0] * shards
    for path in sorted(files, key=weights.__getitem__, reverse=True):
        k = loads.index(min(loads))
        bins[k].append(path)
        loads[k] += weights[path]
    return [(sorted(b), load) for b, load in zip(bins, loads, strict=True)]


def with_suffix_db(url: str, k: int) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"{parts.path.rstrip('/')}_s{k}"))


def with_redis_db(url: str, k: int) -> str:
    parts = urlsplit(url)
    base = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{(base + k) % 16}"))


def shard_env(k: int) -> dict[str, str]:
    env = dict(os.environ)
    if k == 0:
        return env
    if env.get("DATABASE_URL"):
        env["DATABASE_URL"] = with_suffix_db(env["DATABASE_URL"], k)
    if env.get("REDIS_URL"):
        env["REDIS_URL"] = with_redis_db(env["REDIS_URL"], k)
    env["CHANNEL_LAYER_PREFIX"] = f"{env.get('CHANNEL_LAYER_PREFIX', 'asgi')}-s{k}"
    env["CACHE_KEY_PREFIX"] = f"{env.get('CACHE_KEY_PREFIX', 'beacon')}-s{k}"
    return env


def ensure_database(url: str) -> None:
    """Create a shard's own database if it is missing: like .ci/run's, some subprocesses connect
    to DATABASE_URL's database itself, not only to pytest-django's test_ copy of it."""
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("pytest_args", nargs="*", help="after --: passed to every shard")
    args = parser.parse_args()
    if args.shards <= 1 or any(Path(a).exists() for a in args.pytest_args if a[:1] != "-"):
        # One process: asked for, or the arguments name what to run (PYTEST_ARGS=<path>).
        return subprocess.call([sys.executable, "-m", "pytest", *args.pytest_args], cwd=ROOT)
    files = test_files()
    shards = min(args.shards, len(files))
    plans = deal(files, shards)
    for k in range(1, shards):
        ensure_database(shard_env(k).get("DATABASE_URL", ""))
    started = time.monotonic()
    running = []
    with tempfile.TemporaryDirectory(prefix="beacon-shards-") as scratch:
        for k, (plan, estimate) in enumerate(plans):
            log = open(Path(scratch) / f"shard{k}.log", "w+")  # noqa: SIM115  (closed below)
            command = [sys.executable, "-m", "pytest", "--durations=15", *args.pytest_args,
                       *[str(p.relative_to(ROOT)) for p in plan]]  # fmt: skip
            print(f"shard {k}: {len(plan)} files, about {estimate:,.0f} s "
                  f"by estimate", flush=True)  # fmt: skip
            process = subprocess.Popen(
                command, cwd=ROOT, env=shard_env(k), stdout=log, stderr=subprocess.STDOUT
            )
            running.append((k, process, log))
        failed = []
        for k, process, log in running:
            code = process.wait()
            took = time.monotonic() - started
            log.seek(0)
            print(f"\n===== shard {k}: exit {code}, done {took:,.0f} s after the start =====")
            sys.stdout.write(log.read())
            sys.stdout.flush()
            log.close()
            if code not in (0, 5):  # 5: this shard's files had no test selected (-k, -m)
                failed.append(k)
    print(f"\nshards: {shards}, wall {time.monotonic() - started:,.0f} s, "
          f"failed: {failed or 'none'}")  # fmt: skip
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
