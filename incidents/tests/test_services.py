"""Incident services: creation, changes, closing; bad input refused with nothing half-saved."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from cad.errors import Conflict
from cad.models import AuditEvent
from incidents import services
from incidents.models import Call, GradeChange, Incident, IncidentLogEntry, WarningMarker
from incidents.services import CallDetails
from resources.despatch import assignment_create
from resources.models import Assignment, UnitStatus
from tests.factories import (
    CAMDEN,
    LAMBETH,
    make_closing_code,
    make_incident,
    make_incident_type,
    make_qualifier,
    make_unit,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def handler(cast):
    return cast.handler


@pytest.fixture
def despatcher(cast):
    return cast.despatcher_all


def test_create_records_reference_due_time_bcu_call_log_audit_and_event(handler, captured_events):
    make_incident_type("VIOL", default_grade="I")
    make_qualifier("DA")
    at = datetime(2026, 11, 22, 14, 3, tzinfo=UTC)
    incident = services.incident_create(
        by=handler,
        type_code="VIOL",
        lat=CAMDEN[0],
        lon=CAMDEN[1],
        address="outside the chippy on Camden Rd",
        resolved_address="Camden Road, NW1",
        summary="fight, two men",
        at=at,
        qualifier_codes=["DA"],
        thrive={"threat": "weapon seen", "vulnerability": "elderly victim"},
        call=CallDetails(caller_name="Ann", caller_phone="07700900123", channel="999"),
    )
    assert incident.reference == "CAD 0001/22Nov26"
    assert incident.grade == "I"  # the type's default
    assert incident.due_at == at + timedelta(minutes=15)
    assert incident.bcu.code == "CN"
    # the caller's own words are kept exactly, beside the gazetteer's version
    assert incident.address == "outside the chippy on Camden Rd"
    assert incident.resolved_address == "Camden Road, NW1"
    call = Call.objects.get(incident=incident)
    assert (call.caller_name, call.caller_phone, call.channel) == ("Ann", "07700900123", "999")
    log = list(IncidentLogEntry.objects.filter(incident=incident))
    assert len(log) == 1 and log[0].kind == "call"
    assert "outside the chippy on Camden Rd" in log[0].text and "weapon seen" in log[0].text
    assert "07700900123" not in log[0].text and "Ann" not in log[0].text.split("Qualifiers")[0]
    assert list(incident.qualifiers.values_list("code", flat=True)) == ["DA"]
    audit = AuditEvent.objects.get(object_type="incidents.incident", object_id=str(incident.pk))
    assert audit.action == "create" and audit.user == handler
    assert "07700900123" not in str(audit.changes)
    (event,) = captured_events.of("incident.created")
    assert event.data["reference"] == incident.reference and event.bcu == "CN"


def test_grade_targets_for_each_grade(handler):
    at = timezone.now()
    for grade, minutes in (("I", 15), ("S", 60), ("E", None), ("R", None)):
        incident = make_incident(handler, grade=grade, at=at)
        expected = at + timedelta(minutes=minutes) if minutes else None
        assert incident.due_at == expected


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"type_code": "NOPE"}, "type"),
        ({"type_code": "OLD"}, "type"),
        ({"grade": "X"}, "grade"),
        ({"lat": 52.2, "lon": 0.12}, "location"),  # Cambridge: outside the force's area
        ({"lat": 95.0, "lon": 0.0}, "location"),
        ({"lat": "51.5"}, "location"),
        ({"summary": "x" * 4001}, "summary"),
        ({"address": "12 High St\x00"}, "address"),
        ({"address": "line\nbreak"}, "address"),
        ({"call": CallDetails(caller_name="A\x1bB")}, "caller_name"),
        ({"call": CallDetails(channel="fax")}, "channel"),
        ({"thrive": {"threat": "x", "mood": "y"}}, "thrive"),
        ({"qualifier_codes": ["NOSUCH"]}, "qualifiers"),
    ],
)
def test_bad_input_is_refused_and_nothing_saved(handler, kwargs, field, captured_events):
    make_incident_type("ASB1")
    make_incident_type("OLD", active=False)
    args = {"by": handler, "type_code": "ASB1", "lat": CAMDEN[0], "lon": CAMDEN[1]} | kwargs
    with pytest.raises(ValidationError) as exc:
        services.incident_create(**args)
    assert field in exc.value.message_dict
    assert Incident.objects.count() == 0
    assert Call.objects.count() == 0 and len(captured_events) == 0


def test_outside_area_message_is_clear(handler):
    make_incident_type("ASB1")
    with pytest.raises(ValidationError) as exc:
        services.incident_create(by=handler, type_code="ASB1", lat=52.2, lon=0.12)
    assert "outside the Metropolitan Police area" in exc.value.message_dict["location"][0]


def test_regrade_keeps_history_and_moves_target(handler, despatcher):
    incident = make_incident(handler, grade="S")
    services.incident_regrade(incident=incident, by=despatcher, grade="I", reason="knife seen")
    incident.refresh_from_db()
    assert incident.grade == "I" and incident.version == 2
    assert incident.due_at == incident.created_at + timedelta(minutes=15)
    change = GradeChange.objects.get(incident=incident)
    assert (change.from_grade, change.to_grade, change.reason, change.by) == (
        "S",
        "I",
        "knife seen",
        despatcher,
    )
    assert IncidentLogEntry.objects.filter(incident=incident, kind="grade").count() == 1
    with pytest.raises(Conflict):
        services.incident_regrade(incident=incident, by=despatcher, grade="I", reason="again")
    with pytest.raises(ValidationError):
        services.incident_regrade(incident=incident, by=despatcher, grade="S", reason="  ")


def test_close_clears_units_and_reopen(handler, despatcher, make_user, geography, captured_events):
    make_closing_code("NFA")
    incident = make_incident(handler)
    unit = make_unit(geography["kentish"])
    assignment_create(incident=incident, unit=unit, by=despatcher)
    services.incident_close(incident=incident, by=despatcher, closing_code="NFA")
    incident.refresh_from_db()
    unit.refresh_from_db()
    assert incident.status == "closed" and incident.closing_code.code == "NFA"
    assert incident.closed_at is not None
    assert unit.status == UnitStatus.AVAILABLE
    assert not Assignment.objects.filter(incident=incident, cleared_at__isnull=True).exists()
    assert len(captured_events.of("incident.closed")) == 1
    with pytest.raises(Conflict) as exc:
        services.incident_close(incident=incident, by=despatcher, closing_code="NFA")
    assert exc.value.code == "already_closed"
    with pytest.raises(Conflict):
        services.incident_regrade(incident=incident, by=despatcher, grade="I", reason="late")
    supervisor = make_user("supervisor")
    services.incident_reopen(incident=incident, by=supervisor, reason="caller rang back")
    incident.refresh_from_db()
    assert incident.status == "open" and incident.closing_code is None


def test_close_with_unknown_code_changes_nothing(handler, despatcher):
    incident = make_incident(handler)
    with pytest.raises(ValidationError):
        services.incident_close(incident=incident, by=despatcher, closing_code="ZZZ")
    incident.refresh_from_db()
    assert incident.status == "open"


def test_attach_call_link_qualifiers_log(handler, despatcher):
    make_qualifier("MH", "Mental health")
    first = make_incident(handler)
    second = make_incident(handler, lat=LAMBETH[0], lon=LAMBETH[1])
    services.incident_attach_call(
        incident=first,
        by=handler,
        call=CallDetails(
            caller_name="Bob", caller_phone="0207", channel="101", address="by the pub"
        ),
    )
    assert first.calls.count() == 2
    assert first.calls.last().address == "by the pub"
    services.incident_link(incident=first, other=second, by=despatcher, reason="same fight")
    assert list(second.linked.all()) == [first]
    with pytest.raises(Conflict):
        services.incident_link(incident=second, other=first, by=despatcher)
    with pytest.raises(ValidationError):
        services.incident_link(incident=first, other=first, by=despatcher)
    services.incident_set_qualifiers(incident=first, by=despatcher, codes=["MH"])
    assert list(first.qualifiers.values_list("code", flat=True)) == ["MH"]
    services.incident_log_add(incident=first, by=handler, text="caller says they've gone")
    kinds = list(IncidentLogEntry.objects.filter(incident=first).values_list("kind", flat=True))
    assert kinds == ["call", "call", "link", "system", "note"]
    first.refresh_from_db()
    assert first.version == 4  # call, link, qualifiers (log notes do not change the incident)


def test_warning_markers_create_and_expire(handler, despatcher):
    marker = services.warning_marker_create(
        by=handler, address="3 Test St", lat=CAMDEN[0], lon=CAMDEN[1], text="dog on premises"
    )
    assert WarningMarker.objects.count() == 1
    services.warning_marker_expire(marker=marker, by=despatcher)
    marker.refresh_from_db()
    assert marker.expires_at <= timezone.now()
    with pytest.raises(Conflict):
        services.warning_marker_expire(marker=marker, by=despatcher)
    with pytest.raises(ValidationError):
        services.warning_marker_create(
            by=handler,
            address="x",
            lat=CAMDEN[0],
            lon=CAMDEN[1],
            text="t",
            expires_at=timezone.now() - timedelta(days=1),
        )
