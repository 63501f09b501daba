"""Frames of the radio-gateway protocol (docs/radio-protocol.md), shared by the bridge, the
outbound adapter and the simulator so the three cannot drift apart.

Plain functions over JSON-ready dicts; nothing here touches the database or the network.
"""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime
from typing import Any

from django.conf import settings

DEFAULT_URL = "ws://127.0.0.1:8765/"
MAX_BATCH = 500  # messages in one batch frame, as in one inbound request
INBOUND_TYPES = ("status", "position", "text")
# Receipt frame type → the delivery state Beacon records.
RECEIPT_STATES = {"delivered": "delivered", "undeliverable": "failed"}
# A gateway keeps an unacknowledged message and sends it again after this long on a live
# session (and at once after a reconnect).
RESEND_AFTER_SECONDS = 10.0
# How long a send session waits for `accepted` / `rejected`.
SEND_TIMEOUT_SECONDS = 5.0


def gateway_url() -> str:
    return getattr(settings, "RADIO_GATEWAY_URL", "") or DEFAULT_URL


def auth_headers() -> dict[str, str]:
    """`Authorization: Bearer` when RADIO_GATEWAY_TOKEN is set (a real gateway wants one)."""
    token = getattr(settings, "RADIO_GATEWAY_TOKEN", "")
    return {"Authorization": f"Bearer {token}"} if token else {}


def client_name(role: str) -> str:
    return f"beacon-{role}@{socket.gethostname()}"


def iso_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def encode(frame: dict[str, Any]) -> str:
    return json.dumps(frame, separators=(",", ":"), default=str)


def decode(text: str | bytes) -> dict[str, Any] | None:
    """One frame as a dict, or None if it is not a JSON object."""
    try:
        frame = json.loads(text)
    except (TypeError, ValueError):
        return None
    return frame if isinstance(frame, dict) else None


def hello(role: str) -> dict[str, Any]:
    return {"type": "hello", "role": role, "client": client_name(role)}


def outbound_ref(message_id: int) -> str:
    """Beacon's reference for an outbound message: `b-` and its id."""
    return f"b-{message_id}"


def message_id_of_ref(ref: str) -> int | None:
    """The outbound message id inside one of our references, or None if it is not ours."""
    if ref.startswith("b-") and ref[2:].isdigit() and len(ref) < 21:
        return int(ref[2:])
    return None
