"""Queueing Celery tasks from request paths: one seam, behind the Redis breaker.

Every task a request causes is queued through `enqueue` after commit (recommendations, radio
messages, texts to callers, crime reports, partner deliveries). While Redis is known to be down
(cad/redis_breaker.py) the request does not wait for the broker: the task is kept and queued,
in order with the events, when Redis answers again. A kept task that dies with its process is
not lost either: what it would do is recorded in the database, and a sweeper on beat does it
(docs/reliability.md lists each task's).

Without Redis (the embedded default) tasks run in-process, as before, and errors reach the
caller as before.
"""

from functools import partial
from typing import Any

from celery import Task
from django.conf import settings

from cad.redis_breaker import breaker


def enqueue(task: Task, *args: Any, **kwargs: Any) -> bool:
    """Queue `task(*args, **kwargs)`; never raise when a broker is configured. True when it
    reached the broker now, False when it was kept for later (or failed, with the breaker off)."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        task.delay(*args, **kwargs)
        return True
    # One attempt (CELERY_TASK_PUBLISH_RETRY is off with the breaker): a failed one opens the
    # breaker and the task is kept, so Celery's own retries would only delay the request.
    return breaker().send(partial(task.delay, *args, **kwargs), describe=f"queueing {task.name}")
