"""The only write path for radio messages: receiving, applying, despatching and receipts.

Inbound (docs/decisions/0006): a gateway's batch is validated as a whole and stored in one
transaction before we answer, so a `202` means the messages are safe in the database. Each new
message is then applied by a Celery task; a periodic sweeper applies any message whose task was
lost. Applying claims the message with a conditional UPDATE (received → applied) and checks the
row count, so running it twice, or from the task and the sweeper at once, applies it once.
Ordering is the unit's business: `unit_set_status` and `unit_set_position` ignore anything
timed before what they hold, so a late or repeated message never moves a unit backwards.

Outbound: when a unit is sent, a despatch message is stored `queued` in the assign's own
transaction (`despatch_message_with_assignment`, `resources.despatch`'s assign hook), handed to
the configured gateway adapter by a task after commit (`sent`, `delivered` or `failed`), and
later moved on by the gateway's delivery receipts. The assignment's `message_state` follows its
latest message, through `resources.despatch`. Should the hook fail (the assign goes ahead
without it), the sweeper queues the message for any active assignment that has none
(`despatch_messages_queue_missing`).

Delivery alert: a despatch message not `delivered` within RADIO_DELIVERY_ALERT_SECONDS (60)
alerts the incident's and the unit's desks once (`radio.undelivered`), from a beat task.

Locking: applying holds the message row (from the claim) and then takes incident and unit locks
through the resources and incidents services, in their order. Sending holds the outbound message
row, then the assignment row. Nobody takes a message row while holding those, so no cycle: the
assign hook, which runs under the incident's and unit's locks, only inserts a new message row
and updates its new assignment, which no other transaction can see yet.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime, timedelta
from typing import Any, NamedTuple, cast

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import OperationalError, connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from cad.audit.trail import audit_record
from cad.enqueue import enqueue
from cad.errors import Conflict
from incidents.selectors import warnings_near
from incidents.services import incident_log_add

# radio.tasks calls this module's functions and this module queues its tasks after commit: the
# two import each other as modules (never `from radio.tasks import name`), which works in
# either import order.
from radio import tasks
from radio.adapters import SEND_STATES, GatewayUnavailable, SendResult, get_adapter
from radio.events import radio_undelivered
from radio.models import RadioMessage, StatusCodeMapping
from radio.positions import (
    Fix,
    Settled,
    effective_at,
    positions_batched,
    positions_inline,
    positions_settle,
)
from radio.validation import MAX_BATCH, InboundBatchInput, positions_cleaned
from resources.despatch import assignment_message_state_set
from resources.models import Assignment, Unit
from resources.services import unit_raise_emergency, unit_set_position, unit_set_status

logger = logging.getLogger(__name__)

Direction = RadioMessage.Direction
Kind = RadioMessage.Kind
State = RadioMessage.State
SOURCE = "radio"


class Outcome(NamedTuple):
    state: str
    note: str = ""


# --- inbound: receive -----------------------------------------------------------------------


def radio_messages_receive(
    *, messages: Any, by: User | None, source: str = SOURCE, apply_positions: bool = True
) -> tuple[int, int]:
    """Store a gateway's batch; return (accepted, duplicates).

    All or nothing: any malformed message raises a DRF ValidationError carrying each message's
    field errors under its index (`{"messages": {"1": {"code": [...]}}}`; Django's
    ValidationError cannot nest), and nothing is stored. A message whose `id` was seen before,
    in this batch or any earlier one, is a duplicate. Position fixes are applied in this
    transaction (decision 0030) and stored already settled, unless `apply_positions` is False
    (a bridge that is behind hands them to the batch task, which runs beside it); everything
    else is applied by its task after commit.
    """
    # A batch of plain GPS fixes (nearly all of a gateway's traffic) skips the serializer; any
    # other batch, and every malformed one, goes through it (radio/validation.py).
    cleaned = positions_cleaned(messages)
    if cleaned is None:
        batch = InboundBatchInput(data={"messages": messages})
        if not batch.is_valid():
            raise ValidationError(batch.errors)
        cleaned = batch.validated_data["messages"]
    raw_by_index = messages  # validated above: a list of dicts, same order

    token = uuid.uuid4()
    firsts: list[tuple[dict[str, Any], Any]] = []  # (cleaned, raw), the first copy of each id
    seen: set[str] = set()
    for index, item in enumerate(cleaned):
        if item["id"] in seen:
            continue  # repeated inside the batch: the first copy wins
        seen.add(item["id"])
        firsts.append((item, raw_by_index[index]))
    by_id = by.pk if getattr(by, "is_authenticated", False) and by is not None else None

    now = timezone.now()
    with transaction.atomic():
        settled = _positions_settled(firsts, now=now) if apply_positions else {}
        # ON CONFLICT DO NOTHING: an id stored before (or by a concurrent request that commits
        # first) is skipped by the unique index, never an error.
        new_rows = _insert_new(firsts, by_id=by_id, token=token, now=now, settled=settled)
        # Emergencies jump the queue: a gateway flushing a backlog of GPS fixes must not hold
        # up code 0. The rest go oldest first (the outcome does not depend on it).
        alarms = (
            set(StatusCodeMapping.objects.filter(emergency=True).values_list("code", flat=True))
            if any(r[1] == Kind.STATUS for r in new_rows)
            else set()
        )
        new_rows.sort(key=lambda r: (not (r[1] == Kind.STATUS and r[2] in alarms), r[3], r[0]))
        accepted, duplicates = len(new_rows), len(cleaned) - len(new_rows)
        new_ids = [r[0] for r in new_rows if r[4] == State.RECEIVED]
        audit_record(
            user=by, action="create", object_type="radio.radiomessage", source=source,
            changes={"batch": str(token), "accepted": accepted, "duplicates": duplicates},
        )  # fmt: skip
        if new_ids:
            positions = [r[0] for r in new_rows if r[1] == Kind.POSITION and r[4] == State.RECEIVED]
            transaction.on_commit(lambda: _enqueue_apply(new_ids, positions=positions))
    return accepted, duplicates


def _positions_settled(
    firsts: list[tuple[dict[str, Any], Any]], *, now: datetime
) -> dict[int, Settled]:
    """Apply the batch's position fixes now (radio/positions.py), keyed by index in `firsts`.

    One write of each message instead of two (stored `received`, then claimed and updated by a
    task), and no broker round trip: 13-26 % less CPU for the radio path at 2,000 fixes a
    second (decision 0030, docs/benchmarks.md). A fix whose message turns out to be a duplicate
    is applied again, which changes nothing: a unit only moves to a newer fix. If PostgreSQL
    refuses the units' locks (a deadlock, a lock timeout), the fixes are stored `received` for
    the task instead, so the batch is never refused for want of applying it.
    """
    if not positions_inline():
        return {}
    fixes = [
        Fix(index, item["issi"], item["lat"], item["lon"], effective_at(item["sent_at"], now))
        for index, (item, _) in enumerate(firsts)
        if item["kind"] == Kind.POSITION
    ]
    if not fixes:
        return {}
    try:
        with transaction.atomic():
            return positions_settle(fixes)
    except OperationalError:
        logger.warning("could not apply %s radio positions now; queued instead", len(fixes))
        return {}


def _insert_new(
    firsts: list[tuple[dict[str, Any], Any]],
    *,
    by_id: int | None,
    token: uuid.UUID,
    now: datetime,
    settled: dict[int, Settled],
) -> list[tuple[int, str, int | None, datetime | None, str]]:
    """Insert the messages, each settled or else `received`; return (id, kind, code, sent_at,
    state) of those that were new."""
    if not firsts:
        return []
    waiting = Settled(State.RECEIVED, "", None, None)
    outcomes = [settled.get(index, waiting) for index in range(len(firsts))]
    if connection.vendor == "postgresql":
        # One statement, RETURNING exactly the rows it inserted. bulk_create built a model
        # instance per message and compiled a placeholder per field: with the serializer, most
        # of the radio bridge's CPU at thousands of fixes a second (docs/benchmarks.md).
        columns = list(zip(*(
            (item["id"], item["issi"], item["kind"], item.get("code"), item.get("lat"),
             item.get("lon"), item.get("text") or "", item["sent_at"], json.dumps(raw),
             *outcome)
            for (item, raw), outcome in zip(firsts, outcomes, strict=True)
        ), strict=True))  # fmt: skip
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO radio_radiomessage (direction, gateway_id, issi, kind, code,
                    lat, lon, text, sent_at, raw, received_at, state, state_at, note, unit_id,
                    assignment_id, by_id, batch)
                SELECT %s, m.gateway_id, m.issi, m.kind, m.code, m.lat, m.lon, m.text, m.sent_at,
                    m.raw::jsonb, %s, m.state, %s, m.note, m.unit_id, m.assignment_id, %s, %s
                FROM unnest(%s::text[], %s::text[], %s::text[], %s::int[], %s::float8[],
                    %s::float8[], %s::text[], %s::timestamptz[], %s::text[], %s::text[],
                    %s::text[], %s::bigint[], %s::bigint[])
                    AS m(gateway_id, issi, kind, code, lat, lon, text, sent_at, raw, state, note,
                        unit_id, assignment_id)
                ON CONFLICT DO NOTHING
                RETURNING id, kind, code, sent_at, state
                """,
                [Direction.INBOUND, now, now, by_id, token, *map(list, columns)],
            )
            return cursor.fetchall()
    rows = [
        RadioMessage(
            direction=Direction.INBOUND, gateway_id=item["id"], issi=item["issi"],
            kind=item["kind"], code=item.get("code"), lat=item.get("lat"), lon=item.get("lon"),
            text=item.get("text") or "", sent_at=item["sent_at"], raw=raw, state=outcome.state,
            state_at=now, note=outcome.note, unit_id=outcome.unit_id,
            assignment_id=outcome.assignment_id, by_id=by_id, batch=token,
        )
        for (item, raw), outcome in zip(firsts, outcomes, strict=True)
    ]  # fmt: skip
    RadioMessage.objects.bulk_create(rows, ignore_conflicts=True, batch_size=MAX_BATCH)
    # The rows this request inserted are exactly those carrying its token.
    return list(
        RadioMessage.objects.filter(
            gateway_id__in=[item["id"] for item, _ in firsts], batch=token
        ).values_list("id", "kind", "code", "sent_at", "state")
    )


