"""Roster speed: render the roster page for a BCU, and apply a shift pattern to a team.

1. Render: a BCU of 500 officers (--small: 100) in 5 teams, 28 days of early/late/night shifts
   with strength minimums and skill requirements, every officer on a shift or a rest day each
   day. GET /roster/ (whole BCU, 28 days) through the Django test client, as a supervisor:
   wall time (p50 and max of 10) and the number of queries. Target < 300 ms, fixed queries.
2. Pattern: roster_pattern_apply for a team of 100 officers (--small: 20) × 28 days, applied to
   an empty roster and then again shifted by one day, so every cell changes. Target < 2 s.

Runs in a throw-away database (bench_<name>), created and dropped here.

    .venv/bin/python bench/roster.py [--small]
"""

import argparse
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

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, setup_test_environment  # noqa: E402
from django.utils import timezone  # noqa: E402
from throwaway_database import throwaway_database  # noqa: E402


def build(n_officers: int, start) -> tuple:
    from cad.accounts.services import user_provision
    from cad.models import BCU
    from duties.models import (
        Officer,
        OfficerSkill,
        RosterDay,
        Shift,
        ShiftAssignment,
        ShiftSkillRequirement,
        Team,
    )
    from duties.rules import at_local
    from duties.services import DEFAULT_SHIFT_TIMES
    from resources.models import Skill

    bcu = BCU.objects.create(code="CN", name="Central North")
    taser = Skill.objects.create(code="TASER", name="Taser")
    adv = Skill.objects.create(code="ADV", name="Advanced driver")
    teams = [Team.objects.create(bcu=bcu, name=f"Team {i + 1}") for i in range(5)]
    shifts: dict[tuple[int | None, int, str], Shift] = {}
    for t in teams:
        for d in range(28):
            day = start + timedelta(days=d)
            for kind, (a, b) in DEFAULT_SHIFT_TIMES.items():
                end_day = day + timedelta(days=1) if b <= a else day
                shifts[(t.pk, d, kind)] = Shift(
                    bcu=bcu, team=t, kind=kind, starts_at=at_local(day, a),
                    ends_at=at_local(end_day, b), minimum_strength=8,
                )  # fmt: skip
    Shift.objects.bulk_create(shifts.values())
    ShiftSkillRequirement.objects.bulk_create(
        [ShiftSkillRequirement(shift=s, skill=taser, count=2) for s in shifts.values()]
        + [ShiftSkillRequirement(shift=s, skill=adv, count=1) for s in shifts.values()]
    )
    officers = Officer.objects.bulk_create(
        [
            Officer(
                collar_number=f"{i:05d}CN",
                first_name=f"First{i}",
                last_name=f"Last{i}",
                bcu=bcu,
                team=teams[i % 5],
            )
            for i in range(n_officers)
        ]  # fmt: skip
    )
    OfficerSkill.objects.bulk_create(
        [OfficerSkill(officer=o, skill=taser) for o in officers[::3]]
        + [OfficerSkill(officer=o, skill=adv) for o in officers[::5]]
    )
    pattern = ["early", "early", "late", "late", "night", "night", "rest", "rest", "rest", "rest"]
    assignments, marks = [], []
    for n, o in enumerate(officers):
        for d in range(28):
            kind = pattern[(d + n % 5 * 2) % 10]
            if kind == "rest":
                marks.append(RosterDay(officer=o, date=start + timedelta(days=d), kind="rest"))
            else:
                assignments.append(ShiftAssignment(shift=shifts[(o.team_id, d, kind)], officer=o))
    ShiftAssignment.objects.bulk_create(assignments, batch_size=2000)
    RosterDay.objects.bulk_create(marks, batch_size=2000)
    user, _ = user_provision(username="bench_sgt", role="supervisor", bcu_code="CN",
                             password="a-Strong-pass-42", source="bench")  # fmt: skip
    return user, bcu, len(assignments), len(marks)


def bench_render(user, start, n: int = 10) -> dict:
    from cad.accounts.second_factor import SESSION_KEY

    client = Client()
    client.force_login(user)
    session = client.session  # the supervisor's second factor counts as done for the bench
    session[SESSION_KEY] = user.pk
    session.save()
    url = f"/roster/?from={start.isoformat()}"
    times = []
    queries = 0
    for _ in range(n):
        with CaptureQueriesContext(connection) as ctx:
            t0 = time.perf_counter()
            r = client.get(url)
            times.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200, r.status_code
        queries = len(ctx.captured_queries)
    # The first request also compiles templates and warms the URL resolver: reported apart.
    warm = times[1:]
    return {"cold": times[0], "p50": statistics.median(warm), "max": max(warm), "queries": queries,
            "bytes": len(r.content)}  # fmt: skip


def bench_pattern(user, bcu, n_officers: int, start) -> tuple[float, float, int]:
    from duties.models import Officer, Team
    from duties.services import parse_pattern, roster_pattern_apply

    team = Team.objects.create(bcu=bcu, name="Pattern team")
    Officer.objects.bulk_create(
        [
            Officer(
                collar_number=f"P{i:05d}", first_name="P", last_name=f"Pat{i}", bcu=bcu, team=team
            )
            for i in range(n_officers)
        ]  # fmt: skip
    )
    pattern = parse_pattern("EELLNNRRRR")
    t0 = time.perf_counter()
    first = roster_pattern_apply(team=team, start=start, days=28, pattern=pattern, by=user,
                                 source="bench")  # fmt: skip
    t1 = time.perf_counter()
    # Shifted by half a cycle: every one of the team's cells changes.
    second = roster_pattern_apply(
        team=team, start=start, days=28, pattern=pattern, by=user, offset=5, source="bench"
    )
    t2 = time.perf_counter()
    return (t1 - t0) * 1000, (t2 - t1) * 1000, first.changed + second.changed


def main() -> None:
    parser = argparse.ArgumentParser(description="roster benchmark")
    parser.add_argument("--small", action="store_true", help="CI size: 100 officers, 20 in pattern")
    args = parser.parse_args()
    n_officers, n_pattern = (100, 20) if args.small else (500, 100)
    db = settings.DATABASES["default"]
    postgres = db["ENGINE"] == "django.db.backends.postgresql"
    engine = "PostgreSQL" if postgres else "SQLite"
    print(
        f"database: {engine}; roster {n_officers} officers x 28 days; pattern {n_pattern} "
        f"officers x 28 days; machine: {os.cpu_count()} cores"
    )
    setup_test_environment()
    with throwaway_database("bench_roster"):
        today = timezone.localdate()
        start = today + timedelta(days=35 - today.weekday())
        t0 = time.perf_counter()
        user, bcu, n_assign, n_marks = build(n_officers, start)
        print(f"world built in {time.perf_counter() - t0:.1f} s: {n_assign} assignments, "
              f"{n_marks} rest days")  # fmt: skip
        r = bench_render(user, start)
        print(
            f"roster page, {n_officers} officers x 28 days ({r['bytes'] // 1024} KiB): first "
            f"(cold) {r['cold']:.0f} ms; then p50 {r['p50']:.0f} ms, max {r['max']:.0f} ms, "
            f"{r['queries']} queries (target < 300 ms, fixed queries)"
        )
        fresh, shifted, changed = bench_pattern(user, bcu, n_pattern, start)
        print(
            f"pattern apply, {n_pattern} officers x 28 days: empty roster {fresh:.0f} ms; "
            f"every cell changed {shifted:.0f} ms ({changed} cells in all; target < 2 s)"
        )


if __name__ == "__main__":
    main()
