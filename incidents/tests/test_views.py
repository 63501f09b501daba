"""The call-taker screen and incident page: who may open them and what they show."""

import pytest
from django.test import Client

from cad.models import AuditEvent
from tests.factories import make_incident, make_incident_type

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_call_taker_screen_for_creators_only(make_user, geography):
    make_incident_type("VIOL", default_grade="I", name="Violence")
    page = client_for(make_user("call_handler")).get("/calls/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="call-form"' in html and "VIOL — Violence" in html and "call_taker.js" in html
    assert client_for(make_user("admin")).get("/calls/").status_code == 403
    assert Client().get("/calls/").status_code == 302  # to the login page


def test_incident_page_shows_details_not_callers_and_actions_by_role(make_user, geography):
    handler = make_user("call_handler")
    incident = make_incident(handler, caller_name="Zed Secretname")
    page = client_for(handler).get(f"/incidents/{incident.id}/")
    html = page.content.decode()
    assert page.status_code == 200 and incident.reference in html
    assert "Zed Secretname" not in html  # revealed only through the audited API
    assert not AuditEvent.objects.filter(action="read_personal").exists()
    assert 'data-action="log/"' in html and 'data-action="close/"' not in html
    despatcher_html = client_for(make_user("despatcher")).get(f"/incidents/{incident.id}/")
    assert 'data-action="close/"' in despatcher_html.content.decode()
    local = client_for(make_user("despatcher", bcu="AS")).get(f"/incidents/{incident.id}/")
    assert 'data-action="close/"' not in local.content.decode()  # another BCU's incident
    assert client_for(handler).get("/incidents/999999/").status_code == 404
