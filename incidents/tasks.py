"""Periodic housekeeping for call handling. Thin: a service call, safe to run twice."""

from celery import Task, shared_task
from django.conf import settings

from incidents.public import services as public_services
from incidents.public import texts
from incidents.public.notify import SendFailed
from incidents.retention import incidents_erase_personal_expired


@shared_task(acks_late=True, ignore_result=True, time_limit=900, soft_time_limit=840)
def erase_expired_personal_data() -> int:
    """Erase callers' details from incidents closed longer than the retention period (hourly).

    Each batch commits on its own, so a run cut short by the time limit loses at most one
    batch, which the next run does again.
    """
    return incidents_erase_personal_expired()


@shared_task(bind=True, acks_late=True, ignore_result=True, max_retries=None,
             time_limit=30, soft_time_limit=20)  # fmt: skip
def send_caller_message(self: Task, message_id: int) -> str:
    """Send one text to a caller whose police are on the way: despatched, at scene, closed
    (queue `texts`)."""
    return _send(self, message_id)


@shared_task(bind=True, acks_late=True, ignore_result=True, max_retries=None,
             time_limit=30, soft_time_limit=20)  # fmt: skip
def send_report_message(self: Task, message_id: int) -> str:
    """Send one text or email about an online report: acknowledged, triaged (queue
    `report_texts`, so that a burst of reports never holds up a caller's despatch text)."""
    return _send(self, message_id)


def _send(task: Task, message_id: int) -> str:
    """A transient provider error is retried with a growing wait; after NOTIFY_MAX_ATTEMPTS
    attempts the message is marked failed. Safe to run twice: sending claims the message
    first."""
    try:
        return texts.caller_message_send(message_id=message_id)
    except SendFailed as exc:
        if task.request.retries + 1 >= settings.NOTIFY_MAX_ATTEMPTS:
            texts.caller_message_fail(message_id=message_id, note=str(exc))
            return "failed"
        raise task.retry(exc=exc, countdown=min(5 * 2**task.request.retries, 300)) from exc


@shared_task(acks_late=True, ignore_result=True, time_limit=60, soft_time_limit=50)
def requeue_caller_messages() -> int:
    """Queue again the texts whose task was lost (every minute)."""
    return texts.caller_messages_requeue_stale()


@shared_task(acks_late=True, ignore_result=True, time_limit=60, soft_time_limit=50)
def alert_overdue_online_reports() -> int:
    """Alert the desks to online reports untriaged for too long (every minute)."""
    return public_services.online_reports_alert_overdue()
