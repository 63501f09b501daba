"""`manage.py simulate_demand --source sf|lfb --day YYYY-MM-DD [--speed 10] [--seed 1]
[--what-if fewer-units=10%|move-bcu=CN:AS|policy=nearest] [--by USER]`: play a real day's calls
into this training instance and print the day's response figures by grade (docs/simulation.md).

With `--what-if` it plays the day twice with the same seed, as it is and with the change, and
prints both side by side. Every run is kept for the what-if page (/stats/what-if/). Refuses to
run unless TRAINING is on.
"""

from datetime import date
from pathlib import Path

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError

from duties.simulation.selectors import comparison_text
from duties.simulation.services import (
    Change,
    SimulationError,
    change_parse,
    simulate_day,
    simulation_run_record,
)
from duties.simulation.sources import SOURCES, SourceError, day_calls


class Command(BaseCommand):
    help = "Play a real day's calls (SF mapped onto London, or LFB) into the training instance."

    def add_arguments(self, parser):
        parser.add_argument("--source", required=True, choices=SOURCES)
        parser.add_argument(
            "--day", required=True, type=date.fromisoformat, help="the real day, YYYY-MM-DD"
        )
        parser.add_argument(
            "--speed", type=float, default=0.0,
            help="simulated seconds per wall second (0: as fast as it goes)",
        )  # fmt: skip
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument(
            "--what-if", dest="what_if", default="",
            help="fewer-units=10%%, move-bcu=FROM:TO or policy=top|nearest|own-bcu",
        )  # fmt: skip
        parser.add_argument("--by", default="", help="whose name the runs go under (a user)")
        parser.add_argument(
            "--data", type=Path, default=None,
            help="the folder holding the extracts (default ../shared/data)",
        )  # fmt: skip

    def handle(self, *args, source, day, speed, seed, what_if, by, data, **options):
        if speed < 0:
            raise CommandError("--speed must be 0 (as fast as it goes) or more")
        user = self._user(by)
        try:
            change = change_parse(what_if) if what_if else None
            calls = day_calls(source, day, data=data)
            self.stdout.write(f"{source} {day}: {len(calls)} calls, seed {seed}")
            runs = [Change(), change] if change else [Change()]
            results, kept = [], None
            for run in runs:
                self.stdout.write(f"-- {run.label or 'as it was'}")
                result = simulate_day(calls=calls, seed=seed, by=user, change=run, speed=speed,
                                      say=self.stdout.write)  # fmt: skip
                for problem in result.skipped:
                    self.stdout.write(f"skipped {problem}")
                kept = simulation_run_record(result=result, source=source, day=day, seed=seed,
                                             change=run, by=user, baseline=kept)  # fmt: skip
                ratio = result.simulated_seconds / max(result.wall_seconds, 1e-9)
                self.stdout.write(
                    f"{result.calls} calls, {result.despatched} despatched; "
                    f"{result.simulated_seconds / 3600:.1f} simulated hours in "
                    f"{result.wall_seconds:.1f} s ({ratio:.0f}x real time); run {kept.pk}"
                )
                results.append(result)
        except (SimulationError, SourceError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write("Response figures by grade (grade at creation; docs/stats.md):")
        labels = ["as it was", *([change.label] if change else [])]
        for line in comparison_text(labels, [r.figures for r in results]):
            self.stdout.write(line)

    def _user(self, username: str) -> User:
        users = User.objects.filter(is_active=True)
        user = users.filter(username=username).first() if username else None
        if username and user is None:
            raise CommandError("--by must name an active user")
        # Without --by: the first superuser, else the first user, so a fresh training
        # instance seeded with seed_demo needs nothing more.
        user = user or users.filter(is_superuser=True).order_by("pk").first()
        user = user or users.order_by("pk").first()
        if user is None:
            raise CommandError("this instance has no users: run seed_demo or cad_user first")
        return user