def _enqueue_apply(message_ids: list[int], *, positions: list[int] | None = None) -> None:
    """Queue each message's task. Never raise: the messages are committed, and whatever is not
    queued now (broker down) the sweeper applies a little later."""
    # Position-only messages go in one task for the batch (radio/positions.py), after the
    # per-message tasks, so statuses and emergencies keep their place at the front.
    batched = set(positions) if positions and positions_batched() else set()
    for message_id in (i for i in message_ids if i not in batched):
        try:
            enqueue(tasks.apply_radio_message, message_id)
        except Exception:  # noqa: BLE001  (an eager task failing in-process; with a broker,
            # `enqueue` keeps what it cannot queue now and the sweeper is behind it)
            logger.exception(
                "could not queue radio message %s; the sweeper will apply it", message_id
            )
    if batched:
        try:
            enqueue(tasks.apply_radio_positions, [i for i in message_ids if i in batched])
        except Exception:  # noqa: BLE001  (as above)
            logger.exception("could not queue %s radio positions; the sweeper will", len(batched))


# --- inbound: apply -------------------------------------------------------------------------


def radio_message_apply(*, message_id: int) -> str | None:
    """Apply one received message to its unit. Returns its new state, or None if it was not
    waiting (already applied or ignored, or claimed by a concurrent run): safe to run twice.

    A refusal by the CAD (a transition the unit's state forbids, an unknown ISSI or code) marks
    the message `ignored` with the reason; it is never raised, because a retry would meet the
    same refusal for ever. Anything else (the database failing) rolls the claim back, so the
    message stays `received` for the task's retry or the sweeper.
    """
    with transaction.atomic():
        claimed = RadioMessage.objects.filter(
            pk=message_id, direction=Direction.INBOUND, state=State.RECEIVED
        ).update(state=State.APPLIED, state_at=timezone.now())
        if not claimed:
            return None
        message = RadioMessage.objects.get(pk=message_id)
        unit = Unit.objects.filter(issi=message.issi).first()
        assignment = None
        if unit is None:
            outcome = Outcome(State.IGNORED, f"no unit has ISSI {message.issi}")
        elif not unit.active:
            outcome = Outcome(State.IGNORED, f"{unit.callsign} is not an active unit")
        else:
            assignment = Assignment.objects.filter(unit=unit, cleared_at__isnull=True).first()
            outcome = _apply_to_unit(message, unit, assignment)
        RadioMessage.objects.filter(pk=message_id).update(
            state=outcome.state,
            note=outcome.note[:200],
            unit=unit,
            assignment=assignment,
            state_at=timezone.now(),
        )
    return outcome.state


