"""The only write path for incidents: creation, calls, log, grade, qualifiers, links, closing.

Locking rule (style guide): lock the incident first (then units, in resources.services). Two
incidents are locked in id order. Every service writes its audit row and its board event inside
its own transaction, so nothing is heard of a change that rolled back.

Apps above this one (resources) are never imported here. They hear of changes through events
(`incidents.events`: recommendations follow `incident.created`, `incident.regraded` and
`incident.reopened` after commit) and take part in closing through a hook they register
(`incident_close_hook_register`: resources frees the units inside the closing transaction).
They write this app's rows only through the functions in the "for resources" section below.

Bad input raises django.core.exceptions.ValidationError with a field dict (the API answers 400);
a valid request the state forbids raises cad.errors.Conflict (409).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from cad.api.fields import control_characters
from cad.audit.trail import audit_record
from cad.errors import Conflict
from cad.geo.geometry import bcu_at, in_force_area
from cad.prepared import PreparedInsert, PreparedRows, PreparedSQL
from incidents.events import (
    incident_closed,
    incident_created,
    incident_regraded,
    incident_reopened,
    incident_updated,
)
from incidents.models import (
    GRADE_TARGETS,
    Call,
    ClosingCode,
    DailySequence,
    Grade,
    GradeChange,
    Incident,
    IncidentLogEntry,
    IncidentResponse,
    IncidentStatus,
    IncidentType,
    Qualifier,
    WarningMarker,
)
from incidents.operations.selectors import operation_covering
from incidents.public.validation import uk_mobile

LONDON = ZoneInfo("Europe/London")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# Retrospective entry (after an outage): how far back a call may be entered, and how far ahead
# of this server's clock a "past" time may be (clocks on paper and on phones differ a little).
RETROSPECTIVE_MAX_AGE = timedelta(days=7)
RETROSPECTIVE_CLOCK_SLACK = timedelta(minutes=2)
THRIVE_KEYS = ("threat", "harm", "risk", "investigation", "vulnerability", "engagement")
Kind = IncidentLogEntry.Kind


def _clean_text(errors: dict, field: str, value: str, *, max_length: int, multiline: bool) -> str:
    if not isinstance(value, str):
        errors.setdefault(field, []).append("Must be text.")
        return ""
    value = value.strip()
    if len(value) > max_length:
        errors.setdefault(field, []).append(f"At most {max_length} characters.")
    if control_characters(value, multiline=multiline):
        errors.setdefault(field, []).append("Contains control characters.")
    return value


def position_errors(lat: Any, lon: Any) -> list[str]:
    """Why a position cannot be used, in words a call handler understands (empty if fine)."""
    for value in (lat, lon):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return ["Latitude and longitude must be numbers."]
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return ["Latitude must be between -90 and 90 and longitude between -180 and 180."]
    if not in_force_area(lat, lon):
        return [
            f"({lat:.5f}, {lon:.5f}) is outside the Metropolitan Police area; check the "
            "location or pass the call to the force that covers it."
        ]
    return []


# --- references ----------------------------------------------------------------------------


def london_date(at: datetime) -> date:
    return at.astimezone(LONDON).date()


def reference_format(day: date, number: int) -> str:
    """`CAD 0017/22Nov26`: four digits at least, more on a day with over 9,999 incidents."""
    return f"CAD {number:04d}/{day.day:02d}{MONTHS[day.month - 1]}{day.year % 100:02d}"


def reference_next(*, day: date) -> int:
    """Take the next CAD number for a London date.

    One upsert both creates the day's row and increments it; the row stays locked until the
    caller's transaction ends, so concurrent creations queue here and a rollback gives the
    number back. Call it as late as possible in the transaction to keep that queue short.
    """
    with connection.cursor() as cursor:
        _REFERENCE_NEXT.execute(cursor, [day.isoformat()])
        return cursor.fetchone()[0]


# Fixed statements of every creation, prepared on the server (cad/prepared.py).
_REFERENCE_NEXT = PreparedSQL(
    f"INSERT INTO {DailySequence._meta.db_table} (date, last_number) VALUES (%s, 1) "  # noqa: S608
    f"ON CONFLICT (date) DO UPDATE SET last_number = {DailySequence._meta.db_table}.last_number "
    "+ 1 RETURNING last_number"
)
_REFERENCE_SET = PreparedSQL(
    f"UPDATE {Incident._meta.db_table} SET reference = %s, reference_number = %s "  # noqa: S608
    "WHERE id = %s"
)
_TYPE_BY_CODE = PreparedRows(IncidentType, '"code" = %s')
_INCIDENT_INSERT = PreparedInsert(Incident)  # elsewhere than on PostgreSQL: a placeholder first
# On PostgreSQL the incident's row is written once, with its number: an UPDATE of the
# reference changed an indexed column, so it wrote the row again and an entry in each of its
# indexes, and left a dead row for vacuum (docs/benchmarks.md, stop 46).
_INCIDENT_INSERT_KEYED = PreparedInsert(Incident, key_given=True)
_CALL_INSERT = PreparedInsert(Call)
_LOG_INSERT = PreparedInsert(IncidentLogEntry)
_RESPONSE_INSERT = PreparedInsert(IncidentResponse)


def due_at_for(grade: str, created_at: datetime) -> datetime | None:
    target = GRADE_TARGETS.get(grade)
    return created_at + target if target else None


# --- creation ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallDetails:
    caller_name: str = ""
    caller_phone: str = ""
    channel: str = Call.Channel.EMERGENCY
    address: str = ""
    notes: str = ""
    # The caller agreed to texts while police are on the way (issue 15: incidents/public/texts.py).
    updates: bool = False


def _validated_call(errors: dict, call: CallDetails) -> CallDetails:
    name = _clean_text(errors, "caller_name", call.caller_name, max_length=200, multiline=False)
    phone = _clean_text(errors, "caller_phone", call.caller_phone, max_length=40, multiline=False)
    address = _clean_text(errors, "address", call.address, max_length=300, multiline=False)
    notes = _clean_text(errors, "notes", call.notes, max_length=4000, multiline=True)
    if call.channel not in Call.Channel.values:
        errors.setdefault("channel", []).append(
            f"Unknown channel; one of {', '.join(Call.Channel.values)}."
        )
    if call.updates and not uk_mobile(phone):
        errors.setdefault("caller_phone", []).append(
            "Texts need a UK mobile number (07…) for the caller."
        )
    return CallDetails(name, phone, call.channel, address, notes, bool(call.updates))


def _log(incident: Incident, text: str, *, kind: str, by: User | None) -> IncidentLogEntry:
    entry = IncidentLogEntry(incident=incident, by=by, kind=kind, text=text[:4000])
    _LOG_INSERT.insert(entry)
    return entry


def _bump(incident: Incident, *fields: str) -> None:
    """Save `fields` of an incident the caller read through `_lock`, one version on."""
    # The caller holds the row lock, so the version it read is current: counted here rather
    # than with F(), which would cost a read back of the row after the save (a unit's version
    # is counted the same way, resources.services.unit_status_record).
    incident.version += 1
    incident.save(update_fields=[*fields, "version", "updated_at"])


def incident_create(
    *,
    by: User,
    type_code: str,
    lat: float,
    lon: float,
    address: str = "",
    resolved_address: str = "",
    grade: str | None = None,
    summary: str = "",
    call: CallDetails | None = None,
    thrive: dict[str, str] | None = None,
    qualifier_codes: list[str] | None = None,
    source: str = "",
    at: datetime | None = None,
    retrospective: bool = False,
) -> Incident:
    """Record a new incident from a call: reference, due time, log, audit and board event.

    `address` is the caller's own words and is stored untouched; `resolved_address` is what the
    gazetteer or the map pin made of it. `retrospective`: a call taken while the CAD was down,
    entered afterwards with `at` its real time of receipt (at most 7 days back, never in the
    future): the reference, the due time and the response figures run from that time, and the
    log says who entered it and when.
    """
    now = timezone.now()
    at = at or now
    errors: dict[str, list[str]] = {}
    if retrospective:
        errors.update(retrospective_errors(at, now=now))
    incident_type = next(iter(_TYPE_BY_CODE.instances([type_code])), None)
    if incident_type is None:
        errors["type"] = [f"Unknown incident type {str(type_code)[:20]!r}."]
    elif not incident_type.active:
        errors["type"] = [f"Incident type {incident_type.code} is no longer in use."]
    if grade in (None, "") and incident_type is not None:
        grade = incident_type.default_grade
    if grade not in Grade.values:
        errors["grade"] = [f"Grade must be one of {', '.join(Grade.values)}."]
    if problems := position_errors(lat, lon):
        errors["location"] = problems
    address = _clean_text(errors, "address", address, max_length=300, multiline=False)
    resolved_address = _clean_text(
        errors, "resolved_address", resolved_address, max_length=300, multiline=False
    )
    summary = _clean_text(errors, "summary", summary, max_length=4000, multiline=True)
    call = _validated_call(errors, CallDetails(address=address) if call is None else call)
    thrive = _validated_thrive(errors, thrive or {})
    qualifiers = _validated_qualifiers(errors, qualifier_codes or [])
    if errors or incident_type is None or grade is None:  # (either is an error already)
        raise ValidationError(errors)

    bcu = bcu_at(lat, lon)
    # Inside a planned operation's area while it runs: the incident is tagged with it.
    operation = operation_covering(lat=lat, lon=lon, at=at)
    # No savepoint: any failure below fails the whole creation, so there is nothing to keep.
    with transaction.atomic(savepoint=False):
        day = london_date(at)
        incident = Incident(
            reference_date=day,
            type=incident_type,
            grade=grade,
            summary=summary,
            address=address,
            resolved_address=resolved_address,
            lat=lat,
            lon=lon,
            bcu=bcu,
            thrive=thrive,
            created_at=at,
            created_by=by,
            due_at=due_at_for(grade, at),
            operation=operation,
        )
        # The day's CAD number is taken last (`_reference_take`): its row stays locked until
        # commit and every creation queues on it. On PostgreSQL the incident's key is drawn
        # now and its row written once, numbered, at the end (the rows below refer to it; the
        # foreign keys are checked at commit); elsewhere it is written now under a placeholder
        # number and given its real one at the end.
        incident.pk = _INCIDENT_INSERT_KEYED.key_next()
        if incident.pk is None:
            incident.reference = f"PENDING {secrets.token_hex(6)}"
            incident.reference_number = _placeholder_number()
            _INCIDENT_INSERT.insert(incident)
        if qualifiers:
            incident.qualifiers.set(qualifiers)
        first_call = Call(
            incident=incident,
            caller_name=call.caller_name,
            caller_phone=call.caller_phone,
            channel=call.channel,
            address=call.address or address,
            notes=call.notes,
            received_at=at,
            taken_by=by,
            updates_consent=call.updates,
        )
        _CALL_INSERT.insert(first_call)
        _log(incident, _opening_text(incident, call, qualifiers), kind=Kind.CALL, by=by)
        if retrospective:
            _log(incident, f"Entered retrospectively by {by.username} at {_hm(now)}; call "
                           f"received {_hm(at)} while the CAD was unavailable.",
                 kind=Kind.SYSTEM, by=by)  # fmt: skip
        if operation is not None:
            _log(incident, f"Inside the area of operation {operation.name}: tagged.",
                 kind=Kind.SYSTEM, by=by)  # fmt: skip
        changes = {"type": incident_type.code, "grade": grade, "lat": lat, "lon": lon,
                   "bcu": bcu.code if bcu else None, "channel": call.channel,
                   # Caller details are personal data: the trail says they were taken, not what.
                   "caller_details": bool(call.caller_name or call.caller_phone)}  # fmt: skip
        if retrospective:
            changes.update(retrospective=True, received_at=at.isoformat())
        if operation is not None:
            changes["operation"] = operation.pk
        # Both lock a row every creation that day shares until commit: the figures' day roll-up
        # (its trigger, docs/stats.md) and the day's CAD number. So they come last.
        _response_start(incident, received_at=first_call.received_at)
        _reference_take(incident, day=day)
        audit_record(user=by, action="create", obj=incident, source=source, changes=changes)
        incident_created(incident)
    return incident


# Placeholder numbers sit far above any real day's count (PositiveIntegerField's top range), so
# they never meet a real one; two creations drawing the same one at once only make the second
# wait for the first's commit on the unique index, never fail.
PLACEHOLDER_NUMBERS = (2_000_000_000, 2_147_483_647)


def _placeholder_number() -> int:
    return (
        secrets.randbelow(PLACEHOLDER_NUMBERS[1] - PLACEHOLDER_NUMBERS[0]) + PLACEHOLDER_NUMBERS[0]
    )


def _reference_take(incident: Incident, *, day: date) -> None:
    """Give a new incident its CAD number, as late in the creation as the record allows: the
    day's sequence row is locked from here to commit (see `reference_next`). Writes the
    incident's row now if it was not written yet (its key drawn ahead), else numbers it."""
    number = reference_next(day=day)
    incident.reference = reference_format(day, number)
    incident.reference_number = number
    if incident._state.adding:
        _INCIDENT_INSERT_KEYED.insert(incident)
        return
    with connection.cursor() as cursor:  # fixed, like reference_next: once per creation
        _REFERENCE_SET.execute(cursor, [incident.reference, number, incident.pk])


