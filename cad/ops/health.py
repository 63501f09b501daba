"""Health: the anonymous `/healthz` (up or down, nothing else) and `/healthz/detail` (why).

`/healthz` answers load balancers and container probes: can this process reach what every
request needs (the database, the channel layer, the broker)? Anonymous callers learn only
"ok" or "down": an exception's text names hosts, addresses and driver versions, which are for
the operators. `/healthz/detail` is for them (cad/ops/access.py says who): every basic check
with its reason, each Celery queue (pinged: which workers answer for it within the timeout, and
how many messages wait), beat by its last run, and whatever the higher apps register here
(`register`): the radio bridge and the radio backlog (radio/health.py).

Each detail check returns a dict with `status`: `ok`, `down`, or `off` (not deployed here, e.g.
no Celery workers on the embedded default). Any `down` makes the whole answer 503.
"""

import asyncio
import functools
import time
import uuid
from collections.abc import Callable
from typing import Any

from asgiref.sync import async_to_sync
from celery import Celery
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.utils import timezone
from kombu import Connection

from cad.models import Heartbeat
from cad.ops import heartbeats

OK, DOWN, OFF = "ok", "down", "off"
Check = Callable[[], dict[str, Any]]


# --- basic checks: every request needs these --------------------------------------------------
def check_database() -> dict[str, Any]:
    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"status": OK, "ms": round((time.monotonic() - started) * 1000, 1)}


def check_channel_layer() -> dict[str, Any]:
    """Round-trip one message through the layer (Redis when configured)."""
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer configured")

    async def round_trip():
        channel = await layer.new_channel("healthz.")  # type: ignore[call-arg]  # both layers take a prefix
        token = uuid.uuid4().hex
        await layer.send(channel, {"type": "healthz", "token": token})
        message = await layer.receive(channel)
        if message.get("token") != token:
            raise RuntimeError("channel layer returned the wrong message")

    async def bounded():
        await asyncio.wait_for(round_trip(), timeout=settings.HEALTHZ_TIMEOUT_S)

    async_to_sync(bounded)()
    return {"status": OK}


def check_broker() -> dict[str, Any]:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return {"status": OFF, "note": "no broker: tasks run in-process"}
    with broker_connection() as conn:
        conn.ensure_connection(max_retries=1, timeout=settings.HEALTHZ_TIMEOUT_S)  # type: ignore[arg-type]  # kombu takes float seconds
    return {"status": OK}


CHECKS: dict[str, Check] = {
    "database": check_database,
    "channel_layer": check_channel_layer,
    "broker": check_broker,
}


# --- detail checks ----------------------------------------------------------------------------
def celery_queues() -> list[str]:
    """Every queue a task can be routed to (settings), default first."""
    queues = [settings.CELERY_TASK_DEFAULT_QUEUE]
    for route in settings.CELERY_TASK_ROUTES.values():
        if route.get("queue") and route["queue"] not in queues:
            queues.append(route["queue"])
    return queues


def queue_depths(conn: Connection, queues: list[str]) -> dict[str, int]:
    """Messages waiting in each queue on the Redis broker (kombu keeps one list per priority
    step: the plain name for the default priority, `name\\x06\\x16N` for the others)."""
    channel: Any = conn.default_channel  # the Redis transport's channel; the stubs know the base
    pipe = channel.client.pipeline()
    for queue in queues:
        for step in channel.priority_steps:
            pipe.llen(f"{queue}{channel.sep}{step}" if step else queue)
    counts = pipe.execute()
    steps = len(channel.priority_steps)
    return {q: sum(counts[i * steps : (i + 1) * steps]) for i, q in enumerate(queues)}


def broker_key_prefix() -> str:
    """What begins this deployment's keys on the broker (a training instance's `training:`,
    CELERY_KEY_PREFIX; empty for none): without it the checks would count and ask another
    deployment's queues and workers on the same Redis."""
    return str(settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix", ""))


def broker_connection() -> Connection:
    timeout = settings.HEALTHZ_TIMEOUT_S
    return Connection(
        settings.CELERY_BROKER_URL,
        connect_timeout=timeout,
        transport_options={"socket_timeout": timeout, "global_keyprefix": broker_key_prefix()},
    )


@functools.lru_cache(maxsize=2)
def _control_app(broker_url: str, key_prefix: str) -> Celery:
    """A Celery app for the broadcasts, bound to the broker and keys that settings name now
    (celery's own app publishes control messages through its producer pool, fixed at its
    first use)."""
    app = Celery("beacon-health", broker=broker_url, set_as_current=False)
    app.conf.broker_transport_options = {"global_keyprefix": key_prefix}
    return app


def check_queues() -> dict[str, Any]:
    """Which workers consume each queue, asked by broadcast with a timeout; and its depth."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return {"status": OFF, "note": "no workers: tasks run in-process"}
    queues = celery_queues()
    app = _control_app(settings.CELERY_BROKER_URL, broker_key_prefix())
    replies = app.control.inspect(timeout=settings.HEALTHZ_QUEUE_TIMEOUT_S).active_queues() or {}
    with broker_connection() as conn:
        depths = queue_depths(conn, queues)
    workers = {
        q: sorted(w for w, consumed in replies.items() if any(x["name"] == q for x in consumed))
        for q in queues
    }
    result = {
        q: {"status": OK if workers[q] else DOWN, "workers": workers[q], "depth": depths[q]}
        for q in queues
    }
    down = [q for q in queues if not workers[q]]
    return {"status": DOWN if down else OK, "queues": result, **({"down": down} if down else {})}


def check_beat() -> dict[str, Any]:
    """Beat by its last run: it sends a task every few seconds, so a stamp older than
    BEAT_STALE_SECONDS means beat stopped, hung or cannot reach the database."""
    row = Heartbeat.objects.filter(name=heartbeats.BEAT).first()
    if row is None:
        return {"status": DOWN, "last_run": None, "error": "beat has never run"}
    age = (timezone.now() - row.at).total_seconds()
    stale = age > settings.BEAT_STALE_SECONDS
    return {
        "status": DOWN if stale else OK,
        "last_run": row.at.isoformat(),
        "age_s": round(age, 1),
        **({"error": f"no run for {age:.0f} s"} if stale else {}),
    }


DETAIL_CHECKS: dict[str, Check] = {"queues": check_queues, "beat": check_beat}


def register(name: str, check: Check) -> None:
    """For higher apps (from their AppConfig.ready): add a check to /healthz/detail."""
    DETAIL_CHECKS[name] = check


# --- running them -----------------------------------------------------------------------------
def run_check(check: Check) -> dict[str, Any]:
    try:
        result = check()
    except Exception as exc:  # noqa: BLE001  (any failure means "down", with its reason)
        return {"status": DOWN, "error": f"{type(exc).__name__}: {exc}"[:300]}
    return result


def healthy() -> bool:
    """Whether this process can serve requests: the basic checks, no reasons given."""
    return all(run_check(check)["status"] != DOWN for check in CHECKS.values())


def health_detail() -> dict[str, Any]:
    """Every check with its reason, for operators."""
    checks = {name: run_check(check) for name, check in {**CHECKS, **DETAIL_CHECKS}.items()}
    down = [name for name, result in checks.items() if result["status"] == DOWN]
    return {
        "status": DOWN if down else OK,
        "at": timezone.now().isoformat(),
        "checks": checks,
        **({"down": down} if down else {}),
    }
