"""/report/ without JavaScript (plain forms, POST/redirect/GET, error summary) and /triage/."""

import pytest
from django.test import Client

from cad.models import AuditEvent
from incidents.models import GazetteerEntry, Incident
from incidents.public.models import OnlineReport
from tests.factories import CAMDEN, make_incident_type

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(geography):
    make_incident_type("FRAUD", default_grade="E")
    GazetteerEntry.objects.create(
        key="t-1", address="10 CAMDEN HIGH STREET", postcode="NW1 0JH", lat=CAMDEN[0],
        lon=CAMDEN[1], search="10 CAMDEN HIGH STREET NW1 0JH",
    )  # fmt: skip
    return geography


FORM = {"answer_contact": "phone", "answer_amount": "200",
        "description": "A caller said he was my bank.",
        "address": "10 Camden High Street NW1 0JH", "name": "Pat Public", "phone": "07700 900982",
        "updates_by": "sms"}  # fmt: skip


def test_the_whole_report_without_javascript(world):
    public = Client()
    start = public.get("/report/")
    assert start.status_code == 200 and b"Is anyone in danger now?" in start.content
    chosen = public.post("/report/", {"danger": "no", "category": "fraud"})
    assert chosen.status_code == 302 and chosen["Location"] == "/report/fraud/"
    form = public.get("/report/fraud/")
    assert b"How did they contact you?" in form.content
    sent = public.post("/report/fraud/", FORM)
    assert sent.status_code == 302, sent.content.decode()[:2000]
    report = OnlineReport.objects.get()
    assert report.resolved_address == "10 CAMDEN HIGH STREET, NW1 0JH"
    assert report.answers == {"contact": "phone", "amount": "200"}
    done = public.get(sent["Location"])
    assert report.reference.encode() in done.content
    assert b"received, waiting to be looked at" in done.content.lower()


def test_danger_now_goes_to_call_999_and_stores_nothing(world):
    r = Client().post("/report/", {"danger": "yes", "category": "fraud"})
    assert r["Location"] == "/report/emergency/"
    assert b"Call 999" in Client().get("/report/emergency/").content
    assert not OnlineReport.objects.exists()


def test_errors_are_summarised_and_linked_and_nothing_is_stored(world):
    r = Client().post("/report/fraud/", {**FORM, "description": "<script>x</script>",
                                         "phone": "123"})  # fmt: skip
    assert r.status_code == 400
    html = r.content.decode()
    assert "There is a problem" in html
    assert 'href="#f-description"' in html and 'href="#f-phone"' in html
    assert "&lt;script&gt;x&lt;/script&gt;" in html  # echoed back as text, never as markup
    assert "<script>x</script>" not in html
    assert not OnlineReport.objects.exists()


def test_the_form_is_throttled_with_retry_after(world, settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "public": "1/hour"}
    public = Client()
    assert public.post("/report/fraud/", FORM).status_code == 302
    refused = public.post("/report/fraud/", FORM)
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert OnlineReport.objects.count() == 1


def test_markup_is_shown_as_text_on_the_triage_page(world, cast):
    Client().post("/report/fraud/", {**FORM, "description": "They said <b>urgent</b>"})
    report = OnlineReport.objects.get()
    staff = Client()
    staff.force_login(cast.handler)
    page = staff.get(f"/triage/{report.pk}/").content.decode()
    assert "They said &lt;b&gt;urgent&lt;/b&gt;" in page
    assert AuditEvent.objects.filter(action="read_personal", object_id=str(report.pk)).exists()


def test_triage_page_makes_an_incident(world, cast):
    Client().post("/report/fraud/", FORM)
    report = OnlineReport.objects.get()
    staff = Client()
    staff.force_login(cast.handler)
    queue = staff.get("/triage/").content.decode()
    assert report.reference in queue
    r = staff.post(f"/triage/{report.pk}/", {"decision": "incident", "type": "FRAUD",
                                             "grade": "", "reason": "loss over £100"})  # fmt: skip
    assert r.status_code == 302
    report.refresh_from_db()
    assert report.status == "incident"
    assert Incident.objects.get().calls.get().channel == "online"