def _hm(moment: datetime) -> str:
    return moment.astimezone(LONDON).strftime("%d %b %Y %H:%M:%S")


def retrospective_errors(at: datetime, *, now: datetime) -> dict[str, list[str]]:
    """Why `at` cannot be the real time of a call entered after an outage (empty if fine)."""
    if at > now + RETROSPECTIVE_CLOCK_SLACK:
        return {"received_at": ["Is in the future: give the time the call was received."]}
    if at < now - RETROSPECTIVE_MAX_AGE:
        return {"received_at": ["Is more than 7 days ago: retrospective entry goes back at "
                                "most 7 days; record older calls by report."]}  # fmt: skip
    return {}


def _response_start(incident: Incident, *, received_at: datetime) -> None:
    """The incident's row in the response figures (docs/stats.md): the clock starts at the
    first call's receipt (a retrospective entry's real time) and the grade is the one given now;
    neither is touched again, so re-grading or reopening never moves or duplicates it."""
    local = received_at.astimezone(LONDON)
    row = IncidentResponse(
        incident=incident,
        bcu=incident.bcu,
        grade=incident.grade,
        received_at=received_at,
        day=local.date(),
        hour_of_week=local.weekday() * 24 + local.hour,
        target_at=due_at_for(incident.grade, received_at),
    )
    _RESPONSE_INSERT.insert(row)


