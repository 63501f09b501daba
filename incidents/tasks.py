"""Periodic housekeeping for call handling. Thin: a service call, safe to run twice."""

from celery import shared_task

from incidents.retention import incidents_erase_personal_expired


@shared_task(acks_late=True, ignore_result=True, time_limit=900, soft_time_limit=840)
def erase_expired_personal_data() -> int:
    """Erase callers' details from incidents closed longer than the retention period (hourly).

    Each batch commits on its own, so a run cut short by the time limit loses at most one
    batch, which the next run does again.
    """
    return incidents_erase_personal_expired()
