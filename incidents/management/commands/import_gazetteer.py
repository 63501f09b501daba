"""`manage.py import_gazetteer FILE.csv`: load a real gazetteer (UPRN, address, postcode, lat, lon).

Idempotent: rows are keyed on their UPRN, so importing a newer extract updates what changed.
Rows that cannot be used (no UPRN, bad or out-of-area position) are skipped and counted, and the
first few are reported by line number; `--strict` refuses the whole file instead.
"""

import csv
import math
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from cad.geo.geometry import in_force_area
from incidents.models import GazetteerEntry
from incidents.selectors import gazetteer_normalise

REQUIRED = ("uprn", "address", "postcode", "lat", "lon")
BATCH = 2000


class Command(BaseCommand):
    help = "Import a gazetteer CSV with columns UPRN, address, postcode, lat, lon (header row)."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--strict", action="store_true", help="refuse the file on any bad row")
        parser.add_argument("--source", default="import", help="recorded on each entry")

    def handle(self, *args, file: Path, strict: bool, source: str, **options):
        if not file.exists():
            raise CommandError(f"{file}: no such file")
        with file.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            columns = {(name or "").strip().lower(): name for name in reader.fieldnames or []}
            missing = [c for c in REQUIRED if c not in columns]
            if missing:
                raise CommandError(f"missing column(s): {', '.join(missing)}")
            problems: list[str] = []
            batch: list[GazetteerEntry] = []
            imported = 0
            with transaction.atomic():
                for line, row in enumerate(reader, start=2):
                    entry, problem = self._entry(row, columns, source)
                    if problem:
                        problems.append(f"line {line}: {problem}")
                        if strict:
                            raise CommandError(problems[-1])
                        continue
                    batch.append(entry)
                    if len(batch) >= BATCH:
                        imported += self._save(batch)
                        batch = []
                imported += self._save(batch)
        for problem in problems[:10]:
            self.stderr.write(problem)
        self.stdout.write(f"imported {imported} entries, skipped {len(problems)}")
        if imported == 0 and problems:
            raise CommandError("nothing imported")

    def _entry(self, row, columns, source):
        def get(name: str) -> str:
            return (row.get(columns[name]) or "").strip()

        uprn, address, postcode = get("uprn"), get("address"), get("postcode").upper()
        if not uprn.isdigit() or len(uprn) > 12:
            return None, f"UPRN {uprn[:20]!r} is not 1 to 12 digits"
        if not address or len(address) > 300:
            return None, "address missing or longer than 300 characters"
        if len(postcode) > 10:
            return None, "postcode longer than 10 characters"
        try:
            lat, lon = float(get("lat")), float(get("lon"))
        except ValueError:
            return None, "lat/lon are not numbers"
        if not (math.isfinite(lat) and math.isfinite(lon)) or not in_force_area(lat, lon):
            return None, f"({lat}, {lon}) is outside the force's area"
        entry = GazetteerEntry(
            key=f"uprn:{uprn}", kind=GazetteerEntry.Kind.ADDRESS, uprn=uprn, address=address,
            postcode=postcode, lat=lat, lon=lon, source=source[:50],
            search=gazetteer_normalise(f"{address} {postcode}")[:320],
        )  # fmt: skip
        return entry, None

    def _save(self, batch: list[GazetteerEntry]) -> int:
        if not batch:
            return 0
        GazetteerEntry.objects.bulk_create(
            batch,
            update_conflicts=True,
            unique_fields=["key"],
            update_fields=["kind", "uprn", "address", "postcode", "lat", "lon", "search", "source"],
        )
        return len(batch)
