"""Benchmark: the demand simulator playing a real day into a training instance (issue 20, part 5).

    DATABASE_URL=postgres://postgres:postgres@127.0.0.1:5432/beacon_dev \\
        .venv/bin/python bench/simulate.py [--speed 0|60] [--source sf --day 2020-04-09]
    ... --small            (CI size: the LFB sample's 21 Sep 2023, 43 calls)

Runs as a training process (TRAINING=1): the database is DATABASE_URL's name + `_training`,
made, migrated and loaded with the London demo (seed_demo: 413 units in 12 BCUs) when it has no
units yet; never the live database. Plays the day through the real services
(`duties.simulation.services.simulate_day`: incidents, recommendations, assignments, status
changes, closes) and reports simulated time over wall time: how much faster than real time the
day plays. `--speed 0` (the default) runs as fast as it goes; `--speed 60` paces it at 60x and
reports the worst lag behind that pace (a day at 60x takes 24 minutes of wall time). The default
day is San Francisco's busiest of the fortnight (9 Apr 2020, 446 calls, mapped onto London).

Target (issue 20): a real day at 60x on 2 cores, i.e. at least 60x real time with no lag.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cad.settings")
# Run as a script, measure as production runs: no log of every query. Not when a test imports
# the module: its os.environ would reach every server a later test starts.
if __name__ == "__main__":
    os.environ.setdefault("DEBUG", "0")
os.environ["TRAINING"] = "1"  # before the settings load: the training database, never live

import dj_database_url  # noqa: E402
import django  # noqa: E402
from throwaway_database import create_if_missing_on_server  # noqa: E402


def _ensure_training_database() -> None:
    """Create `<live>_training` beside the live database if it is missing."""
    url = os.environ.get("TRAINING_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if not url:
        sys.exit("set DATABASE_URL (PostgreSQL): the bench runs in its training database")
    db = dj_database_url.parse(os.environ["DATABASE_URL"])
    name = (
        dj_database_url.parse(os.environ["TRAINING_DATABASE_URL"])["NAME"]
        if os.environ.get("TRAINING_DATABASE_URL")
        else f"{db['NAME']}_training"
    )
    create_if_missing_on_server(os.environ["DATABASE_URL"], name)


_ensure_training_database()
django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402

from duties.simulation.selectors import comparison_text  # noqa: E402
from duties.simulation.services import simulate_day  # noqa: E402
from duties.simulation.sources import day_calls  # noqa: E402
from resources.models import Unit  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default="sf", choices=("sf", "lfb"))
    parser.add_argument("--day", type=date.fromisoformat, default=None)
    parser.add_argument("--speed", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--small", action="store_true", help="the LFB day (43 calls)")
    args = parser.parse_args()
    source, day = ("lfb", date(2023, 9, 21)) if args.small else (args.source, args.day)
    day = day or date(2020, 4, 9)
    call_command("migrate", verbosity=0)
    if not Unit.objects.filter(active=True).exists():
        call_command("seed_demo", verbosity=0)
    by = User.objects.filter(is_superuser=True).order_by("pk").first() or User.objects.first()
    assert by is not None
    calls = day_calls(source, day)
    units = Unit.objects.filter(active=True).count()
    print(f"{source} {day}: {len(calls)} calls, {units} units, seed {args.seed}, "
          f"speed {'max' if not args.speed else f'{args.speed:g}x'}, "
          f"{os.cpu_count()} CPUs (shared with other work)")  # fmt: skip
    started = time.perf_counter()
    result = simulate_day(calls=calls, seed=args.seed, by=by, speed=args.speed)
    total = time.perf_counter() - started
    ratio = result.simulated_seconds / result.wall_seconds
    print(f"{result.calls} calls, {result.despatched} despatched; "
          f"{result.simulated_seconds / 3600:.1f} simulated hours (midnight to the last unit "
          f"clear) in {result.wall_seconds:.1f} s of wall time: {ratio:.0f}x real time "
          f"({total:.1f} s with the fleet's reset)")  # fmt: skip
    if args.speed:
        print(f"paced at {args.speed:g}x: worst lag behind the pace {result.worst_lag_s:.2f} s")
    for line in comparison_text(["figures"], [result.figures]):
        print("  " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