def _effective_time(message: RadioMessage) -> datetime:
    # A radio whose clock runs ahead must not freeze its unit (every later, correctly timed
    # update would look stale), so a message never counts as newer than its arrival.
    sent_at = cast(datetime, message.sent_at)  # every inbound message has one (validation)
    return effective_at(sent_at, message.received_at)


def _apply_to_unit(message: RadioMessage, unit: Unit, assignment: Assignment | None) -> Outcome:
    at = _effective_time(message)
    by = message.by
    if message.kind == Kind.STATUS:
        outcome = _apply_status(message, unit, assignment, at=at, by=by)
    elif message.kind == Kind.TEXT:
        outcome = _apply_text(message, unit, assignment, by=by)
    else:
        outcome = Outcome(State.APPLIED)
    if message.lat is not None and message.lon is not None:
        moved = unit_set_position(
            unit=unit, lat=message.lat, lon=message.lon, at=at, source=SOURCE, by=by
        )
        position_note = "position applied" if moved else "position older than the one held"
        if message.kind == Kind.POSITION:
            return Outcome(State.APPLIED if moved else State.IGNORED, position_note)
        outcome = Outcome(outcome.state, "; ".join(n for n in (outcome.note, position_note) if n))
    return outcome


def _apply_status(
    message: RadioMessage,
    unit: Unit,
    assignment: Assignment | None,
    *,
    at: datetime,
    by: User | None,
) -> Outcome:
    mapping = (
        StatusCodeMapping.objects.filter(code=message.code).first()
        if message.code is not None
        else None
    )
    if mapping is None:
        return Outcome(State.IGNORED, f"no status mapping for code {message.code}")
    notes = []
    if mapping.emergency:
        # An emergency older than the last one raised is that one (or one already handled);
        # anything else rings, however late it arrives: a late alarm beats a lost one.
        if unit.emergency:
            notes.append("emergency already active")
        elif unit.emergency_at and at <= unit.emergency_at:
            notes.append("emergency already raised and acknowledged")
        else:
            unit_raise_emergency(unit=unit, at=at, source=SOURCE, by=by)
            notes.append("emergency raised")
    if mapping.status:
        try:
            updated = unit_set_status(
                unit=unit, status=mapping.status, at=at, source=SOURCE, by=by,
                deployable=mapping.deployable, note=f"radio code {mapping.code}",
            )  # fmt: skip
        except Conflict as exc:
            return Outcome(State.IGNORED, "; ".join([*notes, f"refused: {exc.detail}"]))
        if updated.status_at and updated.status_at > at:
            return Outcome(State.IGNORED, "; ".join([*notes, "stale: the unit has a newer status"]))
        notes.append(f"code {mapping.code}: {mapping.description}")
    elif not mapping.emergency:
        # Messaging codes (request to speak, message received...) change no status; the
        # despatcher reads them in the incident's log when the unit is on a job.
        notes.append(f"code {mapping.code}: {mapping.description}")
        if assignment is not None:
            _log_on_incident(assignment, f"Radio from {unit.callsign}: {mapping.description}", by)
            notes.append(f"logged on {assignment.incident.reference}")
    return Outcome(State.APPLIED, "; ".join(notes))


