"""Live-board events: stored with a gapless sequence number, published after commit.

The Event row is written in the writer's transaction, so it exists exactly when the change does.
Publishing to the channel layer happens on commit and may fail (Redis down): the record is safe
and browsers catch up with `resync`, which reads this table.
"""

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.db.models import F

from cad.models import Event, EventCounter

logger = logging.getLogger(__name__)

ALL_GROUP = "board.all"


def bcu_group(bcu_code: str) -> str:
    return f"board.bcu.{bcu_code}"


def groups_for(bcu_codes: list[str]) -> list[str]:
    """Central desks (ALL_GROUP) get everything; a BCU desk gets its own BCU's events."""
    return [ALL_GROUP, *(bcu_group(code) for code in sorted(set(bcu_codes)) if code)]


def event_emit(*, type: str, data: dict[str, Any], bcus: list[str] | None = None) -> Event:
    """Store an event and publish it once the surrounding transaction commits.

    `bcus` names every BCU whose desks must hear of it (an incident's BCU, and for a unit sent
    across a border, the unit's own BCU too).
    """
    bcus = [b for b in (bcus or []) if b]
    with transaction.atomic():
        # The counter row is the serialisation point: numbers are handed out in commit order
        # and never skipped (a rollback returns the number with the change).
        counter, _ = EventCounter.objects.select_for_update().get_or_create(id=1)
        EventCounter.objects.filter(id=1).update(last_seq=F("last_seq") + 1)
        seq = counter.last_seq + 1
        event = Event.objects.create(seq=seq, type=type, bcu=",".join(sorted(set(bcus))), data=data)
    message = event.as_message()
    groups = groups_for(bcus)
    transaction.on_commit(lambda: publish(message, groups))
    return event


def publish(message: dict[str, Any], groups: list[str]) -> None:
    """Send to the channel layer; never raise, because the change is already committed."""
    layer = get_channel_layer()
    if layer is None:
        return
    payload = {"type": "board.event", "event": message}
    try:
        for group in groups:
            async_to_sync(layer.group_send)(group, payload)
    except Exception:  # noqa: BLE001  (Redis down must not fail a committed change)
        logger.warning("live publish failed for seq %s; clients will resync", message["seq"])


def latest_seq() -> int:
    counter = EventCounter.objects.filter(id=1).values_list("last_seq", flat=True).first()
    return counter or 0


def events_since(seq: int, *, bcu: str | None, limit: int) -> list[dict[str, Any]] | None:
    """Events after `seq` visible to a desk, oldest first; None when more than `limit` missed."""
    rows = Event.objects.filter(seq__gt=seq).order_by("seq")
    if bcu:
        rows = rows.filter(bcu__contains=bcu)
    batch = list(rows.values("seq", "type", "data", "bcu")[: limit + 1])
    if len(batch) > limit:
        return None
    if bcu:
        # `contains` on a comma list can over-match ("AW" in "XAW"); keep exact members only.
        batch = [e for e in batch if bcu in e["bcu"].split(",")]
    return [{"seq": e["seq"], "type": e["type"], "data": e["data"]} for e in batch]