def _opening_text(incident: Incident, call: CallDetails, qualifiers: list[Qualifier]) -> str:
    # Names and numbers stay out of the log: it is read by every desk and every officer sent.
    lines = [
        f"{call.channel} call. Opening code {incident.type.code} {incident.type.name}, "
        f"grade {incident.grade}.",
        f"Location given: {incident.address or '(none)'}"
        + (f" | located at: {incident.resolved_address}" if incident.resolved_address else "")
        + f" ({incident.lat:.5f}, {incident.lon:.5f}).",
    ]
    if incident.summary:
        lines.append(f"Summary: {incident.summary}")
    if qualifiers:
        lines.append("Qualifiers: " + ", ".join(q.name for q in qualifiers))
    thrive = {k: v for k, v in incident.thrive.items() if v}
    if thrive:
        lines.append("THRIVE: " + "; ".join(f"{k.title()}: {v}" for k, v in thrive.items()))
    if call.notes:
        lines.append(f"Call notes: {call.notes}")
    if call.caller_name or call.caller_phone:
        lines.append("Caller details recorded (restricted).")
    if call.updates:
        lines.append("Caller agreed to text updates.")
    return "\n".join(lines)


def _validated_thrive(errors: dict, thrive: Any) -> dict[str, str]:
    if not isinstance(thrive, dict):
        errors["thrive"] = ["Must be an object with THRIVE answers."]
        return {}
    unknown = sorted(set(thrive) - set(THRIVE_KEYS))
    if unknown:
        errors["thrive"] = [f"Unknown THRIVE field(s): {', '.join(map(str, unknown))[:100]}."]
        return {}
    clean: dict[str, str] = {}
    for key in THRIVE_KEYS:
        if key in thrive:
            clean[key] = _clean_text(errors, "thrive", thrive[key], max_length=1000, multiline=True)
    return clean


