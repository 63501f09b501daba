"""Online reports through the public API: the contract's shapes, bad input (400 naming the
field, nothing stored), throttling (429 with Retry-After), the status link, and triage."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from cad.models import AuditEvent, Event
from incidents.models import Call, Incident
from incidents.public.models import (
    CallerMessage,
    InvestigationCase,
    OnlineReport,
)
from incidents.public.services import online_report_triage, online_reports_alert_overdue
from incidents.tasks import erase_expired_personal_data
from tests.factories import CAMDEN, LAMBETH, make_incident, make_incident_type

pytestmark = pytest.mark.django_db
URL = "/api/v1/public/reports/"


@pytest.fixture
def world(geography):
    make_incident_type("THEFT", default_grade="S", name="Theft")
    return geography


@pytest.fixture
def public():
    return APIClient()


def report_body(**overrides):
    body = {
        "category": "crime",
        "description": "My bike was taken from outside the library.",
        "location": {"address": "Camden library", "lat": CAMDEN[0], "lon": CAMDEN[1]},
        "reporter": {"name": "Pat Public", "email": "pat@example.com", "phone": "07700 900982"},
        "updates_by": "sms",
        "answers": {"what_happened": "A red bicycle"},
    }
    body.update(overrides)
    return body


def staff(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_report_gets_a_reference_and_a_status_link_that_shows_only_the_status(world, public):
    r = public.post(URL, report_body(), format="json")
    assert r.status_code == 201, r.content
    ref, token = r.data["reference"], r.data["status_token"]
    assert ref.startswith("WEB 0001/")
    report = OnlineReport.objects.get(reference=ref)
    assert report.reporter_phone == "+447700900982"  # normalised for sending
    assert report.bcu.code == "CN"
    assert report.status_token_digest != token  # only a digest is kept

    status = public.get(f"/api/v1/public/reports/{ref}/", {"token": token})
    assert status.status_code == 200
    assert set(status.data) == {"reference", "status", "updated_at"}
    assert status.data["status"] == "new"
    # The dashed form used in links works too; a wrong token is the same 404 as no report.
    slug = ref.replace(" ", "-").replace("/", "-")
    assert public.get(f"/api/v1/public/reports/{slug}/", {"token": token}).status_code == 200
    assert public.get(f"/api/v1/public/reports/{ref}/", {"token": "x" * 32}).status_code == 404
    assert (
        public.get("/api/v1/public/reports/WEB 9999/01Jan26/", {"token": token}).status_code == 404
    )


def test_report_is_audited_without_the_personal_values_and_acknowledged_by_text(world, public):
    r = public.post(URL, report_body(), format="json")
    report = OnlineReport.objects.get(reference=r.data["reference"])
    row = AuditEvent.objects.get(object_type="incidents.onlinereport", action="create")
    assert "Pat" not in str(row.changes) and "07700" not in str(row.changes)
    ack = CallerMessage.objects.get(report=report)
    assert (ack.kind, ack.channel, ack.status) == ("acknowledged", "sms", "queued")
    assert ack.to_masked == "07••• •••982"
    assert report.reference in ack.body
    assert Event.objects.filter(type="report.created").count() == 1


def test_no_acknowledgement_unless_asked(world, public):
    r = public.post(URL, report_body(updates_by="none"), format="json")
    assert r.status_code == 201
    assert not CallerMessage.objects.exists()


def test_categories_are_listed_without_signing_in(public):
    r = public.get("/api/v1/public/report-categories/")
    assert r.status_code == 200
    codes = {c["code"] for c in r.data}
    assert {"crime", "asb", "collision", "property", "fraud", "seen_heard"} <= codes


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"description": "x" * 4001}, "description"),
        ({"category": "murder"}, "category"),
        ({"description": "<script>alert(1)</script> stolen"}, "description"),
        ({"answers": {"what_happened": '<img src=x onerror="alert(1)">'}}, "answers"),
        ({"reporter": {"name": "Pat", "phone": "12345"}}, "reporter"),
        ({"reporter": {"name": "Pat", "email": "not-an-email"}, "updates_by": "email"}, "reporter"),
        ({"reporter": {"name": "Pat"}, "updates_by": "sms"}, "reporter"),
        ({"location": {"lat": 55.95, "lon": -3.19}}, "location"),
        ({"answers": {}}, "answers"),
        ({"danger_now": True}, "danger_now"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_stores_nothing(world, public, overrides, field):
    r = public.post(URL, report_body(**overrides), format="json")
    assert r.status_code == 400, r.content
    assert field in r.data
    assert not OnlineReport.objects.exists()
    assert not CallerMessage.objects.exists()


def test_markup_that_is_not_script_is_kept_as_text(world, public):
    r = public.post(URL, report_body(description="They wrote <b>pay now</b> & <i>urgent</i>"),
                    format="json")  # fmt: skip
    assert r.status_code == 201
    assert OnlineReport.objects.get().description == "They wrote <b>pay now</b> & <i>urgent</i>"


def test_the_honeypot_refuses_and_stores_nothing(world, public):
    r = public.post(URL, report_body(website="http://spam.example"), format="json")
    assert r.status_code == 400
    assert not OnlineReport.objects.exists()


def test_reports_are_throttled_per_address_with_retry_after(world, public, settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "public": "2/hour"}
    for _ in range(2):
        assert public.post(URL, report_body(), format="json").status_code == 201
    r = public.post(URL, report_body(), format="json")
    assert r.status_code == 429
    assert int(r["Retry-After"]) > 0
    assert OnlineReport.objects.count() == 2
    # Another address is counted on its own.
    other = public.post(URL, report_body(), format="json", REMOTE_ADDR="10.9.9.9")
    assert other.status_code == 201


def test_a_relaxed_range_uses_the_relaxed_rate(world, public, settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "public": "1/hour"}
    settings.PUBLIC_THROTTLE_RELAXED_NETWORKS = ["10.20.0.0/16"]
    for _ in range(3):
        r = public.post(URL, report_body(), format="json", REMOTE_ADDR="10.20.1.2")
        assert r.status_code == 201


def test_risks_in_the_words_are_flagged(world, public):
    text = "My ex-partner threatened me with a knife in front of my 6 year old; I was bleeding."
    public.post(URL, report_body(description=text), format="json")
    assert OnlineReport.objects.get().risk_flags == ["weapon", "injury", "child", "domestic"]


def test_a_repeat_address_is_flagged(world, public, cast):
    make_incident(cast.handler, lat=CAMDEN[0], lon=CAMDEN[1])
    public.post(URL, report_body(description="bike gone"), format="json")
    assert "repeat_address" in OnlineReport.objects.get().risk_flags


# --- triage ---------------------------------------------------------------------------------


def _report(public, **overrides) -> OnlineReport:
    r = public.post(URL, report_body(**overrides), format="json")
    assert r.status_code == 201, r.content
    return OnlineReport.objects.get(reference=r.data["reference"])


def test_queue_runs_oldest_first_for_call_handlers_only(world, public, cast):
    first = _report(public)
    second = _report(public, location={"lat": LAMBETH[0], "lon": LAMBETH[1]})
    r = staff(cast.handler).get("/api/v1/online-reports/", {"status": "new"})
    assert r.status_code == 200
    assert [row["id"] for row in r.data] == [first.pk, second.pk]
    assert "reporter" not in r.data[0]
    # A supervisor scoped to AS sees AS's report only; a despatcher has no triage role.
    scoped = staff(cast.supervisor_as).get("/api/v1/online-reports/")
    assert [row["id"] for row in scoped.data] == [second.pk]
    assert staff(cast.despatcher_all).get("/api/v1/online-reports/").status_code == 403


def test_reading_the_reporter_is_audited(world, public, cast):
    report = _report(public)
    r = staff(cast.handler).get(f"/api/v1/online-reports/{report.pk}/")
    assert r.data["reporter"]["name"] == "Pat Public"
    assert AuditEvent.objects.filter(action="read_personal", object_type="incidents.onlinereport",
                                     object_id=str(report.pk)).exists()  # fmt: skip


def test_triage_into_an_incident_links_it_with_channel_online(world, public, cast):
    report = _report(public)
    url = f"/api/v1/online-reports/{report.pk}/triage/"
    r = staff(cast.handler).post(url, {"decision": "incident", "grade": "E",
                                       "reason": "suspect known"}, format="json")  # fmt: skip
    assert r.status_code == 200, r.content
    report.refresh_from_db()
    incident = Incident.objects.get(pk=r.data["incident"])
    assert report.status == "incident" and report.incident == incident
    assert (incident.type.code, incident.grade) == ("THEFT", "E")
    call = Call.objects.get(incident=incident)
    assert call.channel == "online"
    assert call.updates_consent  # the reporter asked for texts
    assert AuditEvent.objects.filter(object_type="incidents.onlinereport", action="update",
                                     changes__decision="incident").exists()  # fmt: skip
    # The reporter asked for texts: told of the decision.
    assert CallerMessage.objects.filter(report=report, kind="triaged").exists()
    # Once only.
    again = staff(cast.handler).post(url, {"decision": "close", "reason": "x"}, format="json")
    assert again.status_code == 409
    assert again.data["code"] == "already_triaged"


def test_triage_into_investigation_makes_a_case_with_an_owner_and_a_status(world, public, cast):
    report = _report(public, updates_by="none")
    r = staff(cast.handler).post(f"/api/v1/online-reports/{report.pk}/triage/",
                                 {"decision": "investigate", "reason": "phone enquiry"},
                                 format="json")  # fmt: skip
    assert r.status_code == 200
    case = InvestigationCase.objects.get(report=report)
    assert case.status == "unallocated" and case.owner is None
    assert not Incident.objects.exists()
    listed = staff(cast.handler).get("/api/v1/investigations/")
    assert [row["id"] for row in listed.data] == [case.pk]
    taken = staff(cast.handler).post(f"/api/v1/investigations/{case.pk}/",
                                     {"owner": cast.handler.username, "status": "in_progress"},
                                     format="json")  # fmt: skip
    assert taken.status_code == 200
    case.refresh_from_db()
    assert (case.owner, case.status) == (cast.handler, "in_progress")
    assert not CallerMessage.objects.filter(report=report).exists()  # asked for none


def test_refer_needs_an_agency_and_close_needs_a_reason(world, public, cast):
    report = _report(public)
    url = f"/api/v1/online-reports/{report.pk}/triage/"
    r = staff(cast.handler).post(url, {"decision": "refer", "reason": "council matter"},
                                 format="json")  # fmt: skip
    assert r.status_code == 400 and "agency" in r.data
    r = staff(cast.handler).post(url, {"decision": "close", "reason": ""}, format="json")
    assert r.status_code == 400 and "reason" in r.data
    report.refresh_from_db()
    assert report.status == "new"
    r = staff(cast.handler).post(url, {"decision": "refer", "reason": "council matter",
                                       "agency": "Camden Council"}, format="json")  # fmt: skip
    assert r.status_code == 200
    report.refresh_from_db()
    assert (report.status, report.referred_to) == ("referred", "Camden Council")


def test_untriaged_reports_raise_one_alert_after_the_configured_time(world, public, settings):
    settings.ONLINE_REPORT_TRIAGE_ALERT_MINUTES = 60
    report = _report(public)
    assert online_reports_alert_overdue(now=timezone.now() + timedelta(minutes=59)) == 0
    later = timezone.now() + timedelta(minutes=61)
    assert online_reports_alert_overdue(now=later) == 1
    assert online_reports_alert_overdue(now=later) == 0  # once
    event = Event.objects.get(type="report.overdue")
    assert event.data["reference"] == report.reference


def test_retention_erases_the_reporters_details_of_long_triaged_reports(
    world, public, cast, settings
):
    settings.RETENTION_CLOSED_INCIDENT_DAYS = 30
    old, recent, waiting = _report(public), _report(public), _report(public)
    for report in (old, recent):
        online_report_triage(report=report, by=cast.handler, decision="close", reason="advice")
    OnlineReport.objects.filter(pk=old.pk).update(triaged_at=timezone.now() - timedelta(days=31))
    assert erase_expired_personal_data() == 1
    old.refresh_from_db()
    assert (old.reporter_name, old.reporter_email, old.reporter_phone) == ("", "", "")
    assert old.personal_erased_at is not None
    assert old.description  # the report itself is kept
    for kept in (recent, waiting):
        kept.refresh_from_db()
        assert kept.reporter_name == "Pat Public"
    row = AuditEvent.objects.get(action="erase", object_type="incidents.onlinereport")
    assert row.changes["fields"] == ["reporter_name", "reporter_email", "reporter_phone"]
    assert "Pat" not in str(row.changes)
    assert erase_expired_personal_data() == 0


def test_a_report_reference_with_a_control_character_is_no_report(world, public):
    # Found by fuzzing (issue 23): a NUL in the reference reached PostgreSQL and was a 500.
    response = public.get("/api/v1/public/reports/WEB-0001-30Nov26%00/", {"token": "x"})
    assert response.status_code == 404
