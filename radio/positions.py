"""Applying a gateway's GPS fixes a batch at a time, not a task per fix.

A gateway sends positions for thousands of units every few seconds (issue 7: 2,000 a second).
One task per fix paid, per fix, a broker round trip, a claim, a unit update, an Event row under
the global event counter and a publish; on 2 cores that does not keep up (bench/radio_ingest.py,
docs/benchmarks.md). Here one task takes the position-only messages of one stored batch and:

- claims them together (rows still `received`; rows another run holds are skipped, that run
  applies them), so a re-run or the sweeper finds nothing to do;
- keeps the newest fix per ISSI by the same effective time as the one-at-a-time path (the
  radio's `sent_at`, never later than we received it); the others in the batch are `ignored`,
  superseded, without touching the unit;
- moves each unit only if its fix is newer than the one it holds (`position_at`), so newest
  wins across batches, tasks and the one-at-a-time path alike;
- emits one coalescible `unit.updated` per unit moved, as
  `resources.services.unit_set_position` does (same payload, same coalesce key), numbered
  together (`cad.live.events.events_emit`) and published as one layer message per board group;
- marks every message `applied` or `ignored` with the unit, its current assignment and a note.

Statuses, texts and emergencies never come here: they keep their own task and its priority.

Locking: the message rows (claim), then the units in id order, so two batch tasks never
deadlock on each other; the event counter last, as every writer takes it.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple, cast

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from radio.models import RadioMessage
from resources.models import Unit
from resources.selectors import current_jobs
from resources.services import UnitFix, units_set_positions

Kind = RadioMessage.Kind
State = RadioMessage.State

SUPERSEDED = "superseded by a newer fix in the same batch"
APPLIED = "position applied"
STALE = "position older than the one held"


class Fix(NamedTuple):
    id: int
    issi: str
    lat: float
    lon: float
    at: datetime


def positions_batched() -> bool:
    """Whether new position-only messages go to the batch task (RADIO_BATCH_POSITIONS)."""
    return bool(getattr(settings, "RADIO_BATCH_POSITIONS", True))


def positions_inline() -> bool:
    """Whether a stored batch's position fixes are applied in the storing transaction
    (RADIO_POSITIONS_INLINE, decision 0030); they need batching on as well."""
    return positions_batched() and bool(getattr(settings, "RADIO_POSITIONS_INLINE", True))


class Settled(NamedTuple):
    """What became of one fix: the message's state and note, its unit and the unit's job."""

    state: str
    note: str
    unit_id: int | None
    assignment_id: int | None


def positions_settle(fixes: list[Fix]) -> dict[int, Settled]:
    """Move each fix's unit to its newest fix where that is newer than the one it holds, emit
    their events, and say what became of every fix, keyed by `Fix.id`. The caller is inside a
    transaction and holds the fixes' messages (stored or about to be)."""
    newest: dict[str, Fix] = {}
    for fix in fixes:
        held = newest.get(fix.issi)
        if held is None or (fix.at, fix.id) > (held.at, held.id):
            newest[fix.issi] = fix

    units = {
        issi: (pk, callsign, active, position_at)
        for pk, issi, callsign, active, position_at in _units_locked(list(newest))
    }
    moves: list[UnitFix] = []
    outcome: dict[int, tuple[str, str, int | None]] = {}  # fix -> (state, note, unit)
    for issi, fix in newest.items():
        unit = units.get(issi)
        if unit is None:
            outcome[fix.id] = (State.IGNORED, f"no unit has ISSI {issi}", None)
            continue
        pk, callsign, active, position_at = unit
        if not active:
            outcome[fix.id] = (State.IGNORED, f"{callsign} is not an active unit", pk)
        elif position_at is None or position_at < fix.at:
            moves.append(UnitFix(unit_id=pk, lat=fix.lat, lon=fix.lon, at=fix.at))
            outcome[fix.id] = (State.APPLIED, APPLIED, pk)
        else:
            outcome[fix.id] = (State.IGNORED, STALE, pk)
    for fix in fixes:
        if fix.id not in outcome:
            state, note, unit_id = outcome[newest[fix.issi].id]
            # An unknown or inactive unit's older fixes say so, not "superseded".
            refused = state == State.IGNORED and note != STALE
            outcome[fix.id] = (State.IGNORED, note if refused else SUPERSEDED, unit_id)

    # Read once for both: each message's job, and the events' payloads.
    jobs = current_jobs(unit_ids={u for _, _, u in outcome.values() if u is not None})
    # The units' rows are resources': it moves them and emits their events (last: the event
    # counter is the last lock every writer takes).
    units_set_positions(fixes=moves, jobs=jobs)
    return {
        key: Settled(state, note[:200], unit_id, _job_id(jobs, unit_id))
        for key, (state, note, unit_id) in outcome.items()
    }


