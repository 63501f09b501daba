"""Incidents' figures for /metrics (cad/ops/metrics.py; registered in IncidentsConfig.ready)."""

from collections.abc import Iterable

from django.db.models import Count, Min
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily, Metric

from incidents.models import Grade, Incident, IncidentStatus

OPEN_STATES = [IncidentStatus.OPEN, IncidentStatus.ASSIGNED, IncidentStatus.AT_SCENE]
# Grades with an attendance target (15 and 60 minutes): the ones a control room watches age.
WATCHED_GRADES = [Grade.IMMEDIATE, Grade.SIGNIFICANT]


def incident_figures() -> Iterable[Metric]:
    """Two grouped queries over the open incidents (index incident_queue_idx: status first)."""
    open_incidents = GaugeMetricFamily(
        "beacon_incidents_open", "Open incidents by grade and BCU", labels=["grade", "bcu"]
    )
    rows = (
        Incident.objects.filter(status__in=OPEN_STATES)
        .values("grade", "bcu__code")
        .annotate(n=Count("id"))
        .order_by("grade", "bcu__code")
    )
    for row in rows:
        open_incidents.add_metric([row["grade"], row["bcu__code"] or "none"], row["n"])
    yield open_incidents

    oldest = GaugeMetricFamily(
        "beacon_incident_oldest_unresourced_age_seconds",
        "Age (since created) of the oldest incident with no unit, per I and S grade; 0 if none",
        labels=["grade"],
    )
    firsts = dict(
        Incident.objects.filter(status=IncidentStatus.OPEN, grade__in=WATCHED_GRADES)
        .values("grade")
        .annotate(first=Min("created_at"))
        .values_list("grade", "first")
    )
    now = timezone.now()
    for grade in WATCHED_GRADES:
        first = firsts.get(grade)
        oldest.add_metric([grade], max(0.0, (now - first).total_seconds()) if first else 0.0)
    yield oldest
