"""An incident's `version` counts its changes under the row lock, as a unit's does (decision
0036): the stored version and the instance the service hands on say the same, with no read
back after the write; and following its units' status is one read and one write."""

from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from incidents import services as incident_services
from incidents.models import Incident, IncidentStatus
from resources import despatch, services
from resources.models import Assignment, UnitStatus
from tests.factories import make_closing_code, make_incident, make_unit


def stored_version(incident: Incident) -> int:
    return Incident.objects.values_list("version", flat=True).get(pk=incident.pk)


def _statements(queries: CaptureQueriesContext) -> list[str]:
    # PREPARE is made once per connection (cad/prepared.py): not one of the change's own.
    return [q["sql"] for q in queries.captured_queries if not q["sql"].startswith("PREPARE")]


def test_each_change_counts_one_version(geography, cast, captured_events):
    incident = make_incident(cast.handler, grade="S")
    start = stored_version(incident)

    regraded = incident_services.incident_regrade(
        incident=incident, by=cast.supervisor_all, grade="I", reason="weapon seen"
    )
    assert stored_version(incident) == regraded.version == start + 1

    unit = make_unit(geography["kentish"], callsign="CN05")
    despatch.assignment_create(incident=incident, unit=unit, by=cast.despatcher_all)
    assert stored_version(incident) == start + 2  # assigned
    services.unit_set_status(unit=unit, status=UnitStatus.AT_SCENE, source="test")
    assert stored_version(incident) == start + 3  # at scene
    closed = incident_services.incident_close(
        incident=incident, by=cast.despatcher_all, closing_code=make_closing_code().code
    )
    assert stored_version(incident) == closed.version == start + 4
    # What the desks were told carries the stored version.
    assert captured_events.last("incident.closed").data["version"] == start + 4


def test_following_the_units_is_one_read_and_one_write(geography, cast):
    incident = make_incident(cast.handler, grade="I")
    unit = make_unit(geography["kentish"], callsign="CN06")
    despatch.assignment_create(incident=incident, unit=unit, by=cast.despatcher_all)
    Assignment.objects.filter(incident=incident).update(at_scene_at=timezone.now())

    with transaction.atomic():
        locked = Incident.objects.select_for_update().get(pk=incident.pk)
        before = locked.version
        with CaptureQueriesContext(connection) as queries:
            services.incident_follow_units(locked)
        assert locked.status == IncidentStatus.AT_SCENE
        assert locked.version == stored_version(incident) == before + 1
    assert len(_statements(queries)) == 2, _statements(queries)

    with transaction.atomic():
        locked = Incident.objects.select_for_update().get(pk=incident.pk)
        with CaptureQueriesContext(connection) as queries:
            services.incident_follow_units(locked)  # already in step: nothing to write
    assert len(_statements(queries)) == 1, _statements(queries)