def _units_locked(issis: list[str]) -> list[tuple]:
    """(id, issi, callsign, active, position_at) of the units with these ISSIs, locked in id
    order. On PostgreSQL one fixed statement with an array parameter: the ORM's `__in` compiles
    a placeholder per unit, hundreds a batch (decision 0032)."""
    if connection.vendor != "postgresql":
        return list(
            Unit.objects.select_for_update(no_key=True)
            .filter(issi__in=issis)
            .order_by("pk")
            .values_list("pk", "issi", "callsign", "active", "position_at")
        )
    with connection.cursor() as cursor:
        cursor.execute(_UNITS_LOCKED, [issis])
        return cursor.fetchall()


_UNITS_LOCKED = (
    f"SELECT id, issi, callsign, active, position_at FROM {Unit._meta.db_table} "  # noqa: S608
    "WHERE issi = ANY(%s) ORDER BY id FOR NO KEY UPDATE"
)


def _job_id(jobs: dict[int, dict], unit_id: int | None) -> int | None:
    job = jobs.get(unit_id) if unit_id is not None else None
    return job["id"] if job else None


def radio_positions_apply(*, message_ids: list[int]) -> dict[str, int]:
    """Apply the position-only messages among `message_ids` that are still waiting; return
    {state: count} for the messages this run settled (none if another run had them). Safe to
    run twice."""
    now = timezone.now()
    with transaction.atomic():
        claimed = list(
            RadioMessage.objects.select_for_update(no_key=True, skip_locked=True)
            .filter(
                pk__in=message_ids,
                direction=RadioMessage.Direction.INBOUND,
                kind=Kind.POSITION,
                state=State.RECEIVED,
            )
            .values_list("id", "issi", "lat", "lon", "sent_at", "received_at")
        )
        if not claimed:
            return {}
        # A position message always carries lat, lon and sent_at (radio.validation refuses it
        # otherwise), though the columns allow NULL for other kinds.
        fixes = [
            Fix(i, issi, cast(float, lat), cast(float, lon), effective_at(cast(datetime, at), got))
            for i, issi, lat, lon, at, got in claimed
        ]
        settled = positions_settle(fixes)
        _write_messages([(pk, *outcome) for pk, outcome in settled.items()], now)
    counts: dict[str, int] = {}
    for outcome in settled.values():
        counts[outcome.state] = counts.get(outcome.state, 0) + 1
    return counts


def effective_at(sent_at: datetime, received_at: datetime) -> datetime:
    """When a fix counts as taken, as radio.services._effective_time: a radio whose clock runs
    ahead must not freeze its unit, so never later than its arrival."""
    return min(sent_at, received_at)


# Django's bulk_update compiles a CASE per row and field: most of a batch's time in the
# profile (bench/radio_ingest.py). On PostgreSQL one UPDATE ... FROM (VALUES ...) does it
# (resources.services.units_set_positions does the same for the units).


def _write_messages(rows: list[tuple], now: datetime) -> None:
    """rows: (id, state, note, unit id, assignment id)."""
    if connection.vendor != "postgresql":
        RadioMessage.objects.bulk_update(
            [RadioMessage(pk=pk, state=state, note=note, unit_id=unit_id,
                          assignment_id=assignment_id, state_at=now)
             for pk, state, note, unit_id, assignment_id in rows],
            ["state", "note", "unit", "assignment", "state_at"],
        )  # fmt: skip
        return
    table = RadioMessage._meta.db_table
    values = ",".join(
        ["(%s::bigint, %s::varchar, %s::varchar, %s::bigint, %s::bigint)"] * len(rows)
    )
    params = [v for row in rows for v in row]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS m SET state = v.state, note = v.note, unit_id = v.unit_id, "  # noqa: S608
            f"assignment_id = v.assignment_id, state_at = %s "
            f"FROM (VALUES {values}) AS v (id, state, note, unit_id, assignment_id) "
            f"WHERE m.id = v.id",
            [now, *params],
        )
