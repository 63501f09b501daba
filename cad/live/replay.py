"""The board at any moment, rebuilt from the event log (issue 20, docs/replay.md).

Every board event carries the whole row it changes (an incident as the queue shows it, a unit
as the board shows it), so the board after event N is the board after event M folded with the
events M+1..N. Folding a whole busy day is too slow for a slider, so checkpoints
(`BoardCheckpoint`: every section's rows after some `seq`) are written every few minutes and on
demand, and a rebuild folds only the events after the nearest checkpoint at or before the
moment.

`cad` owns neither incidents nor units: each feature app registers its section here from its
`AppConfig.ready` (`register_replay_section`): how to key its rows, how each event type changes
them, and which rows a BCU desk sees.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from cad.live.events import GLOBAL_COUNTER
from cad.live.snapshot import board_snapshot
from cad.models import BoardCheckpoint, Event, EventCounter

# A section's rows while folding: {key: row}; the whole state: {section: {key: row}}.
Rows = dict[str, dict[str, Any]]
State = dict[str, Rows]
Fold = Callable[[Rows, dict[str, Any]], None]


@dataclass(frozen=True)
class ReplaySection:
    """What replay needs of one board section; the app that owns the section supplies it."""

    key: Callable[[dict[str, Any]], str]
    # event type → fold(rows, event data): change the section's rows in place
    folds: dict[str, Fold]
    # (whole state, BCU code) → the rows a desk of that BCU sees, in board order
    visible: Callable[[State, str | None], list[dict[str, Any]]]
    # a row → what `GET /api/v1/board/at/` returns of it
    project: Callable[[dict[str, Any]], dict[str, Any]]


_sections: dict[str, ReplaySection] = {}


def register_replay_section(name: str, section: ReplaySection) -> None:
    """Registered from the owning app's `AppConfig.ready`; `name` is its snapshot section."""
    _sections[name] = section


def replayed_types() -> list[str]:
    return sorted({t for section in _sections.values() for t in section.folds})


class ReplayRangeError(ValueError):
    """The moment is before the log begins or in the future."""


@dataclass(frozen=True)
class Moment:
    """A rebuilt board: the state after event `seq` (0: before any event)."""

    seq: int
    at: datetime | None  # when event `seq` was stored
    state: State


# --- checkpoints -----------------------------------------------------------------------------


def board_checkpoint_create() -> BoardCheckpoint:
    """Write a checkpoint of the board as it stands (beat every few minutes, or on demand).

    The global event counter is locked while the sections are read: no writer can commit an
    event meanwhile, so the rows are exactly the board after `seq` (a writer queues for a few
    tens of milliseconds). Derived data, not a change anyone made: not audited, no event.
    """
    with transaction.atomic():
        counter = (
            EventCounter.objects.select_for_update(no_key=True).filter(id=GLOBAL_COUNTER).first()
        )
        seq = counter.last_seq if counter is not None else 0
        existing = BoardCheckpoint.objects.filter(seq=seq).first()
        if existing is not None:
            return existing
        data = board_snapshot(bcu=None)["data"]
        state = {name: data.get(name, []) for name in _sections}
        return BoardCheckpoint.objects.create(seq=seq, at=timezone.now(), state=state)


def board_checkpoint_due(*, every_events: int, every_seconds: float) -> BoardCheckpoint | None:
    """Write a checkpoint when the log has moved on since the last one by `every_events`
    events, or by any event and `every_seconds`; None when none is due (a quiet night)."""
    last = BoardCheckpoint.objects.order_by("-seq").first()
    counter = EventCounter.objects.filter(id=GLOBAL_COUNTER).first()
    latest = counter.last_seq if counter is not None else 0
    if last is not None:
        moved = latest - last.seq
        age = (timezone.now() - last.at).total_seconds()
        if moved <= 0 or (moved < every_events and age < every_seconds):
            return None
    return board_checkpoint_create()


def board_checkpoints_backfill(*, every_events: int, every_seconds: float) -> int:
    """Write the checkpoints missing after the newest one by folding the log forward: one every
    `every_events` events or `every_seconds` of log time, stamped with its event's time.

    For a log no beat has checkpointed (restored from a backup, imported, or a beat that was
    down): afterwards any moment folds at most one interval of events. Returns how many.
    """
    last = BoardCheckpoint.objects.order_by("-seq").first()
    start = last.seq if last is not None else 0
    moment = board_rebuild(seq=start)
    state, since_seq = moment.state, start
    since_at = last.at if last is not None else None
    folds = _folds_by_type()
    written = 0
    events = (
        Event.objects.filter(seq__gt=start).order_by("seq").values_list("seq", "at", "type", "data")
    )
    for number, at, type_, data in events.iterator(chunk_size=2000):
        seq = cast(int, number)  # never empty here: only the writing transaction sees it so
        for name, fold in folds.get(type_, ()):
            fold(state[name], data)
        since_at = since_at or at
        if seq - since_seq >= every_events or (at - since_at).total_seconds() >= every_seconds:
            rows = {name: list(rows.values()) for name, rows in state.items()}
            BoardCheckpoint.objects.create(seq=seq, at=at, state=rows)
            since_seq, since_at = seq, at
            written += 1
    return written


