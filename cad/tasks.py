"""Housekeeping of the shared plumbing. Thin: a service call, safe to run twice."""

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from cad.accounts.tokens import tokens_purge_expired
from cad.api.idempotency import idempotency_keys_purge
from cad.live.replay import board_checkpoint_due, board_checkpoints_prune
from cad.live.retention import event_log_prune

IDEMPOTENCY_KEYS_KEPT = timedelta(hours=24)


@shared_task(acks_late=True, ignore_result=True, time_limit=300, soft_time_limit=240)
def purge_idempotency_keys() -> int:
    """Delete Idempotency-Key answers older than a day (run daily by beat)."""
    return idempotency_keys_purge(older_than=IDEMPOTENCY_KEYS_KEPT)


@shared_task(acks_late=True, ignore_result=True, time_limit=300, soft_time_limit=240)
def purge_expired_tokens() -> int:
    """Delete expired API tokens (hourly, by beat): requests no longer sweep them
    (cad/accounts/authentication.py)."""
    return tokens_purge_expired()


# Replay (cad/live/replay.py): a checkpoint every 5 minutes or 2000 events, whichever comes
# first, keeps any rebuild to one checkpoint and at most a few thousand events; kept 8 days.
CHECKPOINT_EVERY_EVENTS = 2000
CHECKPOINT_EVERY_SECONDS = 300.0
CHECKPOINTS_KEPT = timedelta(days=8)


@shared_task(acks_late=True, ignore_result=True, time_limit=120, soft_time_limit=100)
def write_board_checkpoint() -> int | None:
    """Write a replay checkpoint if one is due, and drop old ones (beat, every minute)."""
    checkpoint = board_checkpoint_due(
        every_events=CHECKPOINT_EVERY_EVENTS, every_seconds=CHECKPOINT_EVERY_SECONDS
    )
    board_checkpoints_prune(older_than=timezone.now() - checkpoints_kept())
    return checkpoint.seq if checkpoint is not None else None


def checkpoints_kept() -> timedelta:
    """At least as long as the event log: pruning stops at a checkpoint older than its cutoff,
    and the checkpoints' own prune keeps the newest one older than this (cad/live/retention.py)."""
    return max(CHECKPOINTS_KEPT, event_retention())


def event_retention() -> timedelta:
    return timedelta(hours=settings.EVENT_RETENTION_HOURS)


# Batches commit one by one: a run stopped by its time limit loses nothing, the next carries on
# from the watermark.
@shared_task(acks_late=True, ignore_result=True, time_limit=600, soft_time_limit=540)
def prune_event_log() -> int:
    """Delete live-board events older than EVENT_RETENTION_HOURS (beat)."""
    return event_log_prune(older_than=timezone.now() - event_retention())
