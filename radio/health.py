"""The radio's part of `/healthz/detail` (registered in RadioConfig.ready): is a bridge
connected and hearing the gateway, and is anything waiting too long to be applied?"""

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Min
from django.utils import timezone

from cad.ops.health import DOWN, OFF, OK
from cad.ops.heartbeats import RADIO_BRIDGE_PREFIX, heartbeats
from radio.models import RadioMessage


def check_bridge() -> dict[str, Any]:
    """Connected: some bridge stamped within three heartbeat intervals and says it is in a
    session with the gateway. Bridges stamped within the last hour are listed."""
    if not settings.RADIO_BRIDGE_ENABLED:
        return {"status": OFF, "note": "no radio bridge deployed (RADIO_BRIDGE_ENABLED=0)"}
    now = timezone.now()
    fresh_within = timedelta(seconds=3 * settings.RADIO_BRIDGE_HEARTBEAT_SECONDS)
    bridges = []
    for row in heartbeats(prefix=RADIO_BRIDGE_PREFIX):
        if now - row.at > timedelta(hours=1):
            break
        alive = now - row.at <= fresh_within
        bridges.append(
            {
                "name": row.name.removeprefix(RADIO_BRIDGE_PREFIX),
                "connected": bool(alive and row.detail.get("connected")),
                "heartbeat_at": row.at.isoformat(),
                "last_message_at": row.detail.get("last_message_at"),
                **({"error": "no heartbeat: stopped or hung"} if not alive else {}),
            }
        )
    connected = [b for b in bridges if b["connected"]]
    last = max((b["last_message_at"] for b in bridges if b["last_message_at"]), default=None)
    return {
        "status": OK if connected else DOWN,
        "connected": bool(connected),
        "last_message_at": last,
        "bridges": bridges,
        **({} if connected else {"error": "no radio bridge connected to the gateway"}),
    }


def check_backlog() -> dict[str, Any]:
    """Inbound messages stored but not yet applied, and how old the oldest is."""
    now = timezone.now()
    backlog = RadioMessage.objects.filter(
        direction=RadioMessage.Direction.INBOUND, state=RadioMessage.State.RECEIVED
    ).aggregate(unapplied=Count("id"), oldest=Min("received_at"))
    age = (now - backlog["oldest"]).total_seconds() if backlog["oldest"] else None
    late = age is not None and age > settings.RADIO_BACKLOG_MAX_AGE_SECONDS
    return {
        "status": DOWN if late else OK,
        "unapplied": backlog["unapplied"],
        "oldest_unapplied_age_s": None if age is None else round(age, 1),
        **({"error": f"a radio message has waited {age:.0f} s to be applied"} if late else {}),
    }
