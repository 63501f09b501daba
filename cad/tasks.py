"""Housekeeping of the shared plumbing. Thin: a service call, safe to run twice."""

from datetime import timedelta

from celery import shared_task

from cad.api.idempotency import idempotency_keys_purge

IDEMPOTENCY_KEYS_KEPT = timedelta(hours=24)


@shared_task(acks_late=True, ignore_result=True, time_limit=300, soft_time_limit=240)
def purge_idempotency_keys() -> int:
    """Delete Idempotency-Key answers older than a day (run daily by beat)."""
    return idempotency_keys_purge(older_than=IDEMPOTENCY_KEYS_KEPT)
