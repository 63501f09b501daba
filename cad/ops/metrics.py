"""The Prometheus endpoint's figures (`/metrics`, protected as cad/ops/access.py says).

Computed at each scrape from the database and Redis, not counted in process memory: Beacon runs
as several processes (daphne, gunicorn workers, Celery), and a scrape reaches only one. Each
figure is one aggregate query (a handful per scrape, on indexed columns), so a 15 s scrape
interval costs PostgreSQL little. Windows ("in the last 15 minutes") are gauges rather than
counters for the same reason: there is no process-lifetime count to take a rate of.

Figures here: board sockets, fan-out lag and what is held unsent for slow desks (per daphne
process), Celery queue depth, sign-ins and lockouts. Higher apps add theirs (`register`) from
their AppConfig.ready: open incidents and the oldest unresourced (incidents/metrics.py), the
radio's (radio/metrics.py).
"""

from collections.abc import Callable, Iterable
from datetime import timedelta

from django.conf import settings
from django.db.models import Count
from django.db.models.fields.json import KeyTextTransform
from django.utils import timezone
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from cad.live.hub import local_figures
from cad.models import AuditEvent
from cad.ops import health, live

Collect = Callable[[], Iterable[Metric]]
COLLECTORS: list[Collect] = []
SIGN_IN_WINDOW = timedelta(minutes=15)


def register(collect: Collect) -> Collect:
    """Add a collector (a function yielding metric families) to every scrape."""
    if collect not in COLLECTORS:
        COLLECTORS.append(collect)
    return collect


@register
def board_figures() -> Iterable[Metric]:
    sockets = GaugeMetricFamily(
        "beacon_board_sockets",
        "Open despatch-board sockets, per server process",
        labels=["process"],
    )
    lag = GaugeMetricFamily(
        "beacon_board_fanout_lag_seconds",
        "Publish to the last local board socket: the largest over the last report interval "
        "(stat=max) and the latest (stat=last), per server process",
        labels=["process", "stat"],
    )
    unsent = GaugeMetricFamily(
        "beacon_board_unsent_bytes_max",
        "The most a server process held unsent for one board socket when it sent it a frame, "
        "over the last report interval: how near desks come to being cut off for not reading "
        "(BOARD_SEND_BUFFER_LIMIT_BYTES)",
        labels=["process"],
    )
    cut_offs = CounterMetricFamily(
        "beacon_board_cut_offs",
        "Board sockets closed because their desk stopped reading, per server process",
        labels=["process"],
    )
    for process, figures in sorted(live.collect(local_figures()).items()):
        sockets.add_metric([process], figures["sockets"])
        lag.add_metric([process, "max"], figures["lag_max_s"] or 0.0)
        if figures.get("lag_last_s") is not None:
            lag.add_metric([process, "last"], figures["lag_last_s"])
        # .get: a process started before these figures existed reports without them.
        unsent.add_metric([process], figures.get("unsent_max_bytes", 0))
        cut_offs.add_metric([process], figures.get("cut_offs", 0))
    yield sockets
    yield lag
    yield unsent
    yield cut_offs


@register
def celery_figures() -> Iterable[Metric]:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return  # no broker: tasks run in-process
    depth = GaugeMetricFamily(
        "beacon_celery_queue_depth", "Tasks waiting on the broker, per queue", labels=["queue"]
    )
    queues = health.celery_queues()
    with health.broker_connection() as conn:
        for queue, count in health.queue_depths(conn, queues).items():
            depth.add_metric([queue], count)
    yield depth


@register
def sign_in_figures() -> Iterable[Metric]:
    """From the audit trail (action `login`, indexed by time): every outcome in the window."""
    since = timezone.now() - SIGN_IN_WINDOW
    rows = (
        AuditEvent.objects.filter(action=AuditEvent.Action.LOGIN, at__gte=since)
        .annotate(
            outcome=KeyTextTransform("outcome", "changes"),
            locked=KeyTextTransform("locked_until", "changes"),
        )
        .values("outcome", "locked")
        .annotate(n=Count("id"))
    )
    attempts = GaugeMetricFamily(
        "beacon_sign_in_attempts_15m",
        "Sign-in outcomes in the last 15 minutes (success, password_ok, failed, "
        "second_factor_failed, locked = refused while locked, idle_timeout)",
        labels=["outcome"],
    )
    lockouts = GaugeMetricFamily(
        "beacon_lockouts_15m", "Sign-in locks imposed in the last 15 minutes (failures that locked)"
    )
    by_outcome: dict[str, int] = {}
    locks = 0
    for row in rows:
        outcome = row["outcome"] or "unknown"
        by_outcome[outcome] = by_outcome.get(outcome, 0) + row["n"]
        if row["locked"] and outcome in ("failed", "second_factor_failed"):
            locks += row["n"]
    for outcome in ("success", "failed", "locked"):
        by_outcome.setdefault(outcome, 0)
    for outcome, n in sorted(by_outcome.items()):
        attempts.add_metric([outcome], n)
    lockouts.add_metric([], locks)
    yield attempts
    yield lockouts


class _Collector:
    def collect(self) -> Iterable[Metric]:
        for collect in COLLECTORS:
            yield from collect()


def exposition() -> bytes:
    """The figures in Prometheus' text format (a fresh registry: no per-process defaults)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector())
    return generate_latest(registry)
