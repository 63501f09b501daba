"""Retention: callers' details erased from long-closed incidents, and nothing else."""

import json
from datetime import timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from cad.models import AuditEvent, Event
from incidents.models import Call, Incident, IncidentLogEntry
from incidents.retention import incidents_erase_personal_batch, retention_cutoff
from incidents.services import CallDetails, incident_attach_call, incident_close, incident_reopen
from incidents.tasks import erase_expired_personal_data
from tests.factories import make_closing_code, make_incident

pytestmark = pytest.mark.django_db
NAMES = ("Ann Old", "Bob Recent", "Cy Open", "Di Old")


@pytest.fixture
def world(cast, settings):
    settings.RETENTION_CLOSED_INCIDENT_DAYS = 30
    make_closing_code("NFA")
    user = cast.supervisor_all
    long_ago = timezone.now() - timedelta(days=31)
    old = make_incident(user, caller_name="Ann Old", caller_phone="07700 900001")
    incident_attach_call(
        incident=old, by=user, call=CallDetails(caller_name="Di Old", caller_phone="")
    )
    recent = make_incident(user, caller_name="Bob Recent", caller_phone="07700 900002")
    still_open = make_incident(user, caller_name="Cy Open", caller_phone="07700 900003")
    for incident in (old, recent):
        incident_close(incident=incident, by=user, closing_code="NFA")
    Incident.objects.filter(pk=old.pk).update(closed_at=long_ago)
    Incident.objects.filter(pk=still_open.pk).update(created_at=long_ago)
    return {"user": user, "old": old, "recent": recent, "open": still_open}


def _callers(incident) -> list[tuple[str, str]]:
    return list(
        Call.objects.filter(incident=incident)
        .order_by("id")
        .values_list("caller_name", "caller_phone")
    )


def test_erases_exactly_the_old_closed_incidents_callers(world):
    notes_before = list(Call.objects.order_by("id").values_list("notes", "address"))
    assert erase_expired_personal_data() == 1
    assert _callers(world["old"]) == [("", ""), ("", "")]
    assert _callers(world["recent"]) == [("Bob Recent", "07700 900002")]
    assert _callers(world["open"]) == [("Cy Open", "07700 900003")]
    # the rest of the record stays
    assert list(Call.objects.order_by("id").values_list("notes", "address")) == notes_before
    old = Incident.objects.get(pk=world["old"].pk)
    assert old.personal_erased_at is not None and old.summary == "test"
    assert Incident.objects.filter(personal_erased_at__isnull=False).count() == 1


def test_audit_row_records_metadata_never_values(world):
    erase_expired_personal_data()
    row = AuditEvent.objects.get(action="erase")
    assert row.object_type == "incidents.incident" and row.object_id == str(world["old"].pk)
    assert row.user is None and row.source == "retention"
    assert row.changes["fields"] == ["caller_name", "caller_phone"]
    assert row.changes["calls"] == 2 and row.changes["retention_days"] == 30
    assert row.changes["incident"] == world["old"].reference
    text = json.dumps(row.changes)
    assert not any(part in text for part in ("Ann", "Di Old", "07700"))


def test_running_twice_erases_and_audits_once(world):
    assert erase_expired_personal_data() == 1
    assert erase_expired_personal_data() == 0
    assert AuditEvent.objects.filter(action="erase").count() == 1


def test_names_never_reached_append_only_tables(world):
    """Erasing the two columns is enough only if no copy lives where rows cannot change."""
    erase_expired_personal_data()
    stores = [
        list(IncidentLogEntry.objects.values_list("text", flat=True)),
        list(Event.objects.values_list("data", flat=True)),
        list(AuditEvent.objects.values_list("changes", "object_repr")),
    ]
    text = json.dumps(stores, default=str)
    for name in NAMES:
        assert name not in text
    assert "07700" not in text


def test_reopened_and_closed_again_is_due_again(world):
    user = world["user"]
    erase_expired_personal_data()
    old = Incident.objects.get(pk=world["old"].pk)
    incident_reopen(incident=old, by=user, reason="new information")
    incident_attach_call(
        incident=old, by=user, call=CallDetails(caller_name="Ed Later", caller_phone="1")
    )
    incident_close(incident=old, by=user, closing_code="NFA")
    assert erase_expired_personal_data() == 0  # closed just now: not yet due
    # Forty days on: the first erasure was before the second closing, both long ago.
    Incident.objects.filter(pk=old.pk).update(
        closed_at=timezone.now() - timedelta(days=40),
        personal_erased_at=timezone.now() - timedelta(days=80),
    )
    assert erase_expired_personal_data() == 1
    assert ("Ed Later", "1") not in _callers(old)
    assert AuditEvent.objects.filter(action="erase", object_id=str(old.pk)).count() == 2


def test_batches_work_through_a_backlog(world, make_user):
    user = world["user"]
    more = [make_incident(user, caller_name=f"P{n}") for n in range(5)]
    for incident in more:
        incident_close(incident=incident, by=user, closing_code="NFA")
    Incident.objects.filter(pk__in=[i.pk for i in more]).update(
        closed_at=timezone.now() - timedelta(days=100)
    )
    cutoff = retention_cutoff()
    assert incidents_erase_personal_batch(cutoff=cutoff, limit=4) == 4
    assert incidents_erase_personal_batch(cutoff=cutoff, limit=4) == 2
    assert incidents_erase_personal_batch(cutoff=cutoff, limit=4) == 0
    assert not Call.objects.filter(incident__in=more).exclude(caller_name="").exists()


@pytest.mark.parametrize("days", [0, -5])
def test_a_period_below_one_day_is_refused(world, settings, days):
    settings.RETENTION_CLOSED_INCIDENT_DAYS = days
    with pytest.raises(ImproperlyConfigured):
        erase_expired_personal_data()
    assert _callers(world["recent"]) == [("Bob Recent", "07700 900002")]


def test_beat_runs_the_job():
    from django.conf import settings

    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "incidents.tasks.erase_expired_personal_data" in tasks