def _validated_qualifiers(errors: dict, codes: Any) -> list[Qualifier]:
    if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
        errors["qualifiers"] = ["Must be a list of qualifier codes."]
        return []
    if not codes:  # most calls: no query (even an empty one costs its building, every create)
        return []
    found = list(Qualifier.objects.filter(code__in=codes, active=True))
    missing = sorted(set(codes) - {q.code for q in found})
    if missing:
        errors["qualifiers"] = [f"Unknown qualifier(s): {', '.join(missing)[:200]}."]
    return found


# --- changes to an incident ----------------------------------------------------------------


def _lock(incident: Incident) -> Incident:
    return (
        Incident.objects.select_for_update(no_key=True, of=("self",))
        .select_related("type", "bcu")
        .get(pk=incident.pk)
    )


def _require_open(incident: Incident) -> None:
    if incident.status == IncidentStatus.CLOSED:
        raise Conflict(f"{incident.reference} is closed", code="incident_closed")


def incident_attach_call(
    *,
    incident: Incident,
    by: User,
    call: CallDetails,
    source: str = "",
    at: datetime | None = None,
) -> Call:
    """A further call about an incident already recorded (a duplicate attached, not created)."""
    at = at or timezone.now()
    errors: dict[str, list[str]] = {}
    call = _validated_call(errors, call)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        incident = _lock(incident)
        _require_open(incident)
        record = Call.objects.create(
            incident=incident,
            caller_name=call.caller_name,
            caller_phone=call.caller_phone,
            channel=call.channel,
            address=call.address,
            notes=call.notes,
            received_at=at,
            taken_by=by,
            updates_consent=call.updates,
        )
        count = incident.calls.count()
        text = f"Further {call.channel} call attached (call {count})."
        if call.address:
            text += f" Location given: {call.address}."
        if call.notes:
            text += f"\nCall notes: {call.notes}"
        _log(incident, text, kind=Kind.CALL, by=by)
        _bump(incident)
        taken = bool(call.caller_name or call.caller_phone)
        audit_record(user=by, action="create", obj=record, source=source,
                     changes={"incident": incident.reference, "channel": call.channel,
                              "caller_details": taken})  # fmt: skip
        incident_updated(incident)
    return record


