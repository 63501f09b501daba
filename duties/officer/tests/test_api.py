"""`/api/v1/me/…`: an officer's own unit and job, and nothing else (api.md "Officers' own
view"). Every endpoint: who gets in, 403 for other incidents, 400 for bad input, 409 for what the
unit's state forbids."""

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from cad.models import AuditEvent
from incidents.models import IncidentLogEntry
from incidents.services import incident_close, incident_set_qualifiers
from resources import despatch
from resources.models import Assignment, Unit, UnitStatus
from resources.services import unit_set_status
from tests.factories import make_closing_code, make_incident, make_qualifier

pytestmark = pytest.mark.django_db


def post(client, url, body=None, **headers):
    return client.post(url, json.dumps(body or {}), content_type="application/json", **headers)


def send(phone, **kwargs):
    incident = make_incident(phone["handler"], where="camden", **kwargs)
    despatch.assignment_create(incident=incident, unit=phone["unit"], by=phone["desk"],
                               source="test")  # fmt: skip
    return incident


ME_URLS = ["/api/v1/me/", "/api/v1/me/job/", "/api/v1/me/jobs/"]
WRITE_URLS = ["/api/v1/me/status/", "/api/v1/me/emergency/", "/api/v1/me/request-to-speak/"]


@pytest.mark.parametrize("url", ME_URLS + WRITE_URLS)
def test_control_room_roles_and_unlinked_accounts_are_refused(phone, cast, make_user, url):
    unlinked = make_user("officer", username="pc_nobody")
    for user in (cast.despatcher_all, cast.handler, cast.supervisor_all, cast.admin, unlinked):
        client = Client()
        client.force_login(user)
        response = client.get(url) if url in ME_URLS else post(client, url, {"status": "x"})
        assert response.status_code == 403, (user.username, url, response.status_code)
    assert Client().get("/api/v1/me/").status_code in (401, 403)


def test_me_names_the_officer_unit_and_crew(phone):
    body = phone["client"].get("/api/v1/me/").json()
    assert body["username"] == "pc_cn"
    assert body["roles"] == ["officer"]
    assert body["officer"]["collar_number"] == phone["officer"].collar_number
    assert body["unit"]["callsign"] == "CN01"
    assert body["unit"]["status"] == "available"
    assert body["unit"]["incident"] is None
    assert len(body["unit"]["crew"]) == 2


def test_job_is_204_without_one_and_the_incident_with_warnings_when_sent(phone):
    assert phone["client"].get("/api/v1/me/job/").status_code == 204
    incident = send(phone, grade="I")
    body = phone["client"].get("/api/v1/me/job/").json()
    assert body["id"] == incident.pk
    assert body["reference"] == incident.reference
    assert body["grade"] == "I"
    assert {"warnings", "location_history", "log", "linked", "callback_allowed"} <= set(body)
    assert all("caller" not in call for call in body["calls"])
    assert body["my_assignment"]["acknowledged_at"] is None


def test_shift_jobs_lists_this_units_jobs_since_booking_on(phone):
    first = send(phone)
    despatch.assignment_clear(incident=first, unit=phone["unit"], by=phone["desk"], source="t")
    second = send(phone)
    elsewhere = make_incident(phone["handler"], where="camden")
    despatch.assignment_create(incident=elsewhere, unit=phone["other"], by=phone["desk"],
                               source="test")  # fmt: skip
    ids = [j["id"] for j in phone["client"].get("/api/v1/me/jobs/").json()["results"]]
    assert ids == [second.pk, first.pk]


def test_status_press_follows_the_transition_graph(phone):
    send(phone)
    response = post(phone["client"], "/api/v1/me/status/", {"status": "en_route"})
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "en_route"
    assert Unit.objects.get(callsign="CN01").status == UnitStatus.EN_ROUTE
    assert Assignment.objects.get(unit=phone["unit"]).en_route_at is not None


def test_en_route_without_a_job_is_409(phone):
    response = post(phone["client"], "/api/v1/me/status/", {"status": "en_route"})
    assert response.status_code == 409
    assert response.json()["code"] == "invalid_transition"


@pytest.mark.parametrize(
    "body, field",
    [({"status": "flying"}, "status"), ({"status": "assigned"}, "status"), ({}, "status"),
     ({"status": 3}, "status"), ({"status": "unavailable"}, "reason"),
     ({"status": "available", "at": "yesterday"}, "at"),
     ({"status": "available", "at": "2099-01-01T00:00:00Z"}, "at")],
)  # fmt: skip
def test_bad_status_input_is_400_with_the_field(phone, body, field):
    response = post(phone["client"], "/api/v1/me/status/", body)
    assert response.status_code == 400
    assert field in response.json()
    assert Unit.objects.get(callsign="CN01").status == UnitStatus.AVAILABLE


def test_unavailable_with_a_reason_is_audited(phone):
    response = post(phone["client"], "/api/v1/me/status/",
                    {"status": "unavailable", "reason": "refuelling"})  # fmt: skip
    assert response.status_code == 200
    row = AuditEvent.objects.filter(object_type="resources.unit", user=phone["user"]).last()
    assert row.changes["note"] == "refuelling"


