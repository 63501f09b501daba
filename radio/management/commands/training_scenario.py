"""`manage.py training_scenario FILE --by TRAINER [--speed 1] [--check]`: play a scripted
scenario (JSON or YAML; docs/training.md) into this training instance.

Refuses to run unless TRAINING is on. `--check` only reads and checks the file.
"""

from pathlib import Path

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError

from radio.training import ScenarioError, scenario_load, scenario_run


class Command(BaseCommand):
    help = "Play a training scenario: incidents, calls and radio messages at set times."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--by", default="", help="the trainer's username (on the record)")
        parser.add_argument("--speed", type=float, default=1.0, help="1 = real time, 10 = 10x")
        parser.add_argument("--check", action="store_true", help="check the file, run nothing")

    def handle(self, *args, file: Path, by: str, speed: float, check: bool, **options):
        try:
            scenario = scenario_load(file)
            if check:
                self.stdout.write(f"{scenario['name']}: {len(scenario['steps'])} steps, valid")
                return
            if speed <= 0:
                raise CommandError("--speed must be more than 0")
            trainer = User.objects.filter(username=by, is_active=True).first()
            if trainer is None:
                raise CommandError("--by must name an active user (the trainer)")
            made = scenario_run(scenario, by=trainer, speed=speed, say=self.stdout.write)
        except ScenarioError as exc:
            raise CommandError("\n".join(exc.problems)) from exc
        self.stdout.write(f"{scenario['name']}: done, {len(made)} incidents")
