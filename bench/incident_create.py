"""Benchmark: incident creation through the API, and the duplicate check at 100 and 100,000 rows.

    DATABASE_URL=postgres://postgres@127.0.0.1/beacon_dev .venv/bin/python bench/incident_create.py
    ... --small            (CI size: fewer requests, same 100,000-row duplicate check)

Runs in a throw-away database (bench_incident_create_<name>), so it never touches real data.
Requests go through the whole Django stack (middleware, token auth, DRF, services, the 201 body with
duplicates and history) from several processes with django.test.Client, as a server runs
several workers: HTTP parsing and the network are not included.
Targets (issue 3): >= 100 incidents/s sustained, p99 < 250 ms; duplicate check < 5 ms at
100,000 rows and no slower than at 100 (an index, not a scan).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cad.settings")
# Run as a script, measure as production runs: no log of every query. Not when a test imports
# the module: its os.environ would reach every server a later test starts.
if __name__ == "__main__":
    os.environ.setdefault("DEBUG", "0")

import django  # noqa: E402

django.setup()

from django.db import connection, connections  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402
from django.utils import timezone  # noqa: E402
from throwaway_database import throwaway_database  # noqa: E402

LAT0, LAT1, LON0, LON1 = 51.40, 51.62, -0.35, 0.15  # inside the force's area


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def incident_body(rng: random.Random, summary: str, number: int) -> dict[str, Any]:
    """The body every create of these benches posts: a violence call at a random point of the
    area, with a caller."""
    return {
        "type": "VIOL",
        "summary": summary,
        "location": {
            "lat": rng.uniform(LAT0, LAT1),
            "lon": rng.uniform(LON0, LON1),
            "address": f"{number} Bench Street",
        },
        "caller": {"name": "Bench Caller", "phone": "07700900000"},
    }


def setup_world():
    from knox.models import AuthToken

    from cad.accounts.services import user_provision
    from cad.models import BCU
    from incidents.models import IncidentType
    from tests.factories import make_borough

    bcu = BCU.objects.create(code="CN", name="Central North")
    # One big square "borough" over the benchmark area so every incident gets a BCU.
    make_borough(bcu, "Bench", (LAT0 + LAT1) / 2, (LON0 + LON1) / 2, half=0.3)
    IncidentType.objects.create(code="VIOL", name="Violence", category="crime", default_grade="I")
    tokens = []
    for i in range(8):
        user, _ = user_provision(
            username=f"bench{i}", role="call_handler", bcu_code=None, password=None
        )
        tokens.append(AuthToken.objects.create(user=user)[1])
    return tokens


def _worker(args: tuple[str, int, int, float]) -> tuple[list[float], int, float]:
    """One process: warm up, wait for the common start, then post `count` incidents."""
    token, seed, count, start_at = args
    connections.close_all()  # never share the parent's socket
    client = Client(HTTP_AUTHORIZATION=f"Token {token}")
    rng = random.Random(seed)

    def post(i: int) -> int:
        return client.post(
            "/api/v1/incidents/",
            json.dumps(incident_body(rng, f"bench {seed}-{i}", i)),
            content_type="application/json",
            headers={"Idempotency-Key": f"bench-{seed}-{i}"},
        ).status_code

    for i in range(5):
        post(-1 - i)  # warm up: imports, connection, query plans
    time.sleep(max(0.0, start_at - time.time()))
    latencies, failures = [], 0
    for i in range(count):
        t0 = time.perf_counter()
        failures += post(i) != 201
        latencies.append((time.perf_counter() - t0) * 1000)
    connections.close_all()
    return latencies, failures, time.time()


def run_creates(tokens: list[str], total: int, procs: int) -> tuple[float, list[float], int]:
    """`procs` processes, as a server would run several workers, each posting in a loop."""
    connections.close_all()
    start_at = time.time() + 3.0
    per = total // procs
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(procs) as pool:
        results = pool.map(
            _worker, [(tokens[n % len(tokens)], n, per, start_at) for n in range(procs)]
        )
    latencies = [ms for r in results for ms in r[0]]
    failures = sum(r[1] for r in results)
    elapsed = max(r[2] for r in results) - start_at
    return elapsed, latencies, failures


def recent_count() -> int:
    """The incidents of this run and its recent fill: every one but `fill_history`'s."""
    from incidents.models import Incident

    return Incident.objects.exclude(reference__startswith=HISTORY_PREFIX).count()


def _insert_incidents(
    count: int,
    *,
    first: int,
    prefix: str,
    day: date,
    seed: int,
    fields: Callable[[random.Random], dict[str, Any]],
) -> None:
    """Insert `count` bench incidents numbered from `first`, 5,000 to a statement; `fields(rng)`
    gives each one's place, time and state."""
    from django.contrib.auth.models import User

    from incidents.models import Incident, IncidentType

    user = User.objects.first()
    itype = IncidentType.objects.first()
    rng = random.Random(seed)
    batch = []
    for i in range(first, first + count):
        batch.append(
            Incident(
                reference=f"{prefix}{i}",
                reference_date=day,
                reference_number=i + 1,
                type=itype,
                grade="S",
                created_by=user,
                **fields(rng),
            )
        )
        if len(batch) == 5000:
            Incident.objects.bulk_create(batch)
            batch = []
    Incident.objects.bulk_create(batch)


