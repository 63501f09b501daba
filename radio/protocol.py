"""Frames of the radio-gateway protocol (docs/radio-protocol.md), shared by the bridge, the
outbound adapter and the simulator so the three cannot drift apart.

Plain functions over JSON-ready dicts; nothing here touches the database or the network.
"""

from __future__ import annotations

import json
import socket
import sys
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
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
# Flow control ("Flow control" in the protocol): how many messages a bridge session may hold
# unacknowledged (its hello's `window`; below the bridge's queue, so it never stops reading), and
# how often a bridge holding some says `busy` (well inside the resend interval).
BRIDGE_WINDOW = 4 * MAX_BATCH
BUSY_EVERY_SECONDS = 2.0
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
    except (TypeError, ValueError, RecursionError):  # RecursionError: nested too deep
        return None
    return frame if isinstance(frame, dict) else None


def hello(role: str, window: int | None = None) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "hello", "role": role, "client": client_name(role)}
    if window:
        frame["window"] = window
    return frame


def hello_window(frame: dict[str, Any]) -> int | None:
    """The window a bridge's hello asks for, or None: a bridge without flow control."""
    value = frame.get("window")
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None


@dataclass
class Flow:
    """A gateway's bookkeeping for one bridge session: what is in flight on it (key -> when it
    was last sent, oldest first) and when the bridge last made progress (ack, nack, busy).

    Shared by the simulator, the test harness and the bench's load gateway, so the three honour
    the window the same way. Without a window (a bridge that predates flow control) there is
    always room and an unacknowledged message is resent `resend_after` after it was sent, as
    before; with one, only once the bridge has shown no progress for that long."""

    window: int | None
    progress_at: float
    in_flight: OrderedDict[Any, float] = field(default_factory=OrderedDict)

    def room(self) -> int:
        if self.window is None:
            return sys.maxsize
        return max(0, self.window - len(self.in_flight))

    def sent(self, keys: Iterable[Any], now: float) -> None:
        for key in keys:
            self.in_flight[key] = now
            self.in_flight.move_to_end(key)

    def settled(self, keys: Iterable[Any], now: float) -> None:
        """Acknowledged or refused: out of flight, and the bridge is making progress."""
        for key in keys:
            self.in_flight.pop(key, None)
        self.progress_at = now

    def busy(self, now: float) -> None:
        self.progress_at = now

    def due(self, now: float, resend_after: float) -> list[Any]:
        """Keys to send again on this live session (their clocks restart)."""
        if self.window is not None and now - self.progress_at < resend_after:
            return []  # slow but alive: resending would only add to its load
        stale = []
        for key, at in self.in_flight.items():
            if now - at < resend_after:
                break
            stale.append(key)
        self.sent(stale, now)
        return stale


def outbound_ref(message_id: int) -> str:
    """Beacon's reference for an outbound message: `b-` and its id."""
    return f"b-{message_id}"


def message_id_of_ref(ref: str) -> int | None:
    """The outbound message id inside one of our references, or None if it is not ours."""
    if ref.startswith("b-") and ref[2:].isdigit() and len(ref) < 21:
        return int(ref[2:])
    return None
