"""`manage.py train_router [--days N]`: train a new version of the learned router from the
last N days of attendances (docs/decisions/0021-learned-router.md). Beat does this nightly."""

from django.core.management.base import BaseCommand, CommandError

from resources.recommend.conf import conf
from resources.recommend.training import travel_model_train


class Command(BaseCommand):
    help = "Train the learned router from past attendances (assigned → at scene)."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=None,
                            help=f"days of history (default {conf('LEARNED_DAYS')})")  # fmt: skip

    def handle(self, *args, days=None, **options):
        if days is not None and not 1 <= days <= 3650:
            raise CommandError("--days takes 1 to 3650")
        model = travel_model_train(days=days)
        if model is None:
            self.stdout.write(
                f"not trained: fewer than {conf('LEARNED_MIN_ATTENDANCES')} attendances; "
                "recommendations keep the straight-line estimate"
            )
            return
        p = model.parameters
        self.stdout.write(
            f"travel model v{model.version}: {model.attendances} attendances from "
            f"{model.window_start:%Y-%m-%d} to {model.window_end:%Y-%m-%d}; "
            f"{p['mobilise_s']:.0f} s + {p['pace_s_per_km']:.0f} s per straight-line km, "
            f"{len(p['origins'])} origin areas"
        )
