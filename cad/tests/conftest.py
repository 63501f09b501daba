"""Event and board-socket tests count and order events exactly.

With no REDIS_URL, Celery runs tasks in-process, so the recommendation job that follows an
incident or a freed unit would add its own `recommendations.ready` events to every stream
under test. Those jobs have their own tests (resources/tests/test_recommend_task.py and
test_follow_on_work.py); here they are not queued at all.
"""

import pytest


@pytest.fixture(autouse=True)
def _no_recommendation_jobs(monkeypatch):
    from resources import tasks

    monkeypatch.setattr(tasks.recommend_for_incident, "delay", lambda *args, **kwargs: None)
    monkeypatch.setattr(tasks.recommend_near_unit, "delay", lambda *args, **kwargs: None)
