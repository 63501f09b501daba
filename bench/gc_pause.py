"""Benchmark: full garbage collections in a server process, with and without its start-up heap
frozen (cad/startup_heap.py).

    DATABASE_URL=postgres://postgres@127.0.0.1/beacon_dev .venv/bin/python bench/gc_pause.py
    ... --small            (CI size: one round of 10 s each way)

Two parts:

1. **The heap.** For each server entry point (cad.asgi for daphne, cad.wsgi for gunicorn), a
   fresh interpreter imports it and the URLconf's views with the freeze off, then reports the
   objects the collector tracks and the time of a full collection (median of 5), and the same
   after `gc.freeze()`.
2. **Creates through daphne.** daphne on a throw-away database (`bench_gc_pause`, created and
   dropped here; seeded as the fault suite seeds its own) and a redis-server of its own (so the
   tasks the creates queue, which no worker takes, go with it), with `GC_FREEZE_AT_STARTUP=0`, then
   `=1`, round after round, each taking incident creates through the REST API from one client
   at `--rate` a second for `--seconds`: the load of tests/faults/stack.py, whose client freezes
   its own heap, so its collections stay out of the timings. Latency is per create, sent to
   answered, in ms.

Part 2 needs PostgreSQL (DATABASE_URL) and redis-server: without them it says so and only part 1
runs. Nothing is asserted: the figures are for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from throwaway_database import drop_on_server, recreate_on_server  # noqa: E402

from tests.faults.stack import Load, Stack, latency, seed  # noqa: E402
from tests.servers import PrivateRedis, venv_bin  # noqa: E402

DATABASE = "bench_gc_pause"
ENTRY_POINTS = ("cad.asgi", "cad.wsgi")

# Run in a fresh interpreter: the heap a server process has once its entry point is imported.
HEAP_PROBE = """
import gc, json, statistics, time
import importlib
importlib.import_module({module!r})
from django.urls import get_resolver
get_resolver().url_patterns  # what freeze_startup_heap imports: every view

def full_ms():
    times = []
    for _ in range(5):
        start = time.perf_counter()
        gc.collect()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)

tracked, before = len(gc.get_objects()), full_ms()
gc.freeze()
print(json.dumps({{"tracked": tracked, "full_ms": before, "frozen": gc.get_freeze_count(),
                  "full_ms_frozen": full_ms(), "tracked_frozen": len(gc.get_objects())}}))
"""


def heap(module: str) -> dict:
    env = {**os.environ, "GC_FREEZE_AT_STARTUP": "0", "DJANGO_SETTINGS_MODULE": "cad.settings"}
    done = subprocess.run(  # noqa: S603  (our own interpreter and probe)
        [venv_bin("python"), "-c", HEAP_PROBE.format(module=module)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def creates(db_url: str, redis_url: str, token: str, *, freeze: bool, seconds: float,
            rate: float, logs: Path) -> dict:  # fmt: skip
    stack = Stack(database_url=db_url, redis_url=redis_url, logs=logs,
                  GC_FREEZE_AT_STARTUP="1" if freeze else "0")  # fmt: skip
    stack.start_daphne()
    try:
        load = Load(stack.base, token, rate=rate)
        for n in range(20):  # warm up: imports, connections, query plans
            load.create(f"warm-{load.run_id}-{n}")
        load.start()
        time.sleep(seconds)
        load.stop()
    finally:
        stack.stop()
    ok = [a.ms for a in load.answers if a.status == 201]
    slow = sum(1 for ms in ok if ms > 150)
    return {**latency(ok), "over_150_ms": slow, "errors": len(load.answers) - len(ok)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="CI size: one round of 10 s each")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=10.0, help="creates a second")
    args = parser.parse_args()
    rounds, seconds = (1, 10.0) if args.small else (args.rounds, args.seconds)

    print(f"machine: {os.cpu_count()} cores")
    for module in ENTRY_POINTS:
        h = heap(module)
        print(f"{module}: {h['tracked']:,} objects tracked, full collection "
              f"{h['full_ms']:.1f} ms; frozen ({h['frozen']:,}): {h['tracked_frozen']:,} tracked, "
              f"full collection {h['full_ms_frozen']:.1f} ms")  # fmt: skip

    server_url = os.environ.get("DATABASE_URL", "")
    private_redis = PrivateRedis()
    if not server_url.startswith("postgres") or private_redis.binary is None:
        print("creates through daphne: skipped, needs DATABASE_URL (PostgreSQL) and redis-server")
        return 0
    db_url = recreate_on_server(server_url, DATABASE)
    private_redis.start()
    try:
        token = seed(db_url)
        results: dict[str, list[dict]] = {"off": [], "on": []}
        with tempfile.TemporaryDirectory() as logs:
            for n in range(rounds):
                for name in ("off", "on"):
                    figures = creates(db_url, private_redis.url, token, freeze=name == "on",
                                      seconds=seconds, rate=args.rate, logs=Path(logs))  # fmt: skip
                    results[name].append(figures)
                    print(f"round {n + 1}, freeze {name}: {json.dumps(figures)}")
    finally:
        private_redis.stop()
        drop_on_server(server_url, DATABASE)
    print(f"creates through daphne, {args.rate:g}/s for {seconds:g} s a round, {rounds} rounds:")
    for name, runs in results.items():
        p99s = ", ".join(f"{r['p99_ms']}" for r in runs)
        worst = max(r["max_ms"] for r in runs)
        over = sum(r["over_150_ms"] for r in runs)
        made = sum(r["creates"] for r in runs)
        p50 = statistics.median(r["p50_ms"] for r in runs)
        print(f"  freeze {name}: p50 {p50} ms, p99 by round "
              f"{p99s} ms, max {worst} ms, {over} of {made} over 150 ms")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
