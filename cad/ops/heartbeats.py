"""Heartbeats: long-running processes stamp a row now and then; health reads how old it is.

Celery beat stamps `beat` each time it sends a scheduled task (the `before_task_publish` signal
in the beat process, connected by `beat_init`), so the stamp is beat's own last run, whether or
not a worker then picks the task up (the queue checks cover workers). `manage.py radio_sweep`,
beat's stand-in on the embedded default, stamps it too. Each radio bridge stamps
`radio_bridge:<host>:<pid>` every few seconds with whether it is connected and when its last
message arrived (radio/bridge.py). A row in the database rather than a Redis key: it is there on
the embedded default too, survives a Redis restart, and costs one upsert every few seconds.
"""

import logging
import os
import socket
from datetime import datetime
from typing import Any

from celery.signals import beat_init, before_task_publish
from django.db import DatabaseError, close_old_connections, connection
from django.utils import timezone

from cad.models import Heartbeat

logger = logging.getLogger(__name__)

BEAT = "beat"
RADIO_BRIDGE_PREFIX = "radio_bridge:"


def process_name(prefix: str) -> str:
    """A name unique to this process, e.g. `radio_bridge:web-7f9c:4121`."""
    return f"{prefix}{socket.gethostname()}:{os.getpid()}"


def heartbeat_stamp(
    *, name: str, detail: dict[str, Any] | None = None, at: datetime | None = None
) -> None:
    """Record that `name` is alive now (one upsert)."""
    Heartbeat.objects.bulk_create(
        [Heartbeat(name=name, at=at or timezone.now(), detail=detail or {})],
        update_conflicts=True,
        unique_fields=["name"],
        update_fields=["at", "detail"],
    )


def heartbeats(*, prefix: str) -> list[Heartbeat]:
    """Heartbeats whose name starts with `prefix`, newest first."""
    return list(Heartbeat.objects.filter(name__startswith=prefix).order_by("-at"))


# --- Celery beat ------------------------------------------------------------------------------
_in_beat = {"on": False}


@beat_init.connect
def _beat_started(sender=None, **kwargs) -> None:
    _in_beat["on"] = True


@before_task_publish.connect
def _beat_sent_a_task(sender: str | None = None, **kwargs) -> None:
    """In the beat process only: each scheduled task sent is a sign of life."""
    if not _in_beat["on"]:
        return
    try:
        if not connection.in_atomic_block:
            close_old_connections()  # beat runs for months: drop a connection the server closed
        heartbeat_stamp(name=BEAT, detail={"task": sender or "", "host": socket.gethostname()})
    except DatabaseError:
        # Beat must keep scheduling while the database is away; health will show it stale.
        logger.warning("could not stamp beat's heartbeat", exc_info=True)
