"""Retention of the live-board event log (issue 23, docs/decisions/0018-event-log-retention.md).

Every radio position fix adds an Event row: about 170 million a day at 2,000 fixes a second. The
log is what a board catches up from (`resync`, a gap fill) and what replay folds
(cad/live/replay.py); neither needs it for ever. It is not the court's record: the incident log
and the audit trail are, and they are kept apart.

Pruning deletes, oldest first and in short batches, the events up to a *base checkpoint*: the
newest replay checkpoint written at or before the cutoff. So every moment still in the log can be
rebuilt from a checkpoint and the events after it, and no event newer than the cutoff is ever
touched. The highest pruned seq is kept as a watermark (an EventCounter row), moved in the same
transaction as each batch's delete; `events_since` compares a resync's `since` with it, so a
board whose cursor fell behind the pruned part gets a whole snapshot, never a silent gap.
"""

from datetime import datetime

from django.db import connection, transaction
from django.db.models import Min

from cad.models import BoardCheckpoint, Event, EventCounter

# EventCounter row holding the highest pruned seq (id 1 is the global counter, ids from
# cad.live.events.BCU_STREAM_BASE the BCU streams).
PRUNED_THROUGH = 2
PRUNE_BATCH = 5000


def events_pruned_through() -> int:
    """Every event with seq at or below this may have been pruned (0: none ever was)."""
    row = EventCounter.objects.filter(id=PRUNED_THROUGH).values_list("last_seq", flat=True)
    return row.first() or 0


def event_log_prune(*, older_than: datetime, batch: int = PRUNE_BATCH) -> int:
    """Delete events up to the newest checkpoint written at or before `older_than`, in batches
    of `batch` rows, each its own short transaction; return how many were deleted.

    Safe beside writers: new events take seqs above the counter, which is past any checkpoint,
    so a batch's seq range never meets a row being inserted. Safe twice at once: each batch locks
    the watermark row first, so two prunes take turns and neither deletes past the base.
    """
    base = (
        BoardCheckpoint.objects.filter(at__lte=older_than)
        .order_by("-seq")
        .values_list("seq", flat=True)
        .first()
    )
    if base is None:
        return 0  # no checkpoint that old yet: replay would have nothing to start from
    deleted = 0
    while True:
        with transaction.atomic():
            watermark, _ = EventCounter.objects.select_for_update(no_key=True).get_or_create(
                id=PRUNED_THROUGH
            )
            start = watermark.last_seq
            if start >= base:
                return deleted
            if start == 0:  # first prune: start at the log's beginning, not at seq 1
                first = Event.objects.aggregate(first=Min("seq"))["first"]
                start = min(base, (first or base + 1) - 1)
            upto = min(base, start + batch)
            with connection.cursor() as cursor:
                if connection.vendor == "postgresql":
                    # The append-only trigger lets a DELETE through only with this flag, which
                    # SET LOCAL scopes to this transaction (migration 0013).
                    cursor.execute("SET LOCAL beacon.event_prune = 'on'")
                cursor.execute(
                    f"DELETE FROM {Event._meta.db_table} WHERE seq > %s AND seq <= %s",  # noqa: S608
                    [start, upto],
                )
                deleted += cursor.rowcount
            EventCounter.objects.filter(id=PRUNED_THROUGH).update(last_seq=upto)
