"""Importing the fallback log: calls taken on paper or in a spreadsheet while the CAD was down.

The format is docs/fallback-log.md. Each row becomes an incident entered retrospectively (its
real time of receipt), the units' attendances with their real times, and, with a result, the
closing code at its real time: all through the same services a desk uses
(`incidents.services.incident_create`, `resources.despatch.assignment_record_past`,
`incidents.services.incident_close`), so the log, the audit trail and the events are as for any
incident.

- Idempotent: a row's `serial` is its natural key (`FallbackRecord`); a row already imported is
  reported and skipped, never created twice.
- All or nothing: every row runs in one transaction, each in its own savepoint; if any row is
  refused the whole transaction is rolled back, unless `skip_bad` (then the good rows stay).
- Dry run: the same run, always rolled back; it reports what would be refused, by line.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from incidents.models import Grade
from incidents.operations.models import FallbackRecord
from incidents.operations.services import fallback_record_create
from incidents.selectors import gazetteer_resolve
from incidents.services import CallDetails, incident_close, incident_create
from resources.despatch import assignment_record_past
from resources.models import Unit

LONDON = ZoneInfo("Europe/London")
COLUMNS = ("serial", "received_at", "location", "lat", "lon", "type", "grade", "summary",
           "units", "result", "closed_at")  # fmt: skip
REQUIRED = ("serial", "received_at", "location", "type")
MAX_ROWS = 5000


class RowRefused(Exception):
    def __init__(self, reasons: list[str]):
        super().__init__("; ".join(reasons))
        self.reasons = reasons


@dataclass
class UnitVisit:
    callsign: str
    sent: datetime
    at_scene: datetime | None
    cleared: datetime | None


@dataclass
class Row:
    line: int
    serial: str
    received_at: datetime
    location: str
    lat: float | None
    lon: float | None
    type: str
    grade: str | None
    summary: str
    units: list[UnitVisit]
    result: str
    closed_at: datetime | None


@dataclass
class ImportReport:
    imported: list[tuple[int, str, str]] = field(default_factory=list)  # line, serial, reference
    already: list[tuple[int, str, str]] = field(default_factory=list)
    refused: list[tuple[int, str, list[str]]] = field(default_factory=list)  # line, serial, why
    committed: bool = False


# --- parsing ------------------------------------------------------------------------------------


def _moment(text: str, *, day: date | None, after: datetime | None) -> datetime:
    """A full ISO time (with offset, or London local), or HH:MM on `day` (London), rolled past
    midnight when it would fall before `after` (a job that ran over midnight)."""
    text = text.strip()
    if len(text) <= 5 and ":" in text and day is not None:
        hh, mm = text.split(":")
        moment = datetime.combine(day, time(int(hh), int(mm)), tzinfo=LONDON)
        if after is not None and moment < after:
            moment += timedelta(days=1)
        return moment
    moment = datetime.fromisoformat(text.replace(" ", "T", 1) if "T" not in text else text)
    return moment if moment.tzinfo else moment.replace(tzinfo=LONDON)


def _units(text: str, received: datetime, reasons: list[str]) -> list[UnitVisit]:
    visits = []
    day = received.astimezone(LONDON).date()
    for part in [p.strip() for p in text.split(";") if p.strip()]:
        bits = part.split()
        if len(bits) not in (2, 3, 4):
            reasons.append(f"units: {part!r} is not 'CALLSIGN sent [at_scene|-] [cleared|-]'.")
            continue
        bits += ["-"] * (4 - len(bits))
        try:
            sent = _moment(bits[1], day=day, after=received)
            scene = None if bits[2] == "-" else _moment(bits[2], day=day, after=sent)
            cleared = None if bits[3] == "-" else _moment(bits[3], day=day, after=scene or sent)
        except ValueError:
            reasons.append(f"units: bad time in {part!r} (HH:MM or an ISO 8601 time).")
            continue
        visits.append(UnitVisit(bits[0], sent, scene, cleared))
    return visits


def parse_row(line: int, raw: dict[str, str]) -> Row:
    reasons: list[str] = []
    value = {k: (raw.get(k) or "").strip() for k in COLUMNS}
    for name in REQUIRED:
        if not value[name]:
            reasons.append(f"{name}: required.")
    if len(value["serial"]) > 64:
        reasons.append("serial: at most 64 characters.")
    received = None
    if value["received_at"]:
        try:
            received = _moment(value["received_at"], day=None, after=None)
        except ValueError:
            reasons.append("received_at: not a date and time (e.g. 2026-11-30 14:03).")
    lat = lon = None
    if value["lat"] or value["lon"]:
        try:
            lat, lon = float(value["lat"]), float(value["lon"])
        except ValueError:
            reasons.append("lat/lon: give both, as decimal degrees.")
    grade = value["grade"] or None
    if grade is not None and grade not in Grade.values:
        reasons.append(f"grade: one of {', '.join(Grade.values)}.")
    units: list[UnitVisit] = []
    closed_at = None
    if received is not None:
        units = _units(value["units"], received, reasons)
        if value["closed_at"]:
            try:
                last = max([received, *[u.cleared or u.at_scene or u.sent for u in units]])
                closed_at = _moment(value["closed_at"], day=received.astimezone(LONDON).date(),
                                    after=last)  # fmt: skip
            except ValueError:
                reasons.append("closed_at: not a time.")
    if value["result"] and closed_at is None and "closed_at: not a time." not in reasons:
        reasons.append("closed_at: required with a result.")
    for visit in units:
        if visit.cleared is None:
            if closed_at is None:
                reasons.append(
                    f"units: {visit.callsign} has no cleared time and the incident no result; "
                    "a unit still there is entered on the live system."
                )
            else:
                visit.cleared = closed_at
    if reasons or received is None:
        raise RowRefused(reasons)
    return Row(line=line, serial=value["serial"], received_at=received,
               location=value["location"], lat=lat, lon=lon, type=value["type"], grade=grade,
               summary=value["summary"], units=units, result=value["result"],
               closed_at=closed_at)  # fmt: skip


def _messages(error: ValidationError) -> list[str]:
    if hasattr(error, "error_dict"):
        return [f"{name}: {m}" for name, errs in error.message_dict.items() for m in errs]
    return list(error.messages)


# --- importing ------------------------------------------------------------------------------------


def _import_row(row: Row, *, by: User, source_file: str) -> str:
    lat, lon = row.lat, row.lon
    if lat is None or lon is None:
        entry, candidates = gazetteer_resolve(row.location)
        if entry is None:
            why = "matches several places" if candidates else "is not in the gazetteer"
            raise RowRefused([f"location: {row.location!r} {why}; give lat and lon."])
        lat, lon = entry["lat"], entry["lon"]
    units = {
        u.callsign: u for u in Unit.objects.filter(callsign__in=[v.callsign for v in row.units])
    }
    unknown = [v.callsign for v in row.units if v.callsign not in units]
    if unknown:
        raise RowRefused([f"units: no such unit {', '.join(unknown)}."])
    incident = incident_create(
        by=by, type_code=row.type, lat=lat, lon=lon, address=row.location, grade=row.grade,
        summary=row.summary, at=row.received_at, retrospective=True, source="import_fallback",
        call=CallDetails(address=row.location, notes=f"Fallback log serial {row.serial}."),
    )  # fmt: skip
    for visit in row.units:
        assignment_record_past(
            incident=incident, unit=units[visit.callsign], by=by, assigned_at=visit.sent,
            at_scene_at=visit.at_scene, cleared_at=visit.cleared or visit.sent,
            source="import_fallback",
        )  # fmt: skip
    if row.result:
        incident_close(incident=incident, by=by, closing_code=row.result, at=row.closed_at,
                       source="import_fallback")  # fmt: skip
    fallback_record_create(key=row.serial, incident=incident, by=by, source_file=source_file,
                           line=row.line)  # fmt: skip
    return incident.reference


def fallback_import(
    *, text: str, by: User, source_file: str = "", dry_run: bool = False, skip_bad: bool = False
) -> ImportReport:
    """Import a fallback-log CSV (docs/fallback-log.md); see the module docstring for the rules."""
    report = ImportReport()
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
    if missing:
        report.refused.append((1, "", [f"header: missing column(s) {', '.join(missing)}."]))
        return report
    seen: set[str] = set()
    with transaction.atomic():
        for count, raw in enumerate(reader, start=1):
            line = reader.line_num  # the file's line (a quoted field may span several)
            serial = (raw.get("serial") or "").strip()
            if count > MAX_ROWS:
                report.refused.append((line, serial, [f"file: more than {MAX_ROWS} rows."]))
                break
            if serial and serial in seen:
                report.refused.append((line, serial, ["serial: repeated in this file."]))
                continue
            seen.add(serial)
            done = FallbackRecord.objects.filter(key=serial).select_related("incident").first()
            if serial and done is not None:
                report.already.append((line, serial, done.incident.reference))
                continue
            try:
                row = parse_row(line, raw)
                with transaction.atomic():
                    reference = _import_row(row, by=by, source_file=source_file)
            except RowRefused as refused:
                report.refused.append((line, serial, refused.reasons))
            except ValidationError as error:
                report.refused.append((line, serial, _messages(error)))
            except IntegrityError:
                report.refused.append(
                    (line, serial, ["serial: imported meanwhile by another run."])
                )
            else:
                report.imported.append((line, serial, reference))
        if dry_run or (report.refused and not skip_bad):
            transaction.set_rollback(True)
        else:
            report.committed = True
    return report