def incident_log_add(
    *, incident: Incident, by: User | None, text: str, source: str = ""
) -> IncidentLogEntry:
    """Add to the narrative. Closed incidents take notes too: results arrive after closing."""
    errors: dict[str, list[str]] = {}
    text = _clean_text(errors, "text", text, max_length=4000, multiline=True)
    if not text and "text" not in errors:
        errors["text"] = ["Write something to add to the log."]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        incident = _lock(incident)
        entry = _log(incident, text, kind=Kind.NOTE, by=by)
        audit_record(user=by, action="create", obj=entry, source=source,
                     changes={"incident": incident.reference})  # fmt: skip
        incident_updated(incident)
    return entry


def incident_regrade(
    *, incident: Incident, by: User, grade: str, reason: str, source: str = ""
) -> Incident:
    """Change the grade, keeping who and why. The attendance target runs from the first call."""
    errors: dict[str, list[str]] = {}
    if grade not in Grade.values:
        errors["grade"] = [f"Grade must be one of {', '.join(Grade.values)}."]
    reason = _clean_text(errors, "reason", reason, max_length=1000, multiline=True)
    if not reason and "reason" not in errors:
        errors["reason"] = ["Give the reason for the new grade."]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        incident = _lock(incident)
        _require_open(incident)
        if incident.grade == grade:
            raise Conflict(f"{incident.reference} is already grade {grade}", code="same_grade")
        before = incident.grade
        GradeChange.objects.create(
            incident=incident, by=by, from_grade=before, to_grade=grade, reason=reason
        )
        incident.grade = grade
        incident.due_at = due_at_for(grade, incident.created_at)
        _bump(incident, "grade", "due_at")
        _log(incident, f"Re-graded {before} → {grade}: {reason}", kind=Kind.GRADE, by=by)
        audit_record(user=by, action="update", obj=incident, source=source,
                     changes={"grade": [before, grade], "reason": reason})  # fmt: skip
        incident_updated(incident)
        incident_regraded(incident)
    return incident


