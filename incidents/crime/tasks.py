"""Crime-report jobs: thin, ids in, a service call; safe to run twice (the send locks the
submitted row and skips one already sent)."""

from celery import Task, shared_task
from django.conf import settings

# Module imports both ways with incidents.crime.services (it queues this task).
from incidents.crime import services
from incidents.crime.adapters import RecordsUnavailable


@shared_task(bind=True, acks_late=True, ignore_result=True, time_limit=60, soft_time_limit=45,
             max_retries=settings.RECORDS_SEND_RETRIES)  # fmt: skip
def send_crime_report(self: Task[[int], None], report_id: int) -> None:
    """Send one reviewed report to records; back off (2, 4, 8 … 120 s) while it is down."""
    give_up = self.max_retries is not None and self.request.retries >= self.max_retries
    try:
        services.crime_report_send(report_id=report_id, give_up=give_up)
    except RecordsUnavailable as exc:
        raise self.retry(exc=exc, countdown=min(2 ** (self.request.retries + 1), 120)) from exc


@shared_task(acks_late=True, ignore_result=True, time_limit=60, soft_time_limit=50)
def requeue_crime_reports() -> int:
    """Queue again the reviewed reports whose sending task was lost (hourly)."""
    return services.crime_reports_requeue_stale()