def _apply_text(
    message: RadioMessage, unit: Unit, assignment: Assignment | None, *, by: User | None
) -> Outcome:
    if assignment is None:
        return Outcome(State.APPLIED, "stored; the unit has no active incident")
    _log_on_incident(assignment, f"Radio text from {unit.callsign}: {message.text}", by)
    return Outcome(State.APPLIED, f"logged on {assignment.incident.reference}")


def _log_on_incident(assignment: Assignment, text: str, by: User | None) -> None:
    try:
        incident_log_add(incident=assignment.incident, by=by, text=text, source=SOURCE)
    except DjangoValidationError:
        # Validated on receipt; should the log's own rules be stricter, keep the message and
        # the status rather than fail the whole apply.
        logger.warning("radio text not logged on incident %s", assignment.incident_id)


def radio_messages_apply_pending(*, older_than: timedelta, limit: int = 200) -> int:
    """Apply messages still `received` after `older_than` (their task was lost or failed).

    Returns how many this run applied or ignored. A message that fails again is logged and left
    for the next sweep, so a lost broker message never loses a status.
    """
    cutoff = timezone.now() - older_than
    # radio_state_idx (state, received_at) serves this query.
    ids = list(
        RadioMessage.objects.filter(state=State.RECEIVED, received_at__lt=cutoff)
        .order_by("received_at", "id")
        .values_list("id", flat=True)[:limit]
    )
    done = 0
    for message_id in ids:
        try:
            if radio_message_apply(message_id=message_id) is not None:
                done += 1
        except Exception:  # noqa: BLE001  (one bad message must not hold up the rest)
            logger.exception("radio message %s could not be applied; will retry", message_id)
    return done