def fill_recent(rows: int) -> None:
    """Top the table up to `rows` incidents, all within the duplicate window (the worst case)."""
    have = recent_count()
    now = timezone.now()

    def fields(rng: random.Random) -> dict[str, Any]:
        return {"lat": rng.uniform(LAT0, LAT1), "lon": rng.uniform(LON0, LON1),
                "created_at": now - timedelta(seconds=rng.uniform(0, 3000))}  # fmt: skip

    _insert_incidents(max(0, rows - have), first=have, prefix="BENCH ", day=date(1990, 1, 1),
                      seed=rows, fields=fields)  # fmt: skip
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ANALYZE incidents_incident")


# The force's whole area, wider than the box the creates fall in (LAT0..LON1).
FORCE_LAT, FORCE_LON = (51.28, 51.70), (-0.51, 0.33)
HISTORY_PREFIX = "HISTORY "


def fill_history(count: int) -> None:
    """`count` closed incidents spread over the past year and the force's whole area, then
    `ANALYZE`: the table a live control room's creates read (the duplicate check, the address's
    history) and its planner works from. From empty tables instead, the plans each process
    prepares in its first creates are made for tables a few pages long and kept while the bench
    grows them thirty-fold (docs/benchmarks.md, stop 43); production's tables are large and
    analysed. Off (0) by default, so that the figures compare with earlier stops'."""
    from incidents.models import IncidentStatus

    now = timezone.now()

    def fields(rng: random.Random) -> dict[str, Any]:
        at = now - timedelta(days=rng.uniform(1, 365))
        return {"lat": rng.uniform(*FORCE_LAT), "lon": rng.uniform(*FORCE_LON), "created_at": at,
                "status": IncidentStatus.CLOSED, "closed_at": at + timedelta(hours=1)}  # fmt: skip

    _insert_incidents(count, first=0, prefix=HISTORY_PREFIX, day=date(1991, 1, 1), seed=count,
                      fields=fields)  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # what autovacuum would have done on a live system


def time_duplicate_check(samples: int, *, quiet_area: bool = False) -> tuple[float, float, int]:
    """Time `possible_duplicates` at random points.

    `quiet_area`: points in the force's area south of the filled box, where no incident lies,
    so every check returns nothing and what is timed is finding nothing: the index cost alone,
    comparable across table sizes (the filled area's checks also build ~10 results at 100,000).
    """
    from incidents.selectors import possible_duplicates

    rng = random.Random(7)
    times = []
    found = 0
    for _ in range(samples):
        if quiet_area:
            lat, lon = rng.uniform(51.27, LAT0 - 0.01), rng.uniform(LON0, LON1)
        else:
            lat, lon = rng.uniform(LAT0, LAT1), rng.uniform(LON0, LON1)
        t0 = time.perf_counter()
        found += len(possible_duplicates(lat=lat, lon=lon))
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), percentile(times, 99), found


def explain_duplicate_check() -> str:
    from incidents.models import Incident, IncidentStatus
    from incidents.selectors import _box

    now = timezone.now()
    lat, lon = 51.51, -0.12
    qs = (
        Incident.objects.filter(**_box(lat, lon, 200))
        .filter(created_at__gte=now - timedelta(minutes=60), created_at__lte=now)
        .exclude(status=IncidentStatus.CLOSED)
        .values("id", "lat", "lon")
    )
    options: dict[str, Any] = {"analyze": True} if connection.vendor == "postgresql" else {}
    return qs.explain(**options)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="CI size")
    parser.add_argument("--requests", type=int, default=None)
    parser.add_argument("--procs", type=int, default=4, help="client+server processes")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument(
        "--history", type=int, default=0,
        help="closed incidents over the past year to start from, as a live table (0: empty)",
    )  # fmt: skip
    args = parser.parse_args()
    total = args.requests or (400 if args.small else 3000)

    if connection.vendor != "postgresql":
        print("WARNING: not PostgreSQL (set DATABASE_URL); figures are not the benchmark's.")
    setup_test_environment()
    with throwaway_database("bench_incident_create"):
        tokens = setup_world()

        def measure(rows: int) -> None:
            fill_recent(rows)
            for quiet, where in ((False, "among them"), (True, "where none are")):
                p50, p99, found = time_duplicate_check(300, quiet_area=quiet)
                print(
                    f"duplicate check with {recent_count():>7} recent incidents, "
                    f"{where:<14}: p50 {p50:.2f} ms  p99 {p99:.2f} ms  "
                    f"({found / 300:.1f} hits per check)"
                )

        print(f"database: {connection.vendor}; cores: {os.cpu_count()}; processes: {args.procs}; "
              f"history: {args.history} closed incidents over the past year")  # fmt: skip
        fill_history(args.history)
        measure(100)
        elapsed, latencies, failures = run_creates(tokens, total, args.procs)
        done = len(latencies)
        print(
            f"created {done - failures} incidents via POST /api/v1/incidents/ "
            f"in {elapsed:.2f} s ({failures} failed)"
        )
        print(f"throughput: {done / elapsed:.1f} incidents/s")
        print(
            f"latency ms: p50 {percentile(latencies, 50):.1f}  p99 {percentile(latencies, 99):.1f}"
            f"  max {max(latencies):.1f}"
        )
        measure(args.rows)
        plan = explain_duplicate_check()
        print("plan at the largest size:")
        print("  " + plan.replace("\n", "\n  "))
        uses_index = "incident_position_idx" in plan
        print(f"uses incident_position_idx: {'yes' if uses_index else 'NO'}")
        return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
