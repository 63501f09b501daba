"""The incident detail read through prepared statements (cad/prepared.py, decision 0036).

The assign, the close and a desk opening an incident all answer with `incident_detail`. On
PostgreSQL its queries are compiled once and run as prepared statements; these tests hold the
answer to what Django's own ORM reads for the same incident, part by part, and check that a
second read compiles no SQL at all.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from cad.errors import Conflict
from cad.models import AuditEvent
from cad.prepared import PreparedValues
from incidents.crime.models import CrimeReport
from incidents.crime.services import crime_report_draft_on_close
from incidents.models import Call, GradeChange, Incident, IncidentLogEntry
from incidents.public.texts import caller_texts_queue
from incidents.selectors import incident_detail
from incidents.services import incident_close
from resources.despatch import assignment_create
from resources.models import Unit
from resources.partners.models import PartnerAgency, PartnerDelivery, PartnerShare
from resources.partners.services import partner_deliveries_queue
from tests.factories import make_closing_code, make_incident, make_qualifier, make_unit


@pytest.fixture
def full_incident(postgres, cast):
    """An incident with every part of its detail filled in: qualifiers, a link, a regrade, log
    lines, a second call, THRIVE, a closing code, a unit sent and a partner share delivered."""
    handler = cast.handler
    incident = make_incident(handler, summary="everything", caller_name="Ann Caller")
    other = make_incident(handler, summary="the other one")
    incident.qualifiers.add(make_qualifier("DA", "Domestic abuse"), make_qualifier("WPN", "Weapon"))
    incident.linked.add(other)
    GradeChange.objects.create(
        incident=incident, by=handler, from_grade="S", to_grade="I", reason="knife seen"
    )
    IncidentLogEntry.objects.create(incident=incident, by=handler, kind="note", text="second")
    Call.objects.create(
        incident=incident, caller_name="Bob Witness", caller_phone="07700 900456",
        received_at=timezone.now() + timedelta(seconds=5), taken_by=handler,
        address="2 High Street", notes="saw it",
    )  # fmt: skip
    Incident.objects.filter(pk=incident.pk).update(
        thrive={"threat": "high", "vulnerability": "child present"},
        closing_code=make_closing_code("CRM", "Crime recorded"),
        closed_at=timezone.now(),
    )
    return incident


@pytest.fixture
def with_unit_and_partner(full_incident, geography, cast):
    unit = make_unit(geography["kentish"], callsign="CN01")
    assignment_create(incident=full_incident, unit=Unit.objects.get(pk=unit.pk),
                      by=cast.despatcher_all)  # fmt: skip
    partner = PartnerAgency.objects.create(code="LAS", name="London Ambulance", kind="ambulance",
                                           agency_id="las.example")  # fmt: skip
    PartnerAgency.objects.create(code="LFB", name="London Fire Brigade", kind="fire",
                                 agency_id="lfb.example")  # fmt: skip
    share = PartnerShare.objects.create(
        incident=full_incident, partner=partner, shared_at=timezone.now()
    )
    PartnerDelivery.objects.create(share=share, state="acknowledged", queued_at=timezone.now(),
                                   attempts=1)  # fmt: skip
    return Incident.objects.get(pk=full_incident.pk)


def _by_the_orm(monkeypatch) -> None:
    """Every PreparedValues runs its queryset through Django's own iterator, as on SQLite."""
    monkeypatch.setattr(PreparedValues, "rows", lambda self, shape, **values: list(
        self.build(**values)))  # fmt: skip


def test_the_prepared_detail_is_what_the_orm_reads(with_unit_and_partner, cast, monkeypatch):
    incident = with_unit_and_partner
    prepared = incident_detail(incident=incident, user=cast.supervisor_all, personal=True)
    _by_the_orm(monkeypatch)
    expected = incident_detail(incident=incident, user=cast.supervisor_all, personal=True)

    for part in expected:
        assert prepared[part] == expected[part], part
    assert prepared == expected
    # And what the parts hold, written out: the comparison above is not of two empty lists.
    assert prepared["thrive"] == {"threat": "high", "vulnerability": "child present"}
    assert [q["code"] for q in prepared["qualifiers"]] == ["DA", "WPN"]
    assert [x["reference"] for x in prepared["linked"]] != []
    assert prepared["grade_changes"][0]["reason"] == "knife seen"
    assert prepared["closing_code"] == {"code": "CRM", "name": "Crime recorded"}
    assert [c["caller"]["name"] for c in prepared["calls"]] == ["Ann Caller", "Bob Witness"]
    assert [a["unit"] for a in prepared["assignments"]] == ["CN01"]
    assert prepared["partners"][0]["partner"] == "LAS"
    assert prepared["partners"][0]["delivery"]["state"] == "acknowledged"
    assert prepared["partner_agencies"] == [{"code": "LFB", "name": "London Fire Brigade"}]