# --- outbound -------------------------------------------------------------------------------


def _despatch_text(assignment: Assignment) -> tuple[str, dict[str, Any]]:
    incident = assignment.incident
    where = incident.address or incident.resolved_address or ""
    # Address warnings in force near the incident ("dog on premises", "violent occupant"): the
    # crew must have them before they knock. They go before the summary, so a terminal's
    # length limit cuts the summary, never a warning.
    warnings = [
        {"id": w["id"], "address": w["address"], "text": w["text"]}
        for w in warnings_near(lat=incident.lat, lon=incident.lon)
    ]
    warning_text = " WARNING: " + "; ".join(w["text"] for w in warnings) + "." if warnings else ""
    text = (
        f"{incident.reference} grade {incident.grade} {incident.type.name}: {where} "
        f"({incident.lat:.5f},{incident.lon:.5f}).{warning_text} {incident.summary}"
    ).strip()
    payload = {
        "assignment": assignment.pk,
        "incident": incident.pk,
        "reference": incident.reference,
        "grade": incident.grade,
        "type": incident.type.code,
        "type_name": incident.type.name,
        "address": where,
        "lat": incident.lat,
        "lon": incident.lon,
        "summary": incident.summary,
        "warnings": warnings,
        "callsign": assignment.unit.callsign,
    }
    return text[:500], payload


def despatch_message_queue(*, assignment: Assignment, by: User | None) -> RadioMessage | None:
    """Queue the despatch message for an assignment's unit terminal; send it after commit.

    Safe to call twice: while a message for the assignment is queued, sent or delivered, that
    one is returned and nothing new is queued (after a failure a new one is). Returns None for
    an assignment already cleared.
    """
    with transaction.atomic():
        # The assignment row lock serialises two callers for the same assignment.
        assignment = (
            Assignment.objects.select_for_update(no_key=True, of=("self",))
            .select_related("unit", "incident__type", "incident__bcu")
            .get(pk=assignment.pk)
        )
        if assignment.cleared_at is not None:
            return None
        live = (
            RadioMessage.objects.filter(
                assignment=assignment,
                direction=Direction.OUTBOUND,
                state__in=[State.QUEUED, State.SENT, State.DELIVERED],
            )
            .order_by("-id")
            .first()
        )
        if live is not None:
            return live
        message = _despatch_message_write(assignment, by=by)
        _assignment_follow(message, State.QUEUED, by=by, source=SOURCE)
    return message