def test_an_older_press_never_overrides_a_newer_radio_update(phone):
    send(phone)
    unit_set_status(unit=phone["unit"], status="at_scene", source="radio")
    earlier = (timezone.now() - timedelta(minutes=5)).isoformat()
    response = post(phone["client"], "/api/v1/me/status/", {"status": "en_route", "at": earlier})
    assert response.status_code == 200
    assert response.json()["status"] == "at_scene"
    assert Unit.objects.get(callsign="CN01").status == UnitStatus.AT_SCENE


def test_a_replayed_press_is_applied_once(phone):
    send(phone)
    key = {"HTTP_IDEMPOTENCY_KEY": "press-1"}
    body = {"status": "en_route", "at": timezone.now().isoformat()}
    first = post(phone["client"], "/api/v1/me/status/", body, **key)
    again = post(phone["client"], "/api/v1/me/status/", body, **key)
    assert first.status_code == again.status_code == 200
    assert again["Idempotent-Replayed"] == "true"
    assert phone["unit"].status_changes.filter(to_status="en_route").count() == 1


def test_not_booked_on_is_409(phone):
    phone["officer"].crewings.update(booked_off_at=timezone.now())
    response = post(phone["client"], "/api/v1/me/status/", {"status": "available"})
    assert response.status_code == 409
    assert response.json()["code"] == "not_booked_on"
    assert phone["client"].get("/api/v1/me/").json()["unit"] is None


def test_emergency_raises_the_alarm_on_the_unit(phone):
    response = post(phone["client"], "/api/v1/me/emergency/")
    assert response.status_code == 200
    assert response.json()["emergency"] is True
    assert Unit.objects.get(callsign="CN01").emergency is True
    assert post(phone["client"], "/api/v1/me/emergency/", {"at": "soon"}).status_code == 400


def test_request_to_speak_is_logged_on_the_job(phone):
    incident = send(phone)
    response = post(phone["client"], "/api/v1/me/request-to-speak/")
    assert response.json() == {"callsign": "CN01", "logged_on": incident.reference}
    assert IncidentLogEntry.objects.filter(
        incident=incident, text="Phone from CN01: Request to speak"
    ).exists()


def test_acknowledge_is_recorded_on_the_assignment_and_told_to_the_board(phone, captured_events):
    incident = send(phone)
    captured_events.clear()
    url = f"/api/v1/me/incidents/{incident.pk}/acknowledge/"
    response = post(phone["client"], url)
    assert response.status_code == 200
    assignment = Assignment.objects.get(unit=phone["unit"], incident=incident)
    assert assignment.acknowledged_at is not None
    unit_event = captured_events.of("unit.updated")[-1]
    assert unit_event.data["job"]["acknowledged_at"] == assignment.acknowledged_at.isoformat()
    assert "incident.updated" in captured_events.types()
    detail = Client()
    detail.force_login(phone["desk"])
    rows = detail.get(f"/api/v1/incidents/{incident.pk}/").json()["assignments"]
    assert rows[0]["acknowledged_at"] is not None
    assert post(phone["client"], url).status_code == 200  # a repeat changes nothing
    assert Assignment.objects.get(pk=assignment.pk).acknowledged_at == assignment.acknowledged_at


def test_other_incidents_are_403(phone):
    mine = send(phone)
    theirs = make_incident(phone["handler"], where="camden")
    despatch.assignment_create(incident=theirs, unit=phone["other"], by=phone["desk"],
                               source="test")  # fmt: skip
    for pk in (theirs.pk, 999999):
        assert post(phone["client"], f"/api/v1/me/incidents/{pk}/acknowledge/").status_code == 403
        assert phone["client"].get(f"/api/v1/me/incidents/{pk}/callback/").status_code == 403
    assert Assignment.objects.get(incident=theirs).acknowledged_at is None
    # A job the unit has been taken off is no longer theirs either.
    despatch.assignment_clear(incident=mine, unit=phone["unit"], by=phone["desk"], source="t")
    assert post(phone["client"], f"/api/v1/me/incidents/{mine.pk}/acknowledge/").status_code == 403


def test_callback_number_is_read_only_where_allowed_and_audited(phone):
    incident = send(phone)
    url = f"/api/v1/me/incidents/{incident.pk}/callback/"
    response = phone["client"].get(url)
    assert response.status_code == 200
    assert response.json()["phone"]
    assert AuditEvent.objects.filter(
        action="read_personal", user=phone["user"], object_id=str(incident.pk)
    ).exists()


def test_callback_is_refused_on_a_domestic(phone):
    incident = send(phone)
    make_qualifier("DOMESTIC")
    incident_set_qualifiers(incident=incident, codes=["DOMESTIC"], by=phone["desk"], source="t")
    assert phone["client"].get("/api/v1/me/job/").json()["callback_allowed"] is False
    response = phone["client"].get(f"/api/v1/me/incidents/{incident.pk}/callback/")
    assert response.status_code == 409
    assert not AuditEvent.objects.filter(action="read_personal", user=phone["user"]).exists()


def test_a_closed_job_leaves_the_phone(phone):
    incident = send(phone)
    make_closing_code("NFA")
    incident_close(incident=incident, by=phone["desk"], closing_code="NFA", source="t")
    assert phone["client"].get("/api/v1/me/job/").status_code == 204
