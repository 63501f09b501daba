"""Benchmark: rebuilding the board at random moments of the last 24 hours of a busy day.

    DATABASE_URL=postgres://postgres@127.0.0.1/beacon_dev .venv/bin/python bench/replay.py
    ... --small            (CI size: 300 incidents, 100 units)

Runs in a throw-away database (bench_replay_<name>), never on real data. Builds a busy day
ending now: 600 units in 12 BCUs and 4,000 incidents spread over 24 hours, each taken, sent a
unit (incident and unit updated), en route, at scene, closed and the unit free again, with GPS
fixes from every unit on its way every 60 s; about 70,000 events, their payloads made by the apps'
own builders (`incidents.events.board_incident`, `resources.selectors.unit_payload`) and
inserted in bulk. Checkpoints are then written as beat would have written them (every 2,000
events or 5 minutes, `board_checkpoints_backfill`), and N random moments of the last 24 hours
are rebuilt as `GET /api/v1/board/at/` does (`seq_at` + `board_at` + JSON), p50/p99/max.

Target (issue 20): any moment of the last 24 hours of a busy day in < 1 s.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from datetime import timedelta
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

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402
from psycopg2.extras import execute_values  # noqa: E402
from throwaway_database import throwaway_database  # noqa: E402

GPS_EVERY_S = 60


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def _unit_row(unit: dict, status: str, at, lat: float, lon: float) -> dict:
    """A `.values()` row as `resources.selectors.unit_payload` reads it (UNIT_FIELDS but the
    id; tests/test_bench_replay_rows.py keeps these three builders in step with the apps)."""
    return {"callsign": unit["callsign"], "type__code": "IRV", "status": status, "status_at": at,
            "deployable": False, "lat": lat, "lon": lon, "position_at": at,
            "bcu__code": unit["bcu"], "issi": unit["issi"], "emergency": False,
            "emergency_at": None}  # fmt: skip


def _incident_row(inc: dict, status: str, version: int) -> dict:
    """A `.values()` row as `incidents.events.board_incident` reads it."""
    return {"id": inc["id"], "reference": inc["reference"], "type__code": "VIOL",
            "type__name": "Violence", "grade": inc["grade"], "status": status,
            "summary": "Shouting in the street, one male with a bottle", "lat": inc["lat"],
            "lon": inc["lon"], "address": f"{inc['id']} High Street", "bcu__code": inc["bcu"],
            "created_at": inc["at"], "due_at": inc["at"] + timedelta(minutes=15),
            "version": version, "operation_id": None}  # fmt: skip


def _job_row(incident_id: int, bcu: str, grade: str, sent) -> dict:
    """A unit's current assignment as `resources.selectors.current_jobs` reads it (JOB_FIELDS
    but the assignment's and unit's ids, which the payload does not show)."""
    return {"incident_id": incident_id, "incident__bcu__code": bcu, "incident__grade": grade,
            "assigned_at": sent, "en_route_at": None, "at_scene_at": None,
            "acknowledged_at": None}  # fmt: skip


def build_day(n_incidents: int, n_units: int, seed: int) -> int:
    """Units (rows) and a day of events (bulk), ending a minute ago. Returns the event count."""
    from cad.live.replay import board_checkpoint_create
    from cad.models import BCU, BoardCheckpoint, Station
    from incidents.events import INCIDENT_CLOSED, INCIDENT_CREATED, INCIDENT_UPDATED, board_incident
    from resources.events import UNIT_UPDATED
    from resources.models import Unit, UnitType
    from resources.selectors import unit_payload

    rng = random.Random(seed)
    bcus = [BCU.objects.create(code=f"B{i:02d}", name=f"BCU {i}") for i in range(12)]
    stations = [
        Station.objects.create(code=f"S{i:02d}", name=f"Station {i}", bcu=b, lat=51.5, lon=-0.1)
        for i, b in enumerate(bcus)
    ]
    unit_type = UnitType.objects.create(code="IRV", name="Incident Response Vehicle")
    end = timezone.now() - timedelta(minutes=1)
    start = end - timedelta(hours=24)
    Unit.objects.bulk_create(
        Unit(callsign=f"U{i:04d}", type=unit_type, station=stations[i % 12], bcu=bcus[i % 12],
             issi=f"{i:08d}", status="available", status_at=start, lat=51.5, lon=-0.1,
             position_at=start)
        for i in range(n_units)
    )  # fmt: skip
    # The day begins from a checkpoint of the units as they stood (beat's first).
    first = board_checkpoint_create()
    BoardCheckpoint.objects.filter(pk=first.pk).update(at=start)
    units: list[dict[str, Any]] = [
        {"callsign": f"U{i:04d}", "bcu": f"B{i % 12:02d}", "issi": f"{i:08d}", "free_at": start}
        for i in range(n_units)
    ]
    events: list[tuple] = []  # (at, type, bcu, data)

    def unit_event(unit, status, at, lat, lon, job):
        payload = unit_payload(_unit_row(unit, status, at, lat, lon), [], job)
        events.append((at, UNIT_UPDATED, unit["bcu"], payload))

    for n in range(1, n_incidents + 1):
        at = start + timedelta(seconds=rng.uniform(0, 24 * 3600 - 7200))
        bcu = f"B{rng.randrange(12):02d}"
        inc: dict[str, Any] = {
            "id": n, "reference": f"CAD {n:04d}/01Jan26", "grade": rng.choice("IESR"),
            "lat": 51.45 + rng.random() * 0.15, "lon": -0.25 + rng.random() * 0.3,
            "bcu": bcu, "at": at,
        }  # fmt: skip
        events.append((at, INCIDENT_CREATED, bcu, board_incident(_incident_row(inc, "open", 1))))
        unit = min((u for u in units if u["bcu"] == bcu), key=lambda u: u["free_at"])
        sent = max(at, unit["free_at"]) + timedelta(seconds=rng.uniform(30, 300))
        arrive = sent + timedelta(seconds=rng.uniform(300, 1200))
        leave = arrive + timedelta(seconds=rng.uniform(600, 3600))
        unit["free_at"] = leave
        job = _job_row(n, bcu, inc["grade"], sent)
        lat, lon = 51.5, -0.1
        incident_updated = (INCIDENT_UPDATED, bcu)
        events.append((sent, *incident_updated, board_incident(_incident_row(inc, "assigned", 2))))
        unit_event(unit, "assigned", sent, lat, lon, job)
        en_route = sent + timedelta(seconds=20)
        unit_event(unit, "en_route", en_route, lat, lon, {**job, "en_route_at": en_route})
        # GPS on the way (a unit standing at scene reports no new position)
        moment, steps = en_route, 0
        total = max(1, int((arrive - en_route).total_seconds() // GPS_EVERY_S))
        while moment + timedelta(seconds=GPS_EVERY_S) < arrive:
            moment += timedelta(seconds=GPS_EVERY_S)
            steps += 1
            f = min(1.0, steps / total)
            unit_event(
                unit,
                "en_route",
                moment,
                lat + (inc["lat"] - lat) * f,
                lon + (inc["lon"] - lon) * f,
                {**job, "en_route_at": en_route},
            )
        at_scene = {**job, "en_route_at": en_route, "at_scene_at": arrive}
        unit_event(unit, "at_scene", arrive, inc["lat"], inc["lon"], at_scene)
        events.append(
            (arrive, *incident_updated, board_incident(_incident_row(inc, "at_scene", 3)))
        )
        events.append(
            (leave, INCIDENT_CLOSED, bcu, board_incident(_incident_row(inc, "closed", 4)))
        )
        unit_event(unit, "available", leave, inc["lat"], inc["lon"], None)
    events = [e for e in events if e[0] <= end]
    events.sort(key=lambda e: e[0])
    rows = [(seq, at, type_, bcu, json.dumps(data, default=str))
            for seq, (at, type_, bcu, data) in enumerate(events, start=first.seq + 1)]  # fmt: skip
    with connection.cursor() as cursor:
        # Many rows per statement: one round trip per thousand events, not one per event.
        execute_values(
            cursor.cursor, "INSERT INTO cad_event (seq, at, type, bcu, data) VALUES %s", rows,
            page_size=1000,
        )  # fmt: skip
        cursor.execute("UPDATE cad_eventcounter SET last_seq = %s WHERE id = 1", [rows[-1][0]])
        cursor.execute("ANALYZE cad_event")
    return len(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="CI size")
    parser.add_argument("--moments", type=int, default=200, help="random moments to rebuild")
    parser.add_argument("--seed", type=int, default=20)
    args = parser.parse_args()
    n_incidents, n_units = (300, 100) if args.small else (4000, 600)
    moments = 30 if args.small else args.moments

    from cad.live.replay import board_at, board_checkpoints_backfill, seq_at
    from cad.models import BoardCheckpoint
    from cad.tasks import CHECKPOINT_EVERY_EVENTS, CHECKPOINT_EVERY_SECONDS

    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        print("needs PostgreSQL: set DATABASE_URL")
        return 1
    with throwaway_database("bench_replay"):
        from cad.models import EventCounter

        EventCounter.objects.get_or_create(id=1)
        t0 = time.perf_counter()
        n_events = build_day(n_incidents, n_units, args.seed)
        t1 = time.perf_counter()
        written = board_checkpoints_backfill(
            every_events=CHECKPOINT_EVERY_EVENTS, every_seconds=CHECKPOINT_EVERY_SECONDS
        )
        t2 = time.perf_counter()
        print(f"{n_incidents} incidents, {n_units} units: {n_events} events built and inserted "
              f"in {t1 - t0:.1f} s; {written} checkpoints backfilled in {t2 - t1:.1f} s "
              f"({BoardCheckpoint.objects.count()} in all)")  # fmt: skip
        rng = random.Random(args.seed + 1)
        now = timezone.now()
        times, sizes = [], []
        for _ in range(moments):
            moment = now - timedelta(seconds=rng.uniform(61, 24 * 3600 - 1))
            start = time.perf_counter()
            seq = seq_at(moment)
            body = json.dumps(board_at(seq=seq, bcu=None))
            times.append((time.perf_counter() - start) * 1000)
            sizes.append(len(json.loads(body)["incidents"]))
        print(f"rebuild {moments} random moments of the last 24 h (seq_at + board_at + JSON): "
              f"p50 {percentile(times, 50):.1f} ms, p99 {percentile(times, 99):.1f} ms, "
              f"max {max(times):.1f} ms (target < 1000 ms); open incidents per board "
              f"{min(sizes)}-{max(sizes)}")  # fmt: skip
        return 0 if max(times) < 1000 else 1


if __name__ == "__main__":
    sys.exit(main())