def incident_set_qualifiers(
    *, incident: Incident, by: User | None, codes: list[str], source: str = ""
) -> Incident:
    """Replace the incident's qualifiers (domestic abuse, mental health, ...)."""
    errors: dict[str, list[str]] = {}
    qualifiers = _validated_qualifiers(errors, codes)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        incident = _lock(incident)
        before = sorted(incident.qualifiers.values_list("code", flat=True))
        after = sorted(q.code for q in qualifiers)
        if before == after:
            return incident
        incident.qualifiers.set(qualifiers)
        _bump(incident)
        names = ", ".join(q.name for q in qualifiers) or "none"
        _log(incident, f"Qualifiers now: {names}", kind=Kind.SYSTEM, by=by)
        audit_record(user=by, action="update", obj=incident, source=source,
                     changes={"qualifiers": [before, after]})  # fmt: skip
        incident_updated(incident)
    return incident


def incident_set_thrive(
    *, incident: Incident, by: User | None, thrive: dict[str, str], source: str = ""
) -> Incident:
    """Record a repeated THRIVE assessment; the log keeps every earlier one."""
    errors: dict[str, list[str]] = {}
    clean = _validated_thrive(errors, thrive)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        incident = _lock(incident)
        before = incident.thrive
        incident.thrive = clean
        _bump(incident, "thrive")
        text = "; ".join(f"{k.title()}: {v}" for k, v in clean.items() if v) or "(cleared)"
        _log(incident, f"THRIVE reassessed: {text}", kind=Kind.SYSTEM, by=by)
        audit_record(user=by, action="update", obj=incident, source=source,
                     changes={"thrive": [before, clean]})  # fmt: skip
        incident_updated(incident)
    return incident


def incident_link(
    *, incident: Incident, other: Incident, by: User | None, reason: str = "", source: str = ""
) -> Incident:
    """Link two incidents (the same event, or related ones). Nothing is merged or lost."""
    errors: dict[str, list[str]] = {}
    reason = _clean_text(errors, "reason", reason, max_length=1000, multiline=False)
    if incident.pk == other.pk:
        errors["incident"] = ["An incident cannot be linked to itself."]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        first, second = sorted([incident, other], key=lambda i: i.pk)
        locked = {i.pk: _lock(i) for i in (first, second)}
        incident, other = locked[incident.pk], locked[other.pk]
        if incident.linked.filter(pk=other.pk).exists():
            raise Conflict(
                f"{incident.reference} is already linked to {other.reference}",
                code="already_linked",
            )
        incident.linked.add(other)
        why = f": {reason}" if reason else ""
        for a, b in ((incident, other), (other, incident)):
            _log(a, f"Linked to {b.reference}{why}", kind=Kind.LINK, by=by)
            _bump(a)
            incident_updated(a)
        audit_record(user=by, action="update", obj=incident, source=source,
                     changes={"linked": other.reference, "reason": reason})  # fmt: skip
    return incident


class CloseHook(Protocol):
    def __call__(self, *, incident: Incident, by: Any, source: str, at: datetime) -> list[str]: ...


# Work an app above this one must do inside the closing transaction, registered from its
# AppConfig.ready: resources clears the units still on the incident (resources.despatch).
# In the transaction, not after commit: an incident is never closed with units still on it.
_close_hooks: list[CloseHook] = []


def incident_close_hook_register(hook: CloseHook) -> None:
    """`hook(incident=, by=, source=, at=)` runs while closing holds the incident's lock and
    returns the call signs of the units it cleared (named in the closing log line)."""
    if hook not in _close_hooks:
        _close_hooks.append(hook)


