"""What a change sets in motion after commit: recommendations, despatch messages, crew skills."""

from datetime import timedelta

import pytest
from django.utils import timezone

from radio import tasks as radio_tasks
from radio.models import RadioMessage
from resources import tasks
from resources.despatch import assignment_clear, assignment_create
from resources.models import UnitStatus
from resources.services import unit_set_crew_skills, unit_set_status
from tests.factories import make_incident, make_skill, make_unit


@pytest.fixture
def queued(monkeypatch):
    """Record recommendation jobs instead of running them."""
    jobs = []
    monkeypatch.setattr(
        tasks.recommend_for_incident, "delay", lambda *a: jobs.append(("incident", *a))
    )
    monkeypatch.setattr(tasks.recommend_near_unit, "delay", lambda *a: jobs.append(("unit", *a)))
    return jobs


@pytest.fixture
def desk(cast):
    return cast.despatcher_all


def test_new_incident_asks_for_recommendations_after_commit(
    desk, queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        incident = make_incident(desk, grade="I")
    assert queued == []  # nothing before commit
    for callback in callbacks:
        callback()
    assert ("incident", incident.pk, "incident_created") in queued


def test_a_unit_freed_from_a_job_asks_for_recommendations_near_it(
    desk, geography, queued, django_capture_on_commit_callbacks
):
    unit = make_unit(geography["kentish"])
    incident = make_incident(desk, grade="I")
    assignment_create(incident=incident, unit=unit, by=desk, source="test")
    queued.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assignment_clear(incident=incident, unit=unit, by=desk, source="test")
    assert queued == [("unit", unit.pk)]


def test_a_unit_that_stays_busy_asks_for_nothing(
    desk, geography, queued, django_capture_on_commit_callbacks
):
    unit = make_unit(geography["kentish"])
    with django_capture_on_commit_callbacks(execute=True):
        unit_set_status(unit=unit, status=UnitStatus.UNAVAILABLE, source="test", by=desk)
    assert queued == []
    with django_capture_on_commit_callbacks(execute=True):
        unit_set_status(unit=unit, status=UnitStatus.AVAILABLE, source="test", by=desk)
    assert queued == [("unit", unit.pk)]


def test_assigning_writes_the_despatch_message_in_its_transaction(
    desk, geography, monkeypatch, django_capture_on_commit_callbacks
):
    """Resources never calls radio: radio's assign hook (registered in RadioConfig.ready) writes
    the message inside the assign, and it goes to the gateway once that commits (if the hook
    fails, radio's sweeper queues the message: radio/tests/test_outbound.py)."""
    sent = []
    monkeypatch.setattr(radio_tasks.send_outbound, "delay", sent.append)
    unit = make_unit(geography["kentish"])
    incident = make_incident(desk, grade="I")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assignment = assignment_create(incident=incident, unit=unit, by=desk, source="test")
    message = RadioMessage.objects.get(assignment=assignment)  # saved with the assignment
    assert (message.direction, message.state, message.issi) == ("out", "queued", unit.issi)
    assert message.by == desk
    assert assignment.message_state == "queued"
    assignment.refresh_from_db()
    assert assignment.message_state == "queued"
    assert sent == []  # not to the gateway before commit
    for callback in callbacks:
        callback()
    assert sent == [message.pk]


def test_a_repeated_status_moves_the_clock_so_an_older_report_cannot_apply(desk, geography):
    unit = make_unit(geography["kentish"])
    incident = make_incident(desk, grade="I")
    assignment_create(incident=incident, unit=unit, by=desk, source="test")
    t0 = timezone.now()
    unit_set_status(unit=unit, status=UnitStatus.EN_ROUTE, at=t0, source="radio")
    # "en route" again at t0+2 min, then a delayed "at scene" sent at t0+1 min arrives.
    unit_set_status(unit=unit, status=UnitStatus.EN_ROUTE, at=t0 + timedelta(minutes=2),
                    source="radio")  # fmt: skip
    unit_set_status(unit=unit, status=UnitStatus.AT_SCENE, at=t0 + timedelta(minutes=1),
                    source="radio")  # fmt: skip
    unit.refresh_from_db()
    assert unit.status == UnitStatus.EN_ROUTE
    assert unit.status_at == t0 + timedelta(minutes=2)


def test_a_crew_change_changes_skills_not_status(desk, geography):
    unit = make_unit(geography["kentish"], status=UnitStatus.UNAVAILABLE, skills=["TASER"])
    unit_set_crew_skills(unit=unit, skill_ids=[make_skill("DOG").pk], by=desk, source="test")
    unit.refresh_from_db()
    assert unit.status == UnitStatus.UNAVAILABLE
    assert list(unit.skills.values_list("code", flat=True)) == ["DOG"]