def board_checkpoints_prune(*, older_than: datetime) -> int:
    """Drop checkpoints older than `older_than`, keeping the newest of them as the base."""
    old = BoardCheckpoint.objects.filter(at__lt=older_than).order_by("-seq")
    keep = old.values_list("pk", flat=True).first()
    if keep is None:
        return 0
    deleted, _ = old.exclude(pk=keep).delete()
    return deleted


# --- rebuilding ------------------------------------------------------------------------------


def log_begins() -> datetime | None:
    first = Event.objects.order_by("seq").values_list("at", flat=True).first()
    return first


def seq_at(t: datetime) -> int:
    """The last event stored at or before `t` (0 if none). Raises ReplayRangeError outside the
    log: before its first event, or after now."""
    if t > timezone.now():
        raise ReplayRangeError("That moment is in the future.")
    begins = log_begins()
    if begins is None or t < begins:
        raise ReplayRangeError("That moment is before the event log begins.")
    # `at` rises with `seq` (numbers are taken under one lock, the row stored straight after).
    last = Event.objects.filter(at__lte=t).order_by("-at", "-seq").values_list("seq", flat=True)
    return last.first() or 0


def _folds_by_type() -> dict[str, list[tuple[str, Fold]]]:
    folds: dict[str, list[tuple[str, Fold]]] = {}
    for name, section in _sections.items():
        for type_, fold in section.folds.items():
            folds.setdefault(type_, []).append((name, fold))
    return folds


def seq_exists(seq: int) -> bool:
    return Event.objects.filter(seq=seq).exists()


def board_rebuild(*, seq: int) -> Moment:
    """The board after event `seq`: nearest checkpoint at or before it, then the events since."""
    checkpoint = BoardCheckpoint.objects.filter(seq__lte=seq).order_by("-seq").first()
    state: State = {name: {} for name in _sections}
    start = 0
    if checkpoint is not None:
        start = checkpoint.seq
        for name, rows in checkpoint.state.items():
            section = _sections.get(name)
            if section is not None:
                state[name] = {section.key(row): row for row in rows}
    folds = _folds_by_type()
    events = (
        Event.objects.filter(seq__gt=start, seq__lte=seq, type__in=list(folds))
        .order_by("seq")
        .values_list("type", "data")
    )
    for type_, data in events.iterator(chunk_size=2000):
        for name, fold in folds[type_]:
            fold(state[name], data)
    at = Event.objects.filter(seq=seq).values_list("at", flat=True).first()
    return Moment(seq=seq, at=at, state=state)


def board_at(*, seq: int, bcu: str | None) -> dict[str, Any]:
    """The board after event `seq` as a desk of `bcu` (None: all London) saw it, each section's
    rows projected to the contract's fields (`GET /api/v1/board/at/`)."""
    moment = board_rebuild(seq=seq)
    return {
        "seq": moment.seq,
        "at": moment.at.isoformat() if moment.at else None,
        **{
            name: [section.project(row) for row in section.visible(moment.state, bcu)]
            for name, section in _sections.items()
        },
    }


def _stream_filter(bcu: str | None) -> Q:
    """Events a desk of `bcu` hears (Event.bcu is the comma-joined BCUs that heard it)."""
    if not bcu:
        return Q()
    return Q(bcu__regex=rf"(^|,){bcu}(,|$)")


def neighbour_seqs(*, seq: int, bcu: str | None) -> dict[str, int | None]:
    """The board events just before and after `seq` on the desk's stream, for stepping."""
    events = Event.objects.filter(_stream_filter(bcu), type__in=replayed_types())
    before = events.filter(seq__lt=seq).order_by("-seq").values_list("seq", flat=True).first()
    after = events.filter(seq__gt=seq).order_by("seq").values_list("seq", flat=True).first()
    return {"previous": before, "next": after}


def stream_events(
    *, start: datetime, end: datetime, bcu: str | None, limit: int
) -> list[dict[str, Any]]:
    """The board events stored in [start, end] on the desk's stream, oldest first: the
    replay page's timeline (what happened when, to step through)."""
    rows = (
        Event.objects.filter(_stream_filter(bcu), type__in=replayed_types())
        .filter(at__gte=start, at__lte=end)
        .order_by("seq")
        .values("seq", "at", "type", "data")[:limit]
    )
    return [
        {"seq": r["seq"], "at": r["at"].isoformat(), "type": r["type"], "label": _label(r["data"])}
        for r in rows
    ]


def _label(data: dict[str, Any]) -> str:
    """A few words naming what the event is about (a reference or a call sign and a status)."""
    name = data.get("reference") or data.get("callsign") or ""
    status = data.get("status") or ""
    return f"{name} {status}".strip()