def despatch_message_with_assignment(*, assignment: Assignment, by: User | None,
                                     source: str) -> None:  # fmt: skip
    """Write the despatch message inside the assign's transaction (`assignment_create`'s hook,
    registered in RadioConfig.ready), queued to go once it commits.

    The assignment is new in this very transaction, with its incident and unit locked: nobody
    else can see it, so it needs no lock of its own and has no message yet. The assign's own
    `incident.updated` tells the desks, with the message already `queued`.
    """
    message = _despatch_message_write(assignment, by=by)
    assignment_message_state_set(
        assignment_id=assignment.pk, state=State.QUEUED, radio_message_id=message.pk, by=by,
        source=SOURCE, tell_desks=False,
    )  # fmt: skip
    assignment.message_state = State.QUEUED  # the caller's instance, as saved


def _despatch_message_write(assignment: Assignment, *, by: User | None) -> RadioMessage:
    """Store the despatch message `queued` and hand it to the send task after commit."""
    text, payload = _despatch_text(assignment)
    message = RadioMessage.objects.create(
        direction=Direction.OUTBOUND,
        issi=assignment.unit.issi,
        unit=assignment.unit,
        assignment=assignment,
        kind=Kind.DESPATCH,
        lat=assignment.incident.lat,
        lon=assignment.incident.lon,
        text=text,
        sent_at=None,
        raw=payload,
        state=State.QUEUED,
        state_at=timezone.now(),
        by=by if getattr(by, "is_authenticated", False) else None,
    )
    message_id = message.pk
    transaction.on_commit(lambda: _enqueue_send(message_id))
    return message


def despatch_message_for_assignment(*, assignment_id: int) -> RadioMessage | None:
    """Queue the despatch message for an assignment that has none, as the one who sent the
    unit: the sweeper's catch-up after the assign hook failed. `despatch_message_queue` makes
    a second call a no-op.
    """
    assignment = Assignment.objects.select_related("assigned_by").filter(pk=assignment_id).first()
    if assignment is None:
        return None
    return despatch_message_queue(assignment=assignment, by=assignment.assigned_by)


# An active assignment this much older still without a despatch message is left alone: it
# predates the radio bridge (or the sweeper was stopped for longer), and its crew has long
# had the job by voice.
DESPATCH_CATCH_UP = timedelta(hours=1)


def despatch_messages_queue_missing(*, older_than: timedelta, limit: int = 100) -> int:
    """Queue the despatch message of active assignments that have none after `older_than`.

    The message is written in the assign's transaction (`despatch_message_with_assignment`);
    if that hook failed, the assign went ahead without it, and this finds the assignment (still
    active, `message_state` empty, no outbound message) and queues it. Returns how many it
    queued.
    """
    now = timezone.now()
    has_message = RadioMessage.objects.filter(
        assignment_id=OuterRef("pk"), direction=Direction.OUTBOUND
    )
    ids = list(
        Assignment.objects.filter(
            cleared_at__isnull=True,
            message_state=Assignment.MessageState.NONE,
            assigned_at__lt=now - older_than,
            assigned_at__gte=now - DESPATCH_CATCH_UP,
        )
        .exclude(Exists(has_message))
        .order_by("assigned_at", "id")
        .values_list("id", flat=True)[:limit]
    )
    queued = 0
    for assignment_id in ids:
        try:
            if despatch_message_for_assignment(assignment_id=assignment_id) is not None:
                queued += 1
        except Exception:  # noqa: BLE001  (one bad row must not hold up the others)
            logger.exception(
                "despatch message for assignment %s could not be queued", assignment_id
            )
    return queued


def _enqueue_send(message_id: int) -> None:
    try:
        enqueue(tasks.send_outbound, message_id)
    except Exception:  # noqa: BLE001  (the sweeper sends what could not be queued)
        logger.exception("could not queue outbound radio message %s", message_id)


def _assignment_follow(message: RadioMessage, state: str, *, by: User | None, source: str) -> None:
    """Show the latest message's state on its assignment and tell the incident's desks."""
    if message.assignment_id is None:
        return
    latest = (
        RadioMessage.objects.filter(
            assignment_id=message.assignment_id, direction=Direction.OUTBOUND
        )
        .order_by("-id")
        .values_list("id", flat=True)
        .first()
    )
    if latest != message.pk:
        return  # an older message's receipt must not overwrite a newer message's state
    assignment_message_state_set(
        assignment_id=message.assignment_id, state=state, radio_message_id=message.pk, by=by,
        source=source,
    )  # fmt: skip


