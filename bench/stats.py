"""Benchmark: `GET /api/v1/stats/response-times/` over a year of London demand.

    DATABASE_URL=postgres://postgres@127.0.0.1/beacon_dev .venv/bin/python bench/stats.py
    ... --small            (CI size: 20,000 incidents; also runs on SQLite)
    ... --repeat 20        (timed requests per case and path, after one warm-up)

Runs in a throw-away database (bench_stats_<name>), never on real data. Builds about 1.5
million incidents over 365 days (the MPS answers roughly 4,100 a day) across 12 BCUs, with
their response rows: grades I 20 %, S 35 %, E 30 %, R 15 %; I and S attended in 97 % of cases
after a log-normal wait (I median 9 min, S median 35 min). On PostgreSQL the rows are made by
the server (`INSERT ... SELECT` over `generate_series`), which takes about a minute; the
roll-up's triggers count them in the same statement.

Then it times the endpoint through the whole Django stack (token authentication, middleware,
view, JSON): all London for the year, one BCU for the year, one BCU for 28 days; p50 and p99
of `--repeat` requests after one warm-up. On PostgreSQL each case is timed twice on the same
data: "before", the rows read directly as before the roll-up (`STATS_RESPONSE_ROLLUP` off, and
the index the roll-up added dropped inside a transaction that is rolled back, so the planner
sees the earlier schema), and "after", from the daily roll-up; the two answers must be equal.
Target (issue 16): under 500 ms.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import sys
import time
from contextlib import contextmanager, nullcontext
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cad.settings")
# Run as a script, measure as production runs: no log of every query. Not when a test imports
# the module: its os.environ would reach every server a later test starts.
if __name__ == "__main__":
    os.environ.setdefault("DEBUG", "0")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402
from throwaway_database import throwaway_database  # noqa: E402

LONDON = ZoneInfo("Europe/London")
DAYS = 365
TARGET_MS = 500

GENERATE_SQL = """
CREATE TEMP TABLE bench_gen AS
SELECT n, t, grade, bcu_id,
       CASE WHEN grade IN ('I', 'S') AND random() < 0.97
            THEN greatest(30, round(exp(ln(CASE grade WHEN 'I' THEN 540 ELSE 2100 END)
                 + 0.6 * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()))))::int
       END AS response_seconds
FROM (
  SELECT n,
         %(start)s::timestamptz + ((n - 1) * %(seconds)s / %(n)s) * interval '1 second' AS t,
         CASE WHEN r < 0.20 THEN 'I' WHEN r < 0.55 THEN 'S' WHEN r < 0.85 THEN 'E' ELSE 'R' END
           AS grade,
         (%(bcus)s::int[])[1 + (n %% 12)] AS bcu_id
  FROM (SELECT n, random() AS r FROM generate_series(1, %(n)s) AS n) AS numbers
) AS made;

INSERT INTO incidents_incident
  (reference, reference_date, reference_number, type_id, grade, status, summary, address,
   resolved_address, lat, lon, bcu_id, thrive, created_at, created_by_id, due_at, updated_at,
   version)
SELECT 'B' || n, (t AT TIME ZONE 'Europe/London')::date, n, %(type)s, grade, 'closed', '', '',
       '', 51.5, -0.12, bcu_id, '{}', t, %(user)s, NULL, t, 1
FROM bench_gen;

INSERT INTO incidents_incidentresponse
  (incident_id, bcu_id, grade, received_at, day, hour_of_week, target_at, first_at_scene_at,
   response_seconds)
SELECT i.id, g.bcu_id, g.grade, g.t, (g.t AT TIME ZONE 'Europe/London')::date,
       ((extract(isodow FROM g.t AT TIME ZONE 'Europe/London') - 1) * 24
        + extract(hour FROM g.t AT TIME ZONE 'Europe/London'))::int,
       CASE g.grade WHEN 'I' THEN g.t + interval '15 minutes'
                    WHEN 'S' THEN g.t + interval '60 minutes' END,
       g.t + g.response_seconds * interval '1 second', g.response_seconds
FROM bench_gen g JOIN incidents_incident i ON i.reference = 'B' || g.n;

