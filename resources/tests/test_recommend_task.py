"""Stored results, the Celery jobs and `recommendations.ready`: idempotent, pushed after commit."""

import asyncio
import json
from collections.abc import Callable
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.db import transaction
from django.utils import timezone

from cad.celery import app as celery_app
from cad.models import Event
from incidents.models import Incident
from resources import tasks
from resources.models import Recommendation, Unit, UnitStatus
from resources.recommend.services import recommendation_refresh
from tests.factories import incident_row_bypassing_services, make_unit

INC = (51.545, -0.16)


@pytest.fixture
def desk(cast):
    return cast.despatcher_all


@pytest.fixture
def scene(geography, desk):
    unit = make_unit(geography["kentish"], callsign="CN1", lat=51.546, lon=-0.15)
    incident = incident_row_bypassing_services(by=desk, lat=INC[0], lon=INC[1], bcu=geography["CN"])
    return incident, unit


def plain_user():
    from django.contrib.auth.models import User

    return User.objects.create_user("writer")


@pytest.fixture
def ready_events(captured_events) -> Callable[[Incident], list[Event]]:
    """The `recommendations.ready` events the test emitted for an incident, oldest first."""
    return lambda incident: [
        e for e in captured_events.of("recommendations.ready") if e.data["incident"] == incident.pk
    ]


@pytest.fixture
def published(monkeypatch):
    sent = []
    monkeypatch.setattr(
        "cad.live.events.publish", lambda message, groups, **kw: sent.append((message, groups))
    )
    return sent


def test_job_stores_result_and_running_twice_is_harmless(scene, published, ready_events):
    incident, unit = scene
    tasks.recommend_for_incident(incident.pk, "incident_created")
    tasks.recommend_for_incident(incident.pk, "incident_created")
    assert Recommendation.objects.filter(incident=incident).count() == 1
    rec = Recommendation.objects.get(incident=incident)
    assert [r["unit"] for r in rec.results] == ["CN1"]
    assert rec.trigger == "incident_created"
    # Same ranking the second time: stored quietly, not pushed again.
    events = ready_events(incident)
    assert len(events) == 1
    assert events[0].data["results"][0]["unit"] == "CN1"
    assert events[0].bcu == "CN"


def test_a_changed_ranking_is_pushed_again(scene, geography, ready_events):
    incident, unit = scene
    recommendation_refresh(incident_id=incident.pk, trigger="incident_created")
    make_unit(geography["kentish"], callsign="CN0", lat=INC[0], lon=INC[1] + 0.001)
    recommendation_refresh(incident_id=incident.pk, trigger="unit_free")
    events = ready_events(incident)
    assert len(events) == 2
    assert [r["unit"] for r in events[1].data["results"]] == ["CN0", "CN1"]


def test_an_older_run_finishing_last_does_not_overwrite(scene):
    incident, _ = scene
    now = timezone.now()
    recommendation_refresh(incident_id=incident.pk, trigger="new", now=now)
    recommendation_refresh(incident_id=incident.pk, trigger="old", now=now - timedelta(seconds=5))
    assert Recommendation.objects.get(incident=incident).trigger == "new"


def test_closed_incident_is_left_alone(scene):
    incident, _ = scene
    incident.status = "closed"
    incident.save()
    tasks.recommend_for_incident(incident.pk)
    tasks.recommend_for_incident(999_999)  # deleted or never existed: no error
    assert not Recommendation.objects.exists()


def test_event_is_published_only_after_commit(
    scene, published, django_capture_on_commit_callbacks, ready_events
):
    incident, _ = scene
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        recommendation_refresh(incident_id=incident.pk, trigger="incident_created")
        assert published == []  # stored, not yet told
    assert len(ready_events(incident)) == 1
    for callback in callbacks:
        callback()
    assert len(published) == 1
    message, groups = published[0]
    assert message["type"] == "recommendations.ready"
    assert message["data"]["incident"] == incident.pk
    assert sorted(groups) == ["board.all", "board.bcu.CN"]


@pytest.mark.django_db(transaction=True)
def test_rolled_back_result_is_neither_stored_nor_pushed(published):
    from tests.factories import make_geography

    geo = make_geography()
    make_unit(geo["kentish"], callsign="CN1")
    incident = incident_row_bypassing_services(
        by=plain_user(), lat=INC[0], lon=INC[1], bcu=geo["CN"]
    )
    with pytest.raises(RuntimeError), transaction.atomic():
        recommendation_refresh(incident_id=incident.pk, trigger="incident_created")
        raise RuntimeError("the caller's transaction fails")
    assert not Recommendation.objects.exists()
    assert published == []


@pytest.mark.django_db(transaction=True)
def test_pushed_through_redis_to_the_board_group_after_commit(redis_url):
    from tests.factories import make_geography

    geo = make_geography()
    make_unit(geo["kentish"], callsign="CN1")
    incident = incident_row_bypassing_services(
        by=plain_user(), lat=INC[0], lon=INC[1], bcu=geo["CN"]
    )
    layer = get_channel_layer()

    async def listen_while_refreshing():
        # One event loop throughout: the pub/sub layer's channels belong to the loop that made
        # them, as a daphne process's do.
        channel = await layer.new_channel()
        await layer.group_add("board.bcu.CN", channel)
        try:
            await sync_to_async(recommendation_refresh)(
                incident_id=incident.pk, trigger="incident_created"
            )
            return await asyncio.wait_for(layer.receive(channel), timeout=10)
        finally:
            await layer.group_discard("board.bcu.CN", channel)

    message = async_to_sync(listen_while_refreshing)()
    event = json.loads(message["text"])
    assert event["type"] == "recommendations.ready"
    assert event["data"]["results"][0]["unit"] == "CN1"
    assert event["seq"] == Event.objects.get(type="recommendations.ready").seq


def test_unit_becoming_free_refreshes_open_unresourced_incidents_nearby(geography, desk, published):
    unit = make_unit(geography["kentish"], callsign="CN1", lat=INC[0], lon=INC[1])
    near_s = incident_row_bypassing_services(by=desk, lat=INC[0] + 0.01, lon=INC[1], grade="S")
    near_i = incident_row_bypassing_services(by=desk, lat=INC[0] + 0.02, lon=INC[1], grade="I")
    resourced = incident_row_bypassing_services(by=desk, lat=INC[0], lon=INC[1], status="assigned")
    far = incident_row_bypassing_services(by=desk, lat=51.30, lon=-0.16)  # ~27 km south
    from resources.recommend.services import recommendations_refresh_near_unit

    done = recommendations_refresh_near_unit(unit_id=unit.pk)
    assert done == [near_i.pk, near_s.pk]  # I-grade first
    assert not Recommendation.objects.filter(incident__in=[resourced, far]).exists()
    tasks.recommend_near_unit(unit.pk)  # again: harmless
    assert Recommendation.objects.count() == 2
    Unit.objects.filter(pk=unit.pk).update(status=UnitStatus.OFF_DUTY)
    assert recommendations_refresh_near_unit(unit_id=unit.pk) == []


def test_jobs_go_to_their_own_queue():
    for name in ("resources.tasks.recommend_for_incident", "resources.tasks.recommend_near_unit"):
        route = celery_app.amqp.router.route({}, name, args=(1,), kwargs={})
        assert route["queue"].name == "recommend"
    assert tasks.recommend_for_incident.acks_late is True