def incident_close(
    *,
    incident: Incident,
    by: User | None,
    closing_code: str,
    note: str = "",
    source: str = "",
    at: datetime | None = None,
) -> Incident:
    """Result and close: the closing code, and every unit still on it is freed.

    `at` is for results entered after an outage (import_fallback): the real closing time,
    between the incident's creation and now."""
    errors: dict[str, list[str]] = {}
    code = ClosingCode.objects.filter(code=closing_code, active=True).first()
    if code is None:
        errors["closing_code"] = [f"Unknown closing code {str(closing_code)[:20]!r}."]
    note = _clean_text(errors, "note", note, max_length=4000, multiline=True)
    now = timezone.now()
    if at is not None and not (incident.created_at <= at <= now):
        errors["closed_at"] = ["Must lie between the incident's creation and now."]
    if errors or code is None:  # (no code is an error already)
        raise ValidationError(errors)
    at = at or now
    with transaction.atomic():
        incident = _lock(incident)
        if incident.status == IncidentStatus.CLOSED:
            raise Conflict(f"{incident.reference} is already closed", code="already_closed")
        cleared = [
            callsign
            for hook in _close_hooks
            for callsign in hook(incident=incident, by=by, source=source, at=at)
        ]
        before = incident.status
        incident.status = IncidentStatus.CLOSED
        incident.closing_code = code
        incident.closed_at = at
        _bump(incident, "status", "closing_code", "closed_at")
        text = f"Closed: {code.code} {code.name}."
        if cleared:
            text += " Units cleared: " + ", ".join(cleared) + "."
        if note:
            text += f"\n{note}"
        _log(incident, text, kind=Kind.CLOSE, by=by)
        audit_record(user=by, action="update", obj=incident, source=source,
                     changes={"status": [before, "closed"], "closing_code": code.code})  # fmt: skip
        incident_closed(incident)
    return incident


def incident_reopen(
    *, incident: Incident, by: User | None, reason: str, source: str = ""
) -> Incident:
    """Reopen a closed incident (a supervisor's decision; the API checks the role)."""
    errors: dict[str, list[str]] = {}
    reason = _clean_text(errors, "reason", reason, max_length=1000, multiline=True)
    if not reason and "reason" not in errors:
        errors["reason"] = ["Give the reason for reopening."]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        incident = _lock(incident)
        if incident.status != IncidentStatus.CLOSED:
            raise Conflict(f"{incident.reference} is not closed", code="not_closed")
        before_code = incident.closing_code.code if incident.closing_code is not None else None
        # Its units were freed at closing, so it goes back to the queue unresourced.
        incident.status = IncidentStatus.OPEN
        incident.closing_code = None
        incident.closed_at = None
        _bump(incident, "status", "closing_code", "closed_at")
        _log(incident, f"Reopened: {reason}", kind=Kind.STATUS, by=by)
        audit_record(user=by, action="update", obj=incident, source=source,
                     changes={"status": ["closed", "open"], "closing_code": [before_code, None],
                              "reason": reason})  # fmt: skip
        incident_updated(incident)
        incident_reopened(incident)
    return incident


# --- for resources: what despatch writes on an incident ---------------------------------------


def incident_log_record(
    *, incident: Incident, text: str, kind: str, by: User | None
) -> IncidentLogEntry:
    """A log line written by another app's service inside its own transaction ("CN01 assigned",
    "EMERGENCY raised by CN01"). The caller audits its own change and emits the event; the text
    is the system's, not a user's, so it is not validated here. Log rows are append-only, so no
    lock is needed to add one."""
    return _log(incident, text, kind=kind, by=by)


def incident_response_attended(*, incident: Incident, at: datetime) -> None:
    """A unit reached the scene at `at` (inside the caller's transaction, which audits the
    status change): the response clock stops at the earliest such time. A later arrival, a
    second unit or an arrival after reopening leaves it alone; an earlier one reported late
    (radio messages arrive out of order) moves it back. A conditional update, so two units
    arriving together cannot lose the earlier time."""
    row = IncidentResponse.objects.filter(pk=incident.pk)
    received_at = row.values_list("received_at", flat=True).first()
    if received_at is None:
        return  # not made by incident_create (a bench or test row): no figures to keep
    row.filter(Q(first_at_scene_at__isnull=True) | Q(first_at_scene_at__gt=at)).update(
        first_at_scene_at=at,
        # An at-scene time before the call (a mistyped retrospective entry) counts as no wait.
        response_seconds=max(0, int((at - received_at).total_seconds())),
    )


