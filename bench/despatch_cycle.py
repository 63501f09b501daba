"""Benchmark: what one incident's despatch costs the server, request by request.

    DATABASE_URL=postgres://postgres@127.0.0.1/beacon_dev .venv/bin/python bench/despatch_cycle.py
    ... --small            (CI size: fewer incidents)

The soak's despatcher does this 6 times a second: create an incident (a call handler), send a
unit to it, open it (a desk reading the incident, callers' details and all) and close it (a
despatcher), each a request through the whole Django stack (middleware, token auth, DRF,
services, the 200/201 body) with django.test.Client, one after the other in this process, so
that what each request costs can be read off this process and off its PostgreSQL backend. Per
kind of request it prints the SQL statements run, how many of them Django compiled from a
queryset or model (the rest are fixed or prepared statements; counted, so steady from run to
run where the times drift with the machine), this process's CPU (Django, and the threads that
publish events and queue tasks), the PostgreSQL backend's CPU and the wall time; and how many
board events each incident stored. Runs in a throw-away
database (bench_despatch_cycle_<name>). Figures, not targets: compare two commits on one
machine.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cad.settings")
# Run as a script, measure as production runs: no log of every query. Not when a test imports
# the module: its os.environ would reach every server a later test starts.
if __name__ == "__main__":
    os.environ.setdefault("DEBUG", "0")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.db.models.sql import compiler as sql_compiler  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402
from throwaway_database import throwaway_database  # noqa: E402

LAT0, LAT1, LON0, LON1 = 51.45, 51.55, -0.20, 0.00
KINDS = ("create", "assign", "open", "close")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def setup_world(units: int) -> tuple[str, str, list[str]]:
    """A BCU over the area, a call handler's and a despatcher's tokens, `units` free units."""
    from knox.models import AuthToken

    from cad.accounts.services import user_provision
    from cad.models import BCU, Station
    from incidents.models import IncidentType
    from tests.factories import make_borough, make_closing_code, make_unit

    bcu = BCU.objects.create(code="CN", name="Central North")
    make_borough(bcu, "Bench", (LAT0 + LAT1) / 2, (LON0 + LON1) / 2, half=0.3)
    IncidentType.objects.create(code="VIOL", name="Violence", category="crime", default_grade="I")
    make_closing_code()
    station = Station.objects.create(code="CNS", name="Bench", bcu=bcu, lat=51.5, lon=-0.1)
    tokens = []
    for username, role in (("handler", "call_handler"), ("despatcher", "despatcher")):
        user, _ = user_provision(username=username, role=role, bcu_code=None, password=None)
        tokens.append(AuthToken.objects.create(user=user)[1])
    callsigns = [
        make_unit(station, callsign=f"CN{n:04d}", lat=51.5, lon=-0.1).callsign for n in range(units)
    ]
    return tokens[0], tokens[1], callsigns


def backend_cpu_s(pid: int) -> float:
    """User + system CPU of a local PostgreSQL backend so far (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


class CompileCounter:
    """Counts Django's SQL compilations (each compiler's `as_sql`) made by this thread, the
    request's: a subquery counts as one more."""

    def __init__(self):
        self.count = 0
        self.thread = threading.get_ident()
        for name in ("SQLCompiler", "SQLInsertCompiler", "SQLUpdateCompiler",
                     "SQLDeleteCompiler", "SQLAggregateCompiler"):  # fmt: skip
            cls = getattr(sql_compiler, name)
            cls.as_sql = self._counting(cls.__dict__["as_sql"])

    def _counting(self, as_sql):
        def counted(compiler, *args, **kwargs):
            if threading.get_ident() == self.thread:
                self.count += 1
            return as_sql(compiler, *args, **kwargs)

        return counted


class Meter:
    """Per kind of request: statements, compilations, this process's CPU, the backend's CPU,
    wall."""

    def __init__(self, backend_pid: int | None):
        self.backend_pid = backend_pid
        self.compiles = CompileCounter()
        self.rows: dict[str, list[tuple[int, float, float, float, int]]] = {k: [] for k in KINDS}

    def post(self, kind: str, client: Client, path: str, body: dict | None, **extra) -> dict:
        """POST `body` as JSON to `path` (None: GET it)."""
        statements = 0

        def count(execute, sql, params, many, context):
            nonlocal statements
            statements += 1
            return execute(sql, params, many, context)

        backend0 = backend_cpu_s(self.backend_pid) if self.backend_pid else 0.0
        compiles0 = self.compiles.count
        cpu0, wall0 = time.process_time(), time.perf_counter()
        with connection.execute_wrapper(count):
            if body is None:
                response = client.get(path, **extra)
            else:
                response = client.post(path, json.dumps(body), content_type="application/json",
                                       **extra)  # fmt: skip
        wall = time.perf_counter() - wall0
        cpu = time.process_time() - cpu0
        backend = backend_cpu_s(self.backend_pid) - backend0 if self.backend_pid else 0.0
        if response.status_code not in (200, 201):
            raise SystemExit(f"{kind}: {response.status_code} {response.content[:300]!r}")
        self.rows[kind].append((statements, cpu, backend, wall, self.compiles.count - compiles0))
        return response.json()

    def report(self, skip: int) -> None:
        for kind in KINDS:
            rows = self.rows[kind][skip:]
            ms = [r[3] * 1000 for r in rows]
            p99 = statistics.quantiles(ms, n=100)[98]
            backend = (f"PostgreSQL CPU mean {statistics.mean(r[2] for r in rows) * 1000:5.2f} ms"
                       if self.backend_pid else "PostgreSQL CPU not read (not local)")  # fmt: skip
            print(
                f"{kind:<6}: {statistics.median(r[0] for r in rows):>3.0f} statements, "
                f"{statistics.median(r[4] for r in rows):>3.0f} compiled | "
                f"this process's CPU mean {statistics.mean(r[1] for r in rows) * 1000:5.2f} ms | "
                f"{backend} | wall p50 {statistics.median(ms):5.1f} ms, "
                f"p99 {p99:5.1f} ms"
            )


def local_backend_pid() -> int | None:
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    return pid if Path(f"/proc/{pid}/stat").exists() else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="CI size")
    parser.add_argument("--incidents", type=int, default=None, help="default 400 (40 small)")
    parser.add_argument("--warmup", type=int, default=20, help="cycles left out of the figures")
    args = parser.parse_args()
    count = args.incidents or (40 if args.small else 400)

    if connection.vendor != "postgresql":
        print("WARNING: not PostgreSQL (set DATABASE_URL); figures are not the benchmark's.")
    setup_test_environment()
    with throwaway_database("bench_despatch_cycle"):
        from cad.models import Event

        handler, despatcher, callsigns = setup_world(count + args.warmup)
        handler_client = Client(HTTP_AUTHORIZATION=f"Token {handler}")
        desk_client = Client(HTTP_AUTHORIZATION=f"Token {despatcher}")
        meter = Meter(local_backend_pid())
        rng = random.Random(22)
        events_before = Event.objects.count()
        for n in range(count + args.warmup):
            body = {
                "type": "VIOL",
                "summary": f"bench {n}",
                "location": {
                    "lat": rng.uniform(LAT0, LAT1),
                    "lon": rng.uniform(LON0, LON1),
                    "address": f"{n} Bench Street",
                },  # fmt: skip
                "caller": {"name": "Bench Caller", "phone": "07700900000"},
            }
            incident = meter.post("create", handler_client, "/api/v1/incidents/", body,
                                  headers={"Idempotency-Key": f"bench-{n}"})  # fmt: skip
            meter.post("assign", desk_client, f"/api/v1/incidents/{incident['id']}/assign/",
                       {"unit": callsigns[n]})  # fmt: skip
            meter.post("open", desk_client, f"/api/v1/incidents/{incident['id']}/", None)
            meter.post("close", desk_client, f"/api/v1/incidents/{incident['id']}/close/",
                       {"closing_code": "NFA"})  # fmt: skip
        events = Event.objects.count() - events_before
        print(f"database: {connection.vendor}; cores: {os.cpu_count()}; "
              f"{count} incidents after {args.warmup} to warm up")  # fmt: skip
        meter.report(skip=args.warmup)
        print(f"board events stored per incident: {events / (count + args.warmup):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
