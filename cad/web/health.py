"""Health of the backing services, for /healthz and the operators' monitoring."""

import asyncio
import uuid

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from kombu import Connection


def check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def check_channel_layer() -> None:
    """Round-trip one message through the layer (Redis when configured)."""
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer configured")

    async def round_trip():
        # Every layer Beacon runs (in-memory, channels-redis) takes a prefix; the stub's base
        # class does not declare one.
        channel = await layer.new_channel("healthz.")  # type: ignore[call-arg]
        token = uuid.uuid4().hex
        await layer.send(channel, {"type": "healthz", "token": token})
        message = await layer.receive(channel)
        if message.get("token") != token:
            raise RuntimeError("channel layer returned the wrong message")

    async def bounded():
        await asyncio.wait_for(round_trip(), timeout=settings.HEALTHZ_TIMEOUT_S)

    async_to_sync(bounded)()


def check_broker() -> None:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return  # tasks run in-process: nothing to reach
    timeout = settings.HEALTHZ_TIMEOUT_S
    with Connection(settings.CELERY_BROKER_URL, connect_timeout=timeout) as conn:
        # kombu compares the timeout with a float clock; its stub says int.
        conn.ensure_connection(max_retries=1, timeout=timeout)  # type: ignore[arg-type]


CHECKS = {"database": check_database, "channel_layer": check_channel_layer, "broker": check_broker}


def health() -> dict[str, str]:
    """{check: "ok" | "down: reason"} for every backing service."""
    results = {}
    for name, check in CHECKS.items():
        try:
            check()
            results[name] = "ok"
        except Exception as exc:  # noqa: BLE001  (any failure means "down", with its reason)
            results[name] = f"down: {type(exc).__name__}: {exc}"[:300]
    return results
