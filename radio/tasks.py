"""Radio jobs, on their own `radio` queue (CELERY_TASK_ROUTES) so a burst of GPS traffic cannot
delay recommendations. Thin: ids in, a service call. Every task is safe to run twice: applying
claims the message with a conditional UPDATE, sending locks the queued row.

The sweeper runs from Celery beat (docs/decisions/0006-radio-gateway.md gives the schedule
entry) and picks up whatever a lost broker message or a crashed worker left behind.
"""

from typing import Any

from celery import Task, shared_task
from django.db import DatabaseError

# Module imports both ways with radio.services (it queues these tasks): see the note there.
from radio import services
from radio.adapters import GatewayUnavailable
from radio.positions import radio_positions_apply

# acks_late: a worker that dies mid-task leaves the message on the broker to run again, which
# the claim makes harmless. A radio status is worth applying even if late (the service drops
# it when stale), so these tasks do not expire.
TASK_OPTIONS: dict[str, Any] = {
    "acks_late": True,
    "ignore_result": True,
    "time_limit": 30,
    "soft_time_limit": 20,
}
SEND_RETRIES = 5


@shared_task(
    **TASK_OPTIONS,
    autoretry_for=(DatabaseError,),
    retry_backoff=True,
    retry_backoff_max=30,
    max_retries=3,
)
def apply_radio_message(message_id: int) -> None:
    """Apply one inbound message to its unit (a database hiccup retries; the sweeper is the
    backstop after that)."""
    services.radio_message_apply(message_id=message_id)


@shared_task(
    **TASK_OPTIONS,
    autoretry_for=(DatabaseError,),
    retry_backoff=True,
    retry_backoff_max=30,
    max_retries=3,
)
def apply_radio_positions(message_ids: list[int]) -> None:
    """Apply one stored batch's GPS fixes together (radio/positions.py); same retry and
    sweeper backstop as apply_radio_message."""
    radio_positions_apply(message_ids=message_ids)


@shared_task(bind=True, **TASK_OPTIONS, max_retries=SEND_RETRIES)
def send_outbound(self: Task[[int], None], message_id: int) -> None:
    """Hand one queued despatch message to the gateway; retry with backoff while it is down,
    then mark the message failed so the despatcher knows to pass the job by voice."""
    give_up = self.max_retries is not None and self.request.retries >= self.max_retries
    try:
        services.radio_message_send(message_id=message_id, give_up=give_up)
    except GatewayUnavailable as exc:
        raise self.retry(exc=exc, countdown=min(2**self.request.retries, 30)) from exc


@shared_task(acks_late=True, ignore_result=True, time_limit=120, soft_time_limit=100)
def apply_pending_radio_messages() -> None:
    """Sweep: apply inbound messages and send outbound ones whose own task never ran, queue the
    despatch message of an assignment whose after-commit reaction was lost; alert on
    undelivered ones too, so a deployment whose beat runs only the sweep still alerts."""
    after = services.sweep_after()
    services.radio_messages_apply_pending(older_than=after)
    services.despatch_messages_queue_missing(older_than=after)
    services.radio_messages_send_pending(older_than=after)
    services.radio_messages_alert_undelivered()


@shared_task(acks_late=True, ignore_result=True, time_limit=30, soft_time_limit=20)
def alert_undelivered_radio_messages() -> None:
    """Every few seconds (beat): alert despatchers to despatch messages not delivered in time.
    Each message alerts once (a conditional UPDATE), so overlapping runs are harmless."""
    services.radio_messages_alert_undelivered()
