"""Duties' periodic jobs. Thin: a service call, safe to run twice."""

from celery import shared_task
from django.conf import settings

from duties.resilience.snapshot import resilience_snapshot_write


@shared_task(acks_late=True, ignore_result=True, time_limit=120, soft_time_limit=100, expires=240)
def write_resilience_snapshot() -> None:
    """Every 5 minutes (CELERY_BEAT_SCHEDULE): refresh the resilience snapshot, so what a desk
    works from in an outage is at most a few minutes old."""
    resilience_snapshot_write(directory=settings.RESILIENCE_SNAPSHOT_DIR)
