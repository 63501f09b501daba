"""Partner jobs: thin, ids in, a service call; safe to run twice (sending locks the queued
row and skips one already sent)."""

from typing import Any

from celery import Task, shared_task
from django.conf import settings

# Module imports both ways with resources.partners.services (it queues these tasks).
from resources.partners import services
from resources.partners.transport import PartnerUnavailable

TASK_OPTIONS: dict[str, Any] = {
    "acks_late": True,
    "ignore_result": True,
    "time_limit": 60,
    "soft_time_limit": 45,
}


@shared_task(bind=True, **TASK_OPTIONS, max_retries=settings.PARTNER_SEND_RETRIES)
def send_partner_delivery(self: Task[[int], None], delivery_id: int) -> None:
    """Send one queued document; retry with backoff (2, 4, 8 … 60 s) while the partner is down,
    then mark it failed. The unacknowledged alert runs on its own clock from queueing."""
    give_up = self.max_retries is not None and self.request.retries >= self.max_retries
    try:
        services.partner_delivery_send(delivery_id=delivery_id, give_up=give_up)
    except PartnerUnavailable as exc:
        raise self.retry(exc=exc, countdown=min(2 ** (self.request.retries + 1), 60)) from exc


@shared_task(acks_late=True, ignore_result=True, time_limit=30, soft_time_limit=20)
def alert_unacknowledged_partner_deliveries() -> None:
    """Beat, every 15 s: alert the desks to documents a partner has not acknowledged in time."""
    services.partner_deliveries_alert_unacknowledged()


@shared_task(acks_late=True, ignore_result=True, time_limit=60, soft_time_limit=50)
def requeue_partner_deliveries() -> int:
    """Beat, every minute: queue again the deliveries whose sending task was lost."""
    return services.partner_deliveries_requeue_stale()
