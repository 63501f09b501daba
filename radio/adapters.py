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
from functools import cache
from typing import TYPE_CHECKING, NamedTuple, Protocol

from django.conf import settings
from django.utils.module_loading import import_string

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


@cache
def _adapter(path: str) -> GatewayAdapter:
    return import_string(path)()


def get_adapter() -> GatewayAdapter:
    """The configured adapter, built once per process and path."""
    return _adapter(getattr(settings, "RADIO_GATEWAY_ADAPTER", DEFAULT_ADAPTER))
