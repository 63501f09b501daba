"""Recommendation jobs. They run on their own `recommend` queue (CELERY_TASK_ROUTES) so a burst
of radio traffic cannot delay them. Thin: ids in, a service call, nothing returned that matters.
Safe to run twice (the service keeps one row per incident and pushes only what changed).
"""

from typing import Any

from celery import shared_task

from resources.recommend.services import (
    recommendation_refresh,
    recommendations_refresh_near_unit,
)
from resources.recommend.training import travel_model_train

# A recommendation is worth something for seconds, not hours: a job that could not run soon
# after it was queued is dropped rather than run late (the API computes on demand anyway).
TASK_OPTIONS: dict[str, Any] = {
    "acks_late": True,
    "ignore_result": True,
    "time_limit": 30,
    "soft_time_limit": 20,
    "expires": 300,
}


@shared_task(**TASK_OPTIONS)
def recommend_for_incident(incident_id: int, trigger: str = "incident") -> None:
    """An incident was created, re-graded or re-typed: recommend units for it."""
    recommendation_refresh(incident_id=incident_id, trigger=trigger)


@shared_task(**TASK_OPTIONS)
def recommend_near_unit(unit_id: int) -> None:
    """A unit became free: refresh open, unresourced incidents near it."""
    recommendations_refresh_near_unit(unit_id=unit_id)


@shared_task(acks_late=True, ignore_result=True, time_limit=600, soft_time_limit=540)
def train_travel_model() -> None:
    """Nightly: a new version of the learned router from the recent attendances."""
    travel_model_train()
