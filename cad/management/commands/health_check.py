"""`manage.py health_check NAME [NAME ...]`: run checks of /healthz/detail; exit 1 if any is down.

For container healthchecks of processes that serve no HTTP (beat, the radio bridge):

    python manage.py health_check beat
    python manage.py health_check radio_bridge

Names: the keys of /healthz/detail's `checks` (database, channel_layer, broker, queues, beat,
radio_bridge, radio_backlog).
"""

import json

from django.core.management.base import BaseCommand, CommandError

from cad.ops import health


class Command(BaseCommand):
    help = "Run named health checks (as /healthz/detail); exit status 1 if any is down."

    def add_arguments(self, parser):
        parser.add_argument("names", nargs="+")

    def handle(self, *args, names: list[str], **options):
        checks = {**health.CHECKS, **health.DETAIL_CHECKS}
        unknown = sorted(set(names) - set(checks))
        if unknown:
            raise CommandError(f"unknown checks {unknown}; known: {sorted(checks)}")
        results = {name: health.run_check(checks[name]) for name in names}
        self.stdout.write(json.dumps(results))
        down = [name for name, result in results.items() if result["status"] == health.DOWN]
        if down:
            raise CommandError(f"down: {', '.join(down)}")