DROP TABLE bench_gen;
"""


def build(n: int, start) -> dict:
    from django.contrib.auth.models import Group, User
    from knox.models import AuthToken

    from cad.models import BCU
    from incidents.models import Incident, IncidentResponse, IncidentType

    bcus = [BCU.objects.create(code=f"B{i:02d}", name=f"BCU {i}") for i in range(12)]
    kind = IncidentType.objects.create(code="VIOL", name="Violence", category="crime",
                                       default_grade="I")  # fmt: skip
    user = User.objects.create(username="bench")
    user.groups.add(Group.objects.get_or_create(name="admin")[0])
    t0 = time.perf_counter()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # Making the rows takes longer than the statement limit the app runs under; the
            # timed requests below run under it again (RESET).
            cursor.execute("SET statement_timeout = 0")
            cursor.execute(GENERATE_SQL, {
                "start": start, "seconds": DAYS * 86400.0, "n": n,
                "bcus": [b.pk for b in bcus], "type": kind.pk, "user": user.pk,
            })  # fmt: skip
            # What autovacuum does to a table in steady use: statistics, and the visibility map
            # that lets the covering index answer without visiting the table (VACUUM cannot run
            # inside a transaction block, so not in the script above).
            cursor.execute("VACUUM ANALYZE incidents_incident")
            cursor.execute("VACUUM ANALYZE incidents_incidentresponse")
            cursor.execute("VACUUM ANALYZE incidents_responseday")
            cursor.execute("RESET statement_timeout")
    else:
        rng = random.Random(16)
        step = DAYS * 86400 / n
        for lo in range(0, n, 5000):
            made = []
            for k in range(lo, min(n, lo + 5000)):
                t = start + timedelta(seconds=k * step)
                r = rng.random()
                grade = "I" if r < 0.2 else "S" if r < 0.55 else "E" if r < 0.85 else "R"
                made.append(Incident(reference=f"B{k}", reference_date=t.date(),
                                     reference_number=k, type=kind, grade=grade, status="closed",
                                     lat=51.5, lon=-0.12, bcu=bcus[k % 12], created_at=t,
                                     created_by=user))  # fmt: skip
            made = Incident.objects.bulk_create(made)
            rows = []
            for inc in made:
                t, local = inc.created_at, inc.created_at.astimezone(LONDON)
                wait = None
                if inc.grade in "IS" and rng.random() < 0.97:
                    median = 540 if inc.grade == "I" else 2100
                    wait = max(30, round(median * math.exp(rng.gauss(0, 0.6))))
                target = {"I": 900, "S": 3600}.get(inc.grade)
                rows.append(IncidentResponse(
                    incident=inc, bcu=inc.bcu, grade=inc.grade, received_at=t, day=local.date(),
                    hour_of_week=local.weekday() * 24 + local.hour,
                    target_at=t + timedelta(seconds=target) if target else None,
                    first_at_scene_at=t + timedelta(seconds=wait) if wait else None,
                    response_seconds=wait,
                ))  # fmt: skip
            IncidentResponse.objects.bulk_create(rows)
    print(f"built {IncidentResponse.objects.count():,} incidents and response rows "
          f"in {time.perf_counter() - t0:.0f} s")  # fmt: skip
    return {"token": AuthToken.objects.create(user=user)[1], "bcu": bcus[3].code}


def timed(fn, repeat: int) -> tuple[list[float], Any]:
    """Seconds of `repeat` runs, after one warm-up, and the last answer."""
    answer = fn()
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        answer = fn()
        runs.append(time.perf_counter() - t0)
    return runs, answer


def p(runs: list[float], fraction: float) -> float:
    """Milliseconds at `fraction` (inclusive quantiles: with 20 runs p99 is near the slowest)."""
    return statistics.quantiles(runs, n=100, method="inclusive")[round(fraction * 100) - 1] * 1000


@contextmanager
def before_the_roll_up():
    """The figures read from the response rows, on the schema they had before the roll-up."""
    with transaction.atomic():
        settings.STATS_RESPONSE_ROLLUP = False
        try:
            with connection.cursor() as cursor:
                cursor.execute("DROP INDEX response_grade_seconds_idx")
            yield
        finally:
            settings.STATS_RESPONSE_ROLLUP = True
            transaction.set_rollback(True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="CI size")
    parser.add_argument("--incidents", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=20, help="timed requests per case")
    args = parser.parse_args()
    n = args.incidents or (20_000 if args.small else 1_500_000)

    with throwaway_database("bench_stats"):
        today = timezone.localdate()
        first = today - timedelta(days=DAYS)
        start = datetime(first.year, first.month, first.day, tzinfo=LONDON)
        world = build(n, start)
        client = Client(HTTP_AUTHORIZATION=f"Token {world['token']}", HTTP_HOST="localhost")
        url = "/api/v1/stats/response-times/"
        year = {"from": first.isoformat(), "to": (today - timedelta(days=1)).isoformat()}
        month = {"from": (today - timedelta(days=28)).isoformat(),
                 "to": (today - timedelta(days=1)).isoformat()}  # fmt: skip
        cases = [
            ("all London, 365 days", year),
            (f"one BCU ({world['bcu']}), 365 days", {**year, "bcu": world["bcu"]}),
            (f"one BCU ({world['bcu']}), 28 days", {**month, "bcu": world["bcu"]}),
        ]
        print(f"database: {connection.vendor}; {n:,} incidents over {DAYS} days, 12 BCUs; "
              f"load average {os.getloadavg()[0]:.2f} (1 min) at the start")  # fmt: skip
        paths: list[tuple[str, Any]] = [("before", before_the_roll_up), ("after", nullcontext)]
        if connection.vendor != "postgresql":
            paths = [("live (no roll-up on this database)", nullcontext)]
        worst = 0.0
        for name, params in cases:
            answers = []
            for path, context in paths:
                with context():
                    runs, response = timed(lambda p=params: client.get(url, p), args.repeat)
                body = response.json()
                assert response.status_code == 200, body
                answers.append(body)
                i = body["grades"]["I"]
                print(f"{name}, {path}: p50 {p(runs, 0.5):.0f} ms, p99 {p(runs, 0.99):.0f} ms "
                      f"of {args.repeat} (I: {i['incidents']:,} incidents, "
                      f"{i['pct_within_target']} % within, p50 {i['p50_seconds']} s, "
                      f"p90 {i['p90_seconds']} s; {len(body['by_day'])} daily rows)")  # fmt: skip
            assert all(a == answers[0] for a in answers), f"{name}: the paths disagree"
            worst = max(worst, p(runs, 0.5))
        print(f"load average {os.getloadavg()[0]:.2f} (1 min) at the end")
        ok = worst < TARGET_MS
        print(f"slowest p50 {worst:.0f} ms (target < {TARGET_MS} ms): {'PASS' if ok else 'FAIL'}")
        return 0 if ok or args.small else 1


if __name__ == "__main__":
    sys.exit(main())
