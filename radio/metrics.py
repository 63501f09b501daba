"""The radio's figures for /metrics (cad/ops/metrics.py; registered in RadioConfig.ready)."""

from collections.abc import Iterable
from datetime import timedelta

from django.db.models import Avg, Count, DurationField, ExpressionWrapper, F, Max, Min
from django.db.models.functions import Coalesce
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily, Metric

from radio.models import RadioMessage

INGEST_WINDOW = timedelta(minutes=1)
UNDELIVERED = [RadioMessage.State.QUEUED, RadioMessage.State.SENT]


def radio_figures() -> Iterable[Metric]:
    """Three aggregate queries, each on the (state, received_at) index."""
    now = timezone.now()
    inbound = RadioMessage.objects.filter(direction=RadioMessage.Direction.INBOUND)

    # Ingest lag: from the radio's own timestamp (or our receipt, without one) to applied.
    lag = ExpressionWrapper(
        F("state_at") - Coalesce("sent_at", "received_at"), output_field=DurationField()
    )
    applied = inbound.filter(
        state=RadioMessage.State.APPLIED, received_at__gte=now - INGEST_WINDOW
    ).aggregate(n=Count("id"), avg=Avg(lag), max=Max(lag))
    ingest = GaugeMetricFamily(
        "beacon_radio_ingest_lag_seconds",
        "Radio time to applied, over inbound messages received in the last minute",
        labels=["stat"],
    )
    ingest.add_metric(["avg"], applied["avg"].total_seconds() if applied["avg"] else 0.0)
    ingest.add_metric(["max"], applied["max"].total_seconds() if applied["max"] else 0.0)
    yield ingest
    rate = GaugeMetricFamily(
        "beacon_radio_applied_last_minute",
        "Inbound radio messages received and applied in the last minute",
    )
    rate.add_metric([], applied["n"])
    yield rate

    backlog = inbound.filter(state=RadioMessage.State.RECEIVED).aggregate(
        n=Count("id"), oldest=Min("received_at")
    )
    waiting = GaugeMetricFamily(
        "beacon_radio_backlog_messages", "Inbound radio messages stored and not yet applied"
    )
    waiting.add_metric([], backlog["n"])
    yield waiting
    age = GaugeMetricFamily(
        "beacon_radio_backlog_oldest_age_seconds",
        "Age of the oldest unapplied inbound message; 0 if none",
    )
    age.add_metric([], (now - backlog["oldest"]).total_seconds() if backlog["oldest"] else 0.0)
    yield age

    undelivered = GaugeMetricFamily(
        "beacon_radio_undelivered_messages",
        "Despatch messages not yet delivered to the unit (queued, or sent and unconfirmed)",
        labels=["state"],
    )
    counts = dict(
        RadioMessage.objects.filter(
            direction=RadioMessage.Direction.OUTBOUND, state__in=UNDELIVERED
        )
        .values("state")
        .annotate(n=Count("id"))
        .values_list("state", "n")
    )
    for state in UNDELIVERED:
        undelivered.add_metric([state.value], counts.get(state, 0))
    yield undelivered
