"""Outbound gateway adapters: how a despatch message reaches a unit's terminal.

Each radio-gateway product (Frequentis LifeX in the MPS, a test harness, a log file in
development) has its own protocol; Beacon talks to it through one small interface, chosen by the
setting `RADIO_GATEWAY_ADAPTER` (a dotted path to a class with a no-argument constructor).

`send(message)` hands one outbound `RadioMessage` to the gateway and returns a `SendResult`:
`sent` (the gateway accepted it; a delivery receipt may follow at `POST /api/v1/radio/delivery/`),
`delivered` (the gateway confirmed delivery synchronously) or `failed` (refused for good, e.g. an
unknown terminal). A passing fault (gateway unreachable, timed out) raises `GatewayUnavailable`:
the message stays queued and the task retries. Adapters must not touch the database; the
service records the result.
"""

from __future__ import annotations

import logging
import time
from functools import cache
from typing import TYPE_CHECKING, NamedTuple, Protocol

from django.conf import settings
from django.utils.module_loading import import_string
from websockets.exceptions import WebSocketException
from websockets.sync.client import connect

from radio import protocol

if TYPE_CHECKING:
    from radio.models import RadioMessage

logger = logging.getLogger(__name__)

DEFAULT_ADAPTER = "radio.adapters.LoggingAdapter"
SEND_STATES = ("sent", "delivered", "failed")


class GatewayUnavailable(Exception):
    """The gateway cannot take the message now; try again later."""


class SendResult(NamedTuple):
    state: str  # one of SEND_STATES
    gateway_id: str = ""  # the gateway's reference, if it gives one, for delivery receipts
    note: str = ""


class GatewayAdapter(Protocol):
    def send(self, message: RadioMessage) -> SendResult: ...


class LoggingAdapter:
    """The default: writes the message to the log and reports it `sent`, never `delivered`.

    Honest on purpose: with no real gateway configured, the board must not tell a despatcher
    that a terminal received a job.
    """

    def send(self, message: RadioMessage) -> SendResult:
        logger.info("radio out to ISSI %s (message %s): %s", message.issi, message.pk, message.text)
        return SendResult("sent", note="logged only: no radio gateway configured")


class LoopbackAdapter:
    """For demonstrations and test harnesses: every message is delivered at once."""

    def send(self, message: RadioMessage) -> SendResult:
        logger.info("radio loopback to ISSI %s (message %s)", message.issi, message.pk)
        return SendResult("delivered", gateway_id=f"loopback-{message.pk}", note="loopback")


class WebSocketGatewayAdapter:
    """Sends over a send session of the radio-gateway protocol (docs/radio-protocol.md).

    One short connection per message: hello, despatch, then `accepted` (→ sent, with our `b-<id>`
    ref as the gateway id, so a receipt quoting the ref finds the message) or `rejected` (→
    failed). No connection, or no answer within 5 s, raises GatewayUnavailable and the task
    retries. A fresh connection per send keeps the adapter thread-safe and stateless (it runs
    in Celery workers and, with eager tasks, in daphne's threads); at despatch rates the extra
    handshake costs nothing worth a pool.
    """

    timeout = 5.0
    # The fields of the stored payload a terminal shows (the rest is Beacon's bookkeeping).
    payload_fields = (
        "reference", "type", "type_name", "grade", "address", "summary", "lat", "lon",
        "callsign", "warnings",
    )  # fmt: skip

    def send(self, message: RadioMessage) -> SendResult:
        ref = protocol.outbound_ref(message.pk)
        raw = message.raw if isinstance(message.raw, dict) else {}
        frame = {
            "type": "despatch",
            "ref": ref,
            "issi": message.issi,
            "text": message.text,
            "payload": {key: raw[key] for key in self.payload_fields if key in raw},
        }
        url = protocol.gateway_url()
        deadline = time.monotonic() + self.timeout
        try:
            with connect(
                url,
                additional_headers=protocol.auth_headers() or None,
                open_timeout=self.timeout,
                close_timeout=1,
            ) as ws:
                ws.send(protocol.encode(protocol.hello("send")))
                self._wait_for(ws, deadline, lambda f: f.get("type") == "welcome")
                ws.send(protocol.encode(frame))
                answer = self._wait_for(
                    ws,
                    deadline,
                    lambda f: f.get("type") in ("accepted", "rejected") and f.get("ref") == ref,
                )
        except (OSError, TimeoutError, WebSocketException) as exc:
            raise GatewayUnavailable(f"{url}: {exc or type(exc).__name__}") from exc
        if answer["type"] == "accepted":
            return SendResult("sent", gateway_id=ref, note="accepted by the radio gateway")
        reason = str(answer.get("reason") or "no reason given")
        return SendResult("failed", gateway_id=ref, note=f"rejected by the gateway: {reason}")

    @staticmethod
    def _wait_for(ws, deadline: float, wanted) -> dict:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no answer from the radio gateway within 5 s")
            frame = protocol.decode(ws.recv(timeout=remaining))
            if frame is None:
                continue
            if wanted(frame):
                return frame
            if frame.get("type") == "ping":
                ws.send(protocol.encode({"type": "pong"}))


@cache
def _adapter(path: str) -> GatewayAdapter:
    return import_string(path)()


def get_adapter() -> GatewayAdapter:
    """The configured adapter, built once per process and path."""
    return _adapter(getattr(settings, "RADIO_GATEWAY_ADAPTER", DEFAULT_ADAPTER))
