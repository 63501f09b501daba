"""`manage.py import_fallback FILE.csv --user NAME [--dry-run] [--skip-bad]`: load the calls
recorded on the fallback log while the CAD was down (docs/fallback-log.md)."""

from pathlib import Path

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError

from resources.fallback import fallback_import


class Command(BaseCommand):
    help = "Import a fallback-log CSV (docs/fallback-log.md); all or nothing unless --skip-bad."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--user", required=True, help="who is entering the rows (audited)")
        parser.add_argument("--dry-run", action="store_true",
                            help="check every row, list those refused, import nothing")  # fmt: skip
        parser.add_argument("--skip-bad", action="store_true",
                            help="import the good rows even when some are refused")  # fmt: skip

    def handle(self, *args, **options):
        path = Path(options["file"])
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"cannot read {path}: {exc}") from exc
        user = User.objects.filter(username=options["user"], is_active=True).first()
        if user is None:
            raise CommandError(f"no active user {options['user']!r}")
        report = fallback_import(
            text=text, by=user, source_file=str(path),
            dry_run=options["dry_run"], skip_bad=options["skip_bad"],
        )  # fmt: skip
        for line, serial, reasons in report.refused:
            self.stdout.write(
                f"line {line} ({serial or 'no serial'}): refused: " + "; ".join(reasons)
            )
        for line, serial, reference in report.already:
            self.stdout.write(f"line {line} ({serial}): already imported as {reference}")
        verb = "would import" if options["dry_run"] else "imported"
        if not report.committed and not options["dry_run"]:
            verb = "imported nothing; would have imported"
        self.stdout.write(f"{verb} {len(report.imported)} row(s); {len(report.already)} already "
                          f"imported; {len(report.refused)} refused")  # fmt: skip
        for line, serial, reference in report.imported:
            self.stdout.write(f"line {line} ({serial}): {reference}")
        if report.refused and not options["dry_run"] and not options["skip_bad"]:
            raise CommandError("rows refused: nothing imported (fix them, or use --skip-bad)")