def incident_status_follow_units(*, incident: Incident, assigned: bool, at_scene: bool) -> None:
    """Keep an open incident's status in step with its units (the caller holds its lock):
    at scene when any active unit is there, assigned when any is on it, otherwise open again.
    A closed incident stays closed."""
    if incident.status == IncidentStatus.CLOSED:
        return
    if at_scene:
        status = IncidentStatus.AT_SCENE
    elif assigned:
        status = IncidentStatus.ASSIGNED
    else:
        # Everyone has cleared but nobody closed it: it is unresourced again and back in the
        # queue, which is what a despatcher needs to see.
        status = IncidentStatus.OPEN
    if status != incident.status:
        incident.status = status
        # Under the caller's lock the version read is current: no F() and read back (_bump).
        incident.version += 1
        incident.save(update_fields=["status", "version", "updated_at"])


# --- warning markers -----------------------------------------------------------------------


def warning_marker_create(
    *,
    by: User | None,
    address: str,
    lat: float,
    lon: float,
    text: str,
    expires_at: datetime | None = None,
    source: str = "",
) -> WarningMarker:
    """A warning at an address ('dog on premises'), shown to call handlers and officers."""
    errors: dict[str, list[str]] = {}
    address = _clean_text(errors, "address", address, max_length=300, multiline=False)
    text = _clean_text(errors, "text", text, max_length=500, multiline=False)
    if not address and "address" not in errors:
        errors["address"] = ["Give the address the warning applies to."]
    if not text and "text" not in errors:
        errors["text"] = ["Write the warning."]
    if problems := position_errors(lat, lon):
        errors["location"] = problems
    if expires_at is not None and expires_at <= timezone.now():
        errors["expires_at"] = ["The expiry must be in the future."]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        marker = WarningMarker.objects.create(
            address=address, lat=lat, lon=lon, text=text, expires_at=expires_at, created_by=by
        )
        expiry = expires_at.isoformat() if expires_at else None
        audit_record(user=by, action="create", obj=marker, source=source,
                     changes={"text": text, "address": address, "expires_at": expiry})  # fmt: skip
    return marker


def warning_marker_expire(
    *, marker: WarningMarker, by: User | None, source: str = ""
) -> WarningMarker:
    """End a warning now. It stays on record (and in location history) with its expiry."""
    now = timezone.now()
    with transaction.atomic():
        marker = WarningMarker.objects.select_for_update(no_key=True).get(pk=marker.pk)
        if marker.expires_at is not None and marker.expires_at <= now:
            raise Conflict("this warning has already expired", code="already_expired")
        before = marker.expires_at
        marker.expires_at = now
        marker.save(update_fields=["expires_at"])
        audit_record(user=by, action="update", obj=marker, source=source,
                     changes={"expires_at": [before.isoformat() if before else None,
                                             now.isoformat()]})  # fmt: skip
    return marker


# --- audited reads of personal data ------------------------------------------------------------


def personal_data_read_record(
    *, incident: Incident, by: User | None, source: str, what: str
) -> None:
    """Record that someone was shown a caller's name or phone (DPA 2018 s.62: consultation)."""
    audit_record(user=by, action="read_personal", obj=incident, source=source,
                 changes={"fields": ["caller_name", "caller_phone"], "via": what})  # fmt: skip


def personal_data_combination_record(
    *,
    by: User | None,
    source: str,
    what: str,
    findings: dict[str, Any],
    incident: Incident | None = None,
) -> None:
    """Record that other incidents at a place were put beside a call (s.62: combination).

    `findings` holds the near-a-point results (possible duplicates, location history); only
    their references are kept. Nothing found means nothing was combined, so no row: the check
    runs on every location a call handler tries.
    """
    refs = {
        key: [row["reference"] for row in findings.get(key) or []]
        for key in ("possible_duplicates", "location_history")
    }
    if not any(refs.values()):
        return
    changes: dict[str, Any] = {"via": what, **refs}
    if incident is not None:
        changes["incident"] = incident.reference
    audit_record(user=by, action="combine", obj=incident, object_type="incidents.incident",
                 source=source, changes=changes)  # fmt: skip
