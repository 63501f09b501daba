"""A unit's `version` counts its changes: one per status change, assignment and clearing, as
stored, and the instance the service hands back says the same (decision 0032: counted under the
row lock, not read back)."""

from resources import despatch, services
from resources.models import Unit, UnitStatus
from tests.factories import make_incident, make_unit


def stored_version(unit: Unit) -> int:
    return Unit.objects.values_list("version", flat=True).get(pk=unit.pk)


def test_each_change_counts_one_version(geography, cast):
    unit = make_unit(geography["kentish"], callsign="CN05")
    start = stored_version(unit)

    changed = services.unit_set_status(unit=unit, status=UnitStatus.UNAVAILABLE, source="test")
    assert stored_version(unit) == changed.version == start + 1
    changed = services.unit_set_status(unit=unit, status=UnitStatus.AVAILABLE, source="test")
    assert stored_version(unit) == changed.version == start + 2

    incident = make_incident(cast.handler, grade="I")
    despatch.assignment_create(incident=incident, unit=unit, by=cast.despatcher_all)
    assert stored_version(unit) == start + 3
    despatch.assignment_clear(incident=incident, unit=unit, by=cast.despatcher_all)
    assert stored_version(unit) == start + 4

    # A repeated report changes nothing, and counts nothing.
    services.unit_set_status(unit=unit, status=UnitStatus.AVAILABLE, source="test")
    assert stored_version(unit) == start + 4
