"""Benchmark: the board snapshot selector at 2,000 open incidents and 5,000 units.

    DATABASE_URL=postgres://postgres@127.0.0.1/beacon_dev .venv/bin/python bench/board_snapshot.py
    ... --small            (CI size: 200 incidents, 500 units)

Runs in a throw-away database (bench_board_snapshot_<name>), never on real data. Measures
`cad.live.snapshot.board_snapshot(bcu=None)` + `json.dumps` (what a fresh board or a resync that is
too old receives), its query count, and the floor: bare `.values()` of the same rows of both
tables + `json.dumps`. Targets (issue 4): at most 5 queries, not growing with rows; time at
most 3x the floor.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import timedelta
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
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402
from throwaway_database import throwaway_database  # noqa: E402


def build(n_incidents: int, n_units: int) -> None:
    from django.contrib.auth.models import User

    from cad.models import BCU, Station
    from incidents.models import Incident, IncidentType
    from resources.models import Assignment, Skill, Unit, UnitType

    bcus = [BCU.objects.create(code=f"B{i:02d}", name=f"BCU {i}") for i in range(12)]
    stations = [
        Station.objects.create(code=f"S{i:02d}", name=f"Station {i}", bcu=b, lat=51.5, lon=-0.1)
        for i, b in enumerate(bcus)
    ]
    unit_type = UnitType.objects.create(code="IRV", name="Incident Response Vehicle")
    skills = [Skill.objects.create(code=c, name=c) for c in ("TASER", "DOG", "ARV", "MEDIC")]
    kind = IncidentType.objects.create(code="VIOL", name="Violence", category="crime",
                                       default_grade="I")  # fmt: skip
    user = User.objects.create(username="bench")
    now = timezone.now()
    units = Unit.objects.bulk_create(
        Unit(callsign=f"U{i:05d}", type=unit_type, station=stations[i % 12], bcu=bcus[i % 12],
             issi=f"{i:08d}", status="available", status_at=now, lat=51.5 + (i % 100) / 1000,
             lon=-0.1 - (i % 77) / 1000, position_at=now)
        for i in range(n_units)
    )  # fmt: skip
    Unit.skills.through.objects.bulk_create(
        Unit.skills.through(unit_id=u.pk, skill_id=skills[i % 4].pk)
        for i, u in enumerate(units)
        if i % 3 == 0
    )
    incidents = Incident.objects.bulk_create(
        Incident(reference=f"CAD {i:04d}/01Jan26", reference_date=now.date(), reference_number=i,
                 type=kind, grade="ISER"[i % 4], status="open", summary="x" * 80,
                 address=f"{i} High Street", lat=51.5, lon=-0.1, bcu=bcus[i % 12],
                 created_at=now - timedelta(minutes=i), created_by=user,
                 due_at=now + timedelta(minutes=15))
        for i in range(1, n_incidents + 1)
    )  # fmt: skip
    # A third of the incidents have a unit on them (realistic for a busy night).
    jobs = [
        Assignment(incident=inc, unit=units[k], assigned_at=now)
        for k, inc in enumerate(incidents[: min(len(incidents) // 3, len(units))])
    ]
    Assignment.objects.bulk_create(jobs)
    Incident.objects.filter(pk__in=[j.incident_id for j in jobs]).update(status="assigned")
    Unit.objects.filter(pk__in=[j.unit_id for j in jobs]).update(status="assigned")


def timed(fn, repeat: int) -> float:
    """Median seconds over `repeat` runs, after one warm-up."""
    fn()
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="CI size")
    args = parser.parse_args()
    n_incidents, n_units = (200, 500) if args.small else (2000, 5000)

    from cad.live.snapshot import board_snapshot
    from incidents.events import BOARD_FIELDS
    from incidents.models import Incident
    from resources.models import Unit
    from resources.selectors import UNIT_FIELDS

    with throwaway_database("bench_board_snapshot"):
        build(n_incidents, n_units)

        def snapshot():
            return json.dumps(board_snapshot(bcu=None))

        def floor():
            rows = {
                "incidents": list(Incident.objects.exclude(status="closed").values(*BOARD_FIELDS)),
                "units": list(Unit.objects.filter(active=True).values(*UNIT_FIELDS)),
            }
            return json.dumps(rows, default=str)

        with CaptureQueriesContext(connection) as queries:
            body = snapshot()
        data = json.loads(body)["data"]
        assert len(data["incidents"]) == n_incidents and len(data["units"]) == n_units
        t_snapshot = timed(snapshot, 5)
        t_floor = timed(floor, 5)
        ratio = t_snapshot / t_floor
        print(f"database: {connection.vendor}; {n_incidents} open incidents, {n_units} units")
        print(f"snapshot queries: {len(queries)} (target <= 5)")
        print(f"snapshot + json.dumps: {t_snapshot * 1000:.1f} ms median of 5; "
              f"{len(body) / 1e6:.2f} MB")  # fmt: skip
        print(f"floor (.values() + json.dumps): {t_floor * 1000:.1f} ms")
        print(f"ratio: {ratio:.2f}x (target <= 3x)")
        ok = len(queries) <= 5 and ratio <= 3
        print("PASS" if ok else "FAIL")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