def test_a_second_detail_read_compiles_no_sql(full_incident, cast, compiled_selects):
    user = cast.supervisor_all
    incident_detail(incident=full_incident, user=user, personal=True)  # compiles each shape
    with compiled_selects() as seen:
        again = incident_detail(incident=full_incident, user=user, personal=True)
    assert again["summary"] == "everything"
    assert seen == []


def test_reactions_with_nothing_to_do_compile_no_sql(full_incident, compiled_selects):
    # The caller of `full_incident` gave no consent to texts, it is shared with no one, and its
    # closing code is not a crime outcome.
    for _ in range(2):  # the first run compiles each shape
        with compiled_selects() as seen:
            assert caller_texts_queue(incident_id=full_incident.pk, kind="despatched") == 0
            assert partner_deliveries_queue(incident_id=full_incident.pk) == 0
            crime_report_draft_on_close({"id": full_incident.pk})  # closed, but not a crime
    assert seen == []
    assert not CrimeReport.objects.filter(incident=full_incident).exists()


def test_an_assign_compiles_no_read_but_its_incidents_lock(
    postgres, geography, cast, compiled_selects
):
    # The unit's job, its ring-fence, the units' follow and the BCU for the desks' streams are
    # prepared or already at hand; the incident's lock (with its BCU and type) is the one left.
    for n in range(2):  # the first assign compiles each shape
        incident = Incident.objects.select_related("bcu").get(
            pk=make_incident(cast.handler, grade="I").pk
        )
        unit = Unit.objects.select_related("bcu").get(
            pk=make_unit(geography["kentish"], callsign=f"CN3{n}").pk
        )
        with compiled_selects() as seen:
            assignment_create(incident=incident, unit=unit, by=cast.despatcher_all)
    assert seen == ["Incident"]
    # Pressed again: the same assignment back, and nothing more written.
    again = assignment_create(incident=incident, unit=unit, by=cast.despatcher_all)
    assert again.unit.callsign == "CN31" and again.incident_id == incident.pk
    # Sent elsewhere while on it: refused, naming the job it is on.
    other = make_incident(cast.handler, grade="I")
    with pytest.raises(Conflict, match=f"CN31 is not free to go: .* on {incident.reference}$"):
        assignment_create(incident=other, unit=unit, by=cast.despatcher_all)


def test_a_close_locks_its_units_without_compiling_and_frees_them(
    postgres, geography, cast, compiled_selects
):
    # Two units on the incident: both freed, each clearing audited as "unit → incident".
    make_closing_code()
    incident = make_incident(cast.handler, grade="I")
    units = [make_unit(geography["kentish"], callsign=f"CN4{n}") for n in range(2)]
    for unit in reversed(units):  # sent in the other order: the locks still go by unit id
        assignment_create(incident=incident, unit=unit, by=cast.despatcher_all)
    with compiled_selects() as seen:
        incident_close(incident=incident, by=cast.despatcher_all, closing_code="NFA")
    assert "Assignment" not in seen and "Unit" not in seen, seen
    assert [u.status for u in Unit.objects.filter(pk__in=[u.pk for u in units])] == [
        "available", "available"]  # fmt: skip
    assert not incident.assignments.filter(cleared_at__isnull=True).exists()
    cleared = AuditEvent.objects.filter(
        object_type="resources.assignment", action="update", changes__has_key="cleared_at"
    )
    assert sorted(cleared.values_list("object_repr", flat=True)) == [
        f"{u.callsign} → {incident.reference}" for u in units
    ]
