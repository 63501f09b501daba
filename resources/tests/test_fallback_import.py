"""`manage.py import_fallback`: the fallback log loaded after an outage (issue 17,
docs/fallback-log.md). Idempotent, a dry run naming bad rows by line, nothing half-imported."""

from datetime import timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from cad.models import Event
from incidents.models import Incident, IncidentLogEntry, IncidentStatus
from incidents.operations.models import FallbackRecord
from resources.models import Assignment, Unit, UnitStatus
from tests.factories import make_closing_code, make_incident_type, make_unit

LONDON = ZoneInfo("Europe/London")
HEADER = "serial,received_at,location,lat,lon,type,grade,summary,units,result,closed_at\n"


@pytest.fixture
def world(geography, make_user):
    make_incident_type("ASB1")
    make_closing_code("NFA")
    make_unit(geography["kentish"], callsign="CN01")
    make_unit(geography["kentish"], callsign="CN02")
    make_user("supervisor", username="sgt_import")
    # Two hours ago, London time, on the hour: the rows below count on from it.
    start = (timezone.now() - timedelta(hours=2)).astimezone(LONDON).replace(
        minute=0, second=0, microsecond=0)  # fmt: skip
    return {"start": start}


def _at(start, minutes):
    """A full London time (for received_at: a row near midnight keeps its own date)."""
    return (start + timedelta(minutes=minutes)).strftime("%Y-%m-%d %H:%M")


def _hm(start, minutes):
    return (start + timedelta(minutes=minutes)).strftime("%H:%M")


def _good_rows(start) -> str:
    return (
        f'FB-001,{_at(start, 0)},"1 High Street, Camden",51.545,-0.16,ASB1,I,fight,'
        f'"CN01 {_hm(start, 3)} {_hm(start, 11)} {_hm(start, 40)}; CN02 {_hm(start, 4)} - '
        f'{_hm(start, 30)}",NFA,{_hm(start, 45)}\n'
        f"FB-002,{_at(start, 20)},Camden Market,51.541,-0.146,ASB1,S,noise,,,\n"
    )


def _write(tmp_path, text: str):
    path = tmp_path / "fallback.csv"
    path.write_text(HEADER + text)
    return str(path)


def _run(path, *flags) -> str:
    out = StringIO()
    call_command("import_fallback", path, "--user", "sgt_import", *flags, stdout=out)
    return out.getvalue()


def test_imports_with_the_real_times(world, tmp_path):
    start = world["start"]
    output = _run(_write(tmp_path, _good_rows(start)))
    assert "imported 2 row(s)" in output
    first = FallbackRecord.objects.get(key="FB-001").incident
    assert first.created_at == start
    assert first.status == IncidentStatus.CLOSED
    assert first.closed_at == start + timedelta(minutes=45)
    cn01 = Assignment.objects.get(incident=first, unit__callsign="CN01")
    assert cn01.at_scene_at - first.created_at == timedelta(minutes=11)
    assert cn01.cleared_at == start + timedelta(minutes=40)
    cn02 = Assignment.objects.get(incident=first, unit__callsign="CN02")
    assert cn02.at_scene_at is None and cn02.cleared_at == start + timedelta(minutes=30)
    assert IncidentLogEntry.objects.filter(
        incident=first, text__startswith="Entered retro"
    ).exists()
    second = FallbackRecord.objects.get(key="FB-002").incident
    assert second.status == IncidentStatus.OPEN and second.grade == "S"
    # The units' present states are not rewritten by history.
    assert set(
        Unit.objects.filter(callsign__in=["CN01", "CN02"]).values_list("status", flat=True)
    ) == {UnitStatus.AVAILABLE}


def test_importing_again_creates_nothing(world, tmp_path):
    path = _write(tmp_path, _good_rows(world["start"]))
    _run(path)
    events, incidents = Event.objects.count(), Incident.objects.count()
    output = _run(path)
    assert "imported 0 row(s); 2 already imported" in output
    assert "line 2 (FB-001): already imported as CAD" in output
    assert (Event.objects.count(), Incident.objects.count()) == (events, incidents)


def _with_bad_rows(start) -> str:
    future = (timezone.now() + timedelta(hours=3)).astimezone(LONDON).strftime("%Y-%m-%d %H:%M")
    return _good_rows(start) + (
        f"FB-003,{future},Camden,51.545,-0.16,ASB1,I,from the future,,,\n"  # line 4
        f"FB-004,{_at(start, 5)},Camden,51.545,-0.16,NOPE,I,bad type,,,\n"  # line 5
        f'FB-005,{_at(start, 6)},Camden,51.545,-0.16,ASB1,I,x,"CN99 {_hm(start, 7)} - '
        f'{_hm(start, 9)}",,\n'  # line 6: no such unit
        f"FB-006,{_at(start, 8)},Camden,51.545,-0.16,ASB1,I,x,CN01 {_hm(start, 9)},,\n"
    )  # line 7: a unit with no cleared time and no result


def test_dry_run_names_bad_rows_by_line_and_imports_nothing(world, tmp_path):
    output = _run(_write(tmp_path, _with_bad_rows(world["start"])), "--dry-run")
    refused = [line for line in output.splitlines() if "refused:" in line]
    assert [line.split(" (")[0] for line in refused] == ["line 4", "line 5", "line 6", "line 7"]
    assert "received_at" in refused[0] and "future" in refused[0]
    assert "type" in refused[1] and "NOPE" in refused[1]
    assert "CN99" in refused[2]
    assert "CN01 has no cleared time" in refused[3]
    assert "would import 2 row(s)" in output
    assert not Incident.objects.exists() and not Event.objects.exists()


def test_any_bad_row_means_nothing_is_imported(world, tmp_path):
    with pytest.raises(CommandError, match="nothing imported"):
        _run(_write(tmp_path, _with_bad_rows(world["start"])))
    assert not Incident.objects.exists()
    assert not Assignment.objects.exists() and not FallbackRecord.objects.exists()
    assert not Event.objects.exists()


def test_skip_bad_imports_the_good_rows_only(world, tmp_path):
    output = _run(_write(tmp_path, _with_bad_rows(world["start"])), "--skip-bad")
    assert "imported 2 row(s)" in output and "4 refused" in output
    assert sorted(FallbackRecord.objects.values_list("key", flat=True)) == ["FB-001", "FB-002"]
    assert Incident.objects.count() == 2


def test_a_missing_column_is_refused(world, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("serial,location\nFB-1,Camden\n")
    with pytest.raises(CommandError):
        _run(str(path))
    assert not Incident.objects.exists()