def _set_outbound_state(
    message: RadioMessage, state: str, *, note: str = "", gateway_id: str = "",
    by: User | None = None, source: str = SOURCE,
) -> None:  # fmt: skip
    before = message.state
    message.state = state
    message.state_at = timezone.now()
    if note:
        message.note = note[:200]
    fields = ["state", "state_at", "note"]
    if gateway_id and not message.gateway_id:
        # Stored namespaced: the gateway's outbound references and its inbound message ids
        # share one unique column and may overlap.
        message.gateway_id = f"out:{gateway_id}"[:100]
        fields.append("gateway_id")
    if state in (State.SENT, State.DELIVERED) and message.sent_at is None:
        message.sent_at = message.state_at
        fields.append("sent_at")
    message.save(update_fields=fields)
    audit_record(
        user=by, action="update", obj=message, source=source,
        changes={"state": [before, state], "note": message.note},
    )  # fmt: skip
    _assignment_follow(message, state, by=by, source=source)


def radio_message_send(*, message_id: int, give_up: bool = False) -> str | None:
    """Hand one queued outbound message to the gateway adapter; return its new state.

    The row stays locked while the adapter sends, so two runs never send it twice at once; a
    crash before commit leaves it queued to be sent again (at least once: a repeated despatch
    message beats a lost one). `GatewayUnavailable` propagates for the task to retry, unless
    `give_up`, when the message is marked failed so the despatcher knows to use voice.
    """
    with transaction.atomic():
        message = (
            RadioMessage.objects.select_for_update(no_key=True, skip_locked=True)
            .filter(pk=message_id, direction=Direction.OUTBOUND, state=State.QUEUED)
            .first()
        )
        if message is None:
            return None  # already sent, or being sent by another worker
        try:
            result = get_adapter().send(message)
        except GatewayUnavailable as exc:
            if not give_up:
                raise
            result = SendResult(State.FAILED, note=f"gateway unavailable: {exc}")
        if result.state not in SEND_STATES:
            logger.error("radio adapter returned %r for message %s", result.state, message_id)
            result = SendResult(State.FAILED, note=f"adapter returned {result.state!r}")
        _set_outbound_state(
            message, result.state, note=result.note, gateway_id=result.gateway_id, by=None
        )
    return result.state


def radio_messages_send_pending(*, older_than: timedelta, limit: int = 100) -> int:
    """Send outbound messages still queued after `older_than` (their task was lost)."""
    cutoff = timezone.now() - older_than
    ids = list(
        RadioMessage.objects.filter(
            state=State.QUEUED, direction=Direction.OUTBOUND, received_at__lt=cutoff
        )
        .order_by("received_at", "id")
        .values_list("id", flat=True)[:limit]
    )
    sent = 0
    for message_id in ids:
        try:
            if radio_message_send(message_id=message_id) is not None:
                sent += 1
        except GatewayUnavailable:
            logger.warning("radio gateway unavailable; %s outbound messages wait", len(ids))
            break  # no point trying the rest this sweep
        except Exception:  # noqa: BLE001
            logger.exception("outbound radio message %s could not be sent", message_id)
    return sent


# Which receipt may move which state: a late `delivered` outranks an earlier failure (the
# terminal has the job); nothing moves a delivered message back.
RECEIPT_FROM: dict[str, set[str]] = {
    State.DELIVERED: {State.QUEUED, State.SENT, State.FAILED},
    State.FAILED: {State.QUEUED, State.SENT},
}


