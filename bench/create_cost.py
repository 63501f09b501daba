"""Benchmark: what one incident create costs, in one process: Python calls, this process's CPU,
PostgreSQL's CPU, and PostgreSQL's CPU statement by statement.

    DATABASE_URL=postgres://postgres@127.0.0.1/beacon_dev .venv/bin/python bench/create_cost.py
    ... --small            (CI size: 100 creates a phase instead of 500)
    ... --before 2000      (creates made first, untimed: the tables' size when measuring)

`bench/incident_create.py` gives the rate of several processes at once, which the machine's
speed moves by a fifth from run to run; this gives the cost of one create, the figure that
says where the rate goes. The same requests as that bench (django.test.Client, a token, an
Idempotency-Key, the 201 body with duplicates and history), in a throw-away database.

- Python calls per create: every call and C call seen by `sys.setprofile`, the same count
  every run for the same code, whatever the machine is doing.
- CPU per create: this process's (`time.process_time`, the publishing thread included) and
  its PostgreSQL backend's (`/proc/<pid>/stat`, on the same machine only).
- WAL per create: the bytes of write-ahead log the server wrote in the CPU phase, divided by
  its creates (every row and index entry written, in every process: run it on a machine where
  nothing else writes). Far steadier than CPU from run to run: the size of what a create
  writes. Then the same WAL by the table or index each record wrote to (`pg_walinspect`, on
  PostgreSQL 15 and later as a superuser): where those bytes go.
- Per statement: PostgreSQL's own account of each statement's CPU (`log_statement_stats`, sent
  to this connection as a notice), joined to the statement that ran it. A statement's notice
  arrives while it runs; the commit's (its deferred triggers included) while committing.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import time
from collections import Counter, defaultdict
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

from despatch_cycle import backend_cpu_s, local_backend_pid  # noqa: E402
from django.db import DatabaseError, connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402
from incident_create import fill_recent, incident_body, setup_world  # noqa: E402
from throwaway_database import throwaway_database  # noqa: E402

STATS = re.compile(r"([0-9.]+) s user, ([0-9.]+) s system")


class Poster:
    """POSTs the bench's incident bodies, each with its own Idempotency-Key."""

    def __init__(self, token: str):
        self.client = Client(HTTP_AUTHORIZATION=f"Token {token}")
        self.rng = random.Random(1)
        self.count = 0

    def __call__(self) -> None:
        self.count += 1
        body = incident_body(self.rng, f"cost {self.count}", self.count)
        response = self.client.post(
            "/api/v1/incidents/", json.dumps(body), content_type="application/json",
            headers={"Idempotency-Key": f"cost-{self.count}"},
        )  # fmt: skip
        if response.status_code != 201:
            raise SystemExit(f"create answered {response.status_code}: {response.content[:300]!r}")


def calls_per_create(post: Poster, creates: int) -> float:
    calls = 0

    def count(frame: Any, event: str, arg: Any) -> None:
        nonlocal calls
        if event in ("call", "c_call"):
            calls += 1

    sys.setprofile(count)
    try:
        for _ in range(creates):
            post()
    finally:
        sys.setprofile(None)
    return calls / creates


def cpu_per_create(post: Poster, creates: int) -> tuple[float, float | None]:
    """This process's CPU a create, and its PostgreSQL backend's when the server runs here."""
    pid = local_backend_pid()
    own, theirs = time.process_time(), backend_cpu_s(pid) if pid else 0.0
    for _ in range(creates):
        post()
    own = (time.process_time() - own) * 1000 / creates
    return own, (backend_cpu_s(pid) - theirs) * 1000 / creates if pid else None


def wal_lsn() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_insert_lsn()")
        return cursor.fetchone()[0]


def wal_bytes_since(start: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), %s)", [start])
        return int(cursor.fetchone()[0])


BLOCK_REF = re.compile(r"rel (\d+)/(\d+)/(\d+)")


def wal_by_relation(start: str, end: str) -> list[tuple[str, int]] | None:
    """[(relation, bytes)] of the WAL records between two positions, largest first, each
    record charged to the relation of its first block (a record without one, as a commit's, to
    its resource manager in brackets; one in another database to "(elsewhere)"). None where
    PostgreSQL cannot say: `pg_walinspect` (PostgreSQL 15 and later, a superuser's extension)
    missing or refused. The extension is dropped again if this made it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_walinspect'")
        made = cursor.fetchone() is None
    try:
        if made:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("CREATE EXTENSION pg_walinspect")
    except DatabaseError:
        return None
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT oid FROM pg_database WHERE datname = current_database()")
            database = str(cursor.fetchone()[0])
            cursor.execute(
                "SELECT pg_relation_filenode(oid)::text, relname FROM pg_class "
                "WHERE pg_relation_filenode(oid) IS NOT NULL"
            )
            names = dict(cursor.fetchall())
            cursor.execute(
                "SELECT resource_manager, record_length, block_ref "
                "FROM pg_get_wal_records_info(%s, %s)",
                [start, end],
            )
            records = cursor.fetchall()
    finally:
        if made:
            with connection.cursor() as cursor:
                cursor.execute("DROP EXTENSION pg_walinspect")
    spent: Counter[str] = Counter()
    for manager, length, blocks in records:
        found = BLOCK_REF.search(blocks or "")
        if found is None:
            spent[f"({manager})"] += length
        elif found.group(2) != database:
            spent["(elsewhere)"] += length
        else:
            spent[names.get(found.group(3), f"relation {found.group(3)}")] += length
    return spent.most_common()


def wal_flushed() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_flush_lsn()")
        return cursor.fetchone()[0]


class Notices:
    """Stands in for psycopg2's notice list, which keeps only the last 50."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def append(self, notice: str) -> None:
        self.items.append(notice)


EXECUTE = re.compile(r'^EXECUTE "([^"]+)"')


def _label(sql: str) -> str:
    """A statement's key: an EXECUTE's prepared statement's name, else its first words."""
    found = EXECUTE.match(sql)
    return found.group(1) if found else " ".join(sql.split())[:90]


def _prepared_texts() -> dict[str, str]:
    """{prepared statement's name: its text}, from the server, for this connection."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT name, statement FROM pg_prepared_statements")
        return {
            name: " ".join(text.split(" AS ", 1)[-1].split())[:90]
            for name, text in cursor.fetchall()
        }


def statement_cpu(post: Poster, creates: int) -> list[tuple[str, float, float]]:
    """[(statement, ms of PostgreSQL CPU per create, times per create)], costliest first."""
    raw = connection.connection
    notices = Notices()
    kept, raw.notices = raw.notices, notices
    spent: dict[str, float] = defaultdict(float)
    seen: Counter[str] = Counter()

    def account(label: str, received: list[str]) -> None:
        for notice in received:
            if found := STATS.search(notice):
                spent[label] += float(found.group(1)) + float(found.group(2))
                seen[label] += 1

    def record(execute, sql, params, many, context):
        before = len(notices.items)
        try:
            return execute(sql, params, many, context)
        finally:
            received = notices.items[before:]
            del notices.items[before:]
            if len(received) > 1:  # the transaction's BEGIN, sent with its first statement
                account("BEGIN", received[:-1])
            account(_label(sql), received[-1:])

    with connection.cursor() as cursor:
        cursor.execute("SET client_min_messages = log")
        cursor.execute("SET log_statement_stats = on")
    notices.items.clear()
    try:
        with connection.execute_wrapper(record):
            for _ in range(creates):
                post()
                # What arrived outside any statement: the commit, its deferred triggers included.
                account("COMMIT", notices.items)
                notices.items.clear()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET log_statement_stats = off")
            cursor.execute("RESET client_min_messages")
        raw.notices = kept
    texts = _prepared_texts()
    rows = []
    for label, seconds in spent.items():
        name = f"EXECUTE {texts[label]}" if label in texts else label
        rows.append((name, seconds * 1000 / creates, seen[label] / creates))
    return sorted(rows, key=lambda row: -row[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="CI size")
    parser.add_argument("--creates", type=int, default=None, help="creates in each phase")
    parser.add_argument("--before", type=int, default=0, help="untimed creates made first")
    parser.add_argument("--rows", type=int, default=100, help="recent incidents to start from")
    args = parser.parse_args()
    creates = args.creates or (100 if args.small else 500)
    if connection.vendor != "postgresql":
        print("NOTE: not PostgreSQL (set DATABASE_URL): no per-statement figures.")
    setup_test_environment()
    with throwaway_database("bench_create_cost"):
        post = Poster(setup_world()[0])
        fill_recent(args.rows)
        for _ in range(20 + args.before):  # warm: imports, connection, prepared statements
            post()
        print(f"database: {connection.vendor}; {args.rows} recent incidents, then "
              f"{args.before} creates before measuring; {creates} creates a phase")  # fmt: skip
        print(f"Python calls per create: {calls_per_create(post, creates):,.0f}")
        start = wal_lsn() if connection.vendor == "postgresql" else None
        own, theirs = cpu_per_create(post, creates)
        backend = f"{theirs:.2f} ms" if theirs is not None else "not measured here"
        print(f"CPU per create: this process {own:.2f} ms, PostgreSQL backend {backend}")
        if start is not None:
            print(f"WAL per create: {wal_bytes_since(start) / creates:,.0f} bytes")
            # Each commit waited for its flush, so everything the creates wrote is readable.
            by_relation = wal_by_relation(start, wal_flushed())
            if by_relation is None:
                print("  by relation: not here (pg_walinspect: PostgreSQL 15+, a superuser)")
            for name, written in (by_relation or [])[:15]:
                print(f"  {written / creates:7,.0f} bytes  {name}")
        if connection.vendor == "postgresql":
            rows = statement_cpu(post, creates)
            print(f"PostgreSQL CPU by statement (log_statement_stats), "
                  f"{sum(ms for _, ms, _ in rows):.3f} ms a create in all:")  # fmt: skip
            for label, ms, times in rows:
                print(f"  {ms:6.3f} ms  x{times:4.2f}  {label}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