def radio_message_delivery_record(
    *, ref: int | str, state: str, by: User | None, note: str = "", source: str = SOURCE
) -> RadioMessage:
    """A gateway's delivery receipt for an outbound message, by our id (int) or its id (str).

    Repeated or out-of-date receipts change nothing. Raises RadioMessage.DoesNotExist for an
    unknown message.
    """
    if state not in RECEIPT_FROM:
        raise Conflict(f"a receipt cannot set {state!r}", code="invalid_state")
    outbound = RadioMessage.objects.select_for_update(no_key=True).filter(
        direction=Direction.OUTBOUND
    )
    with transaction.atomic():
        message: RadioMessage | None
        if isinstance(ref, int):
            message = outbound.get(pk=ref)
        else:
            message = outbound.filter(gateway_id=f"out:{ref}").first()
            if message is None and ref.isdigit() and len(ref) < 19:
                message = outbound.get(pk=int(ref))  # our id, sent as text
            elif message is None:
                raise RadioMessage.DoesNotExist(ref)
        if message.state in RECEIPT_FROM[state]:
            _set_outbound_state(
                message, state, note=note or f"receipt: {state}", by=by, source=source
            )
    return message


# --- outbound: the delivery alert -------------------------------------------------------------

UNDELIVERED = [State.QUEUED, State.SENT, State.FAILED]


def alert_after() -> timedelta:
    """How long a despatch message may go undelivered before despatchers are alerted."""
    return timedelta(seconds=int(getattr(settings, "RADIO_DELIVERY_ALERT_SECONDS", 60)))


def radio_messages_alert_undelivered(
    *, older_than: timedelta | None = None, limit: int = 100
) -> int:
    """Alert despatchers to despatch messages still not delivered after `older_than` (default
    RADIO_DELIVERY_ALERT_SECONDS); return how many alerted. Each message alerts at most once.

    Only a message that still matters alerts: its assignment is active and no newer message
    for it was queued (a re-sent despatch has its own clock).
    """
    cutoff = timezone.now() - (older_than if older_than is not None else alert_after())
    newer = RadioMessage.objects.filter(
        direction=Direction.OUTBOUND, assignment_id=OuterRef("assignment_id"), pk__gt=OuterRef("pk")
    )
    # radio_state_idx (state, received_at) serves this query; alerted rows drop out of it.
    ids = list(
        RadioMessage.objects.filter(
            direction=Direction.OUTBOUND,
            state__in=UNDELIVERED,
            alerted_at__isnull=True,
            received_at__lt=cutoff,
            assignment__cleared_at__isnull=True,
        )
        .exclude(Exists(newer))
        .order_by("received_at", "id")
        .values_list("id", flat=True)[:limit]
    )
    alerted = 0
    for message_id in ids:
        try:
            alerted += radio_message_alert(message_id=message_id)
        except Exception:  # noqa: BLE001  (one bad row must not silence the others)
            logger.exception("undelivered radio message %s could not be alerted", message_id)
    return alerted


def radio_message_alert(*, message_id: int) -> bool:
    """Tell the incident's and the unit's desks that a despatch message was not delivered.

    Claims the alert with a conditional UPDATE (alerted_at still empty, message still not
    delivered) and checks the row count: two sweeps at once, or a receipt arriving meanwhile,
    never produce a second or a false alert. Logs it on the incident, audits, and emits
    `radio.undelivered` after commit.
    """
    now = timezone.now()
    with transaction.atomic():
        claimed = RadioMessage.objects.filter(
            pk=message_id,
            direction=Direction.OUTBOUND,
            state__in=UNDELIVERED,
            alerted_at__isnull=True,
        ).update(alerted_at=now)
        if not claimed:
            return False
        message = RadioMessage.objects.select_related(
            "assignment__incident__bcu", "assignment__unit__bcu"
        ).get(pk=message_id)
        assignment = message.assignment
        if assignment is None:  # outbound messages are despatches; nothing to tell anyone
            return True
        unit = assignment.unit
        age = int((now - message.received_at).total_seconds())
        _log_on_incident(
            assignment,
            f"Despatch message to {unit.callsign} not delivered after {age} s "
            f"(state: {message.state}); pass the job by voice",
            None,
        )
        audit_record(
            user=None, action="update", obj=message, source=SOURCE,
            changes={"alerted_at": now.isoformat(), "state": message.state, "age_s": age},
        )  # fmt: skip
        radio_undelivered(message, assignment, age_s=age)
    return True


def sweep_after() -> timedelta:
    """How long a message may wait for its task before the sweeper takes it."""
    return timedelta(seconds=int(getattr(settings, "RADIO_SWEEP_AFTER_SECONDS", 30)))
