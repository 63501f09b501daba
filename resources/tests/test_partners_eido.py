"""EIDO with partner agencies (issue 18): every document we send is valid against NENA's
published schema; export → import keeps the facts; duplicates do not duplicate; bad documents
get 400 naming the fault with nothing saved; a partner that is down gets retries, then an alert.
"""

import copy
import json
import threading
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from cad.models import AuditEvent
from incidents.models import Incident, IncidentLogEntry
from incidents.operations.services import major_incident_declare
from incidents.services import incident_log_add
from incidents.tests.test_major_incident import METHANE
from resources import despatch
from resources.partners import eido, services, simulator, tasks, transport
from resources.partners.eido_schema import eido_errors
from resources.partners.models import PartnerAgency, PartnerDelivery, PartnerIncident, PartnerShare
from tests.factories import make_incident, make_incident_type, make_unit

State = PartnerDelivery.State


@pytest.fixture
def world(geography, cast, make_user):
    las_user = make_user("partner_agency", username="las_cad")
    las = PartnerAgency.objects.create(
        code="LAS", name="London Ambulance Service", kind="ambulance",
        agency_id="las.nhs.example", endpoint="https://las.example/eido", user=las_user,
        may_receive_personal=True,
    )  # fmt: skip
    lfb = PartnerAgency.objects.create(
        code="LFB", name="London Fire Brigade", kind="fire", agency_id="lfb.example",
        endpoint="https://lfb.example/eido", may_receive_personal=False,
    )  # fmt: skip
    make_incident_type("THEFT", default_grade="S")
    incident = make_incident(cast.handler, where="camden", type_code="THEFT", grade="I",
                             summary="Handbag snatched outside the station",
                             address="Kentish Town Road by the station")  # fmt: skip
    unit = make_unit(geography["kentish"], callsign="CN07")
    despatch.assignment_create(incident=incident, unit=unit, by=cast.despatcher_cn)
    incident_log_add(incident=incident, by=cast.despatcher_cn, text="Caller says <b>two</b> males")
    return {"las": las, "las_user": las_user, "lfb": lfb, "incident": incident, "unit": unit}


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _as_partner_document(document: dict, *, agency: str, incident_id: str) -> dict:
    """Our document re-issued by a partner under its own ids (a partner's CAD sharing the same
    facts with us)."""
    doc = json.loads(json.dumps(document).replace(eido.agency_id(), agency))
    doc["$id"] = doc["incidentComponent"]["$id"] = incident_id
    return doc


# --- outbound -------------------------------------------------------------------------------


def test_every_outbound_document_is_valid_eido(world):
    incident = world["incident"]
    for personal in (False, True):
        for include_log in (False, True):
            document = eido.eido_document(incident, personal=personal, include_log=include_log)
            assert eido_errors(document) == {}, (personal, include_log)
    # The validator is not vacuous: the same document with a wrong type is refused.
    broken = eido.eido_document(incident, personal=True)
    broken["incidentComponent"]["incidentCommonPriorityNumber"] = "1"
    assert "incidentComponent/incidentCommonPriorityNumber" in eido_errors(broken)


def test_export_maps_type_grade_units_and_log(world):
    doc = eido.eido_document(world["incident"], personal=False)
    inc = doc["incidentComponent"]
    assert inc["incidentTypeCommonRegistryText"] == "LARCENY"  # codes.py: THEFT
    assert inc["incidentTypeInternalCode"] == "THEFT"
    assert inc["incidentCommonPriorityNumber"] == 1 and inc["incidentPriorityInternalText"] == "I"
    assert inc["internalIncidentId"] == world["incident"].reference
    assert [r["emergencyResourceName"] for r in doc["emergencyResourceComponent"]] == ["CN07"]
    assert doc["emergencyResourceComponent"][0]["secondaryUnitStatusRegistryText"] == ["Assigned"]
    notes = [n["notesActionComments"] for n in doc["notesComponent"]]
    assert "Handbag snatched outside the station" in notes
    assert "[note] Caller says &lt;b&gt;two&lt;/b&gt; males" in notes  # HTML5 notes: escaped
    assert eido.pidf_position(doc["locationComponent"][0]["locationByValue"]) == pytest.approx(
        (world["incident"].lat, world["incident"].lon), abs=1e-6
    )


def test_personal_data_only_to_a_partner_allowed_it(world, cast):
    client = _client(cast.despatcher_cn)
    incident = world["incident"]
    plain = client.get(f"/api/v1/incidents/{incident.pk}/eido/").json()
    to_lfb = client.get(f"/api/v1/incidents/{incident.pk}/eido/?partner=LFB").json()
    before = AuditEvent.objects.filter(action="read_personal").count()
    to_las = client.get(f"/api/v1/incidents/{incident.pk}/eido/?partner=LAS").json()
    assert "personComponent" not in plain and "personComponent" not in to_lfb
    assert "Ann Caller" not in json.dumps(plain) + json.dumps(to_lfb)
    person = to_las["personComponent"][0]
    assert person["ncPersonComponent"]["name"][0]["personFullName"][0]["value"] == "Ann Caller"
    assert to_las["callbackComponent"][0]["callBackInformationUri"] == ["tel:07700 900123"]
    assert eido_errors(to_las) == {}
    assert AuditEvent.objects.filter(action="read_personal").count() == before + 1
    assert client.get(f"/api/v1/incidents/{incident.pk}/eido/?partner=NOPE").status_code == 400


def test_sharing_sends_the_document_and_each_later_change(
    world, cast, monkeypatch, django_capture_on_commit_callbacks
):
    sent = []
    monkeypatch.setattr(transport, "post_document", lambda p, d: sent.append((p.code, d)) or "A1")
    task = tasks.send_partner_delivery
    monkeypatch.setattr(task, "delay", lambda delivery_id: task.apply(args=[delivery_id]))
    incident = world["incident"]
    with django_capture_on_commit_callbacks(execute=True):
        answer = _client(cast.despatcher_cn).post(
            f"/api/v1/incidents/{incident.pk}/partners/", {"partner": "LFB"}, format="json"
        )
    assert answer.status_code == 201, answer.content
    assert [code for code, _ in sent][:1] == ["LFB"]
    assert all(eido_errors(doc) == {} for _, doc in sent)
    detail = _client(cast.despatcher_cn).get(f"/api/v1/incidents/{incident.pk}/").json()
    assert detail["partners"][0]["partner"] == "LFB"
    assert detail["partners"][0]["delivery"]["state"] == "acknowledged"
    assert "Shared with London Fire Brigade (LFB) by EIDO." in [e["text"] for e in detail["log"]]
    # A later change goes out again, with the change in it.
    count = len(sent)
    with django_capture_on_commit_callbacks(execute=True):
        incident_log_add(incident=incident, by=cast.despatcher_cn, text="Smoke seen from roof")
    assert len(sent) == count + 1
    assert "[note] Smoke seen from roof" in json.dumps(sent[-1][1])
    assert eido_errors(sent[-1][1]) == {}
    again = _client(cast.despatcher_cn).post(
        f"/api/v1/incidents/{incident.pk}/partners/", {"partner": "LFB"}, format="json"
    )
    assert again.status_code == 409


def test_an_incident_shared_with_no_one_costs_one_read_after_each_change(world):
    """partner_deliveries_queue runs after every change to every incident; most are shared with
    no partner, and for those it opens no transaction (the soak's assign made two for nothing)."""
    with CaptureQueriesContext(connection) as statements:
        assert services.partner_deliveries_queue(incident_id=world["incident"].pk) == 0
    assert len(statements.captured_queries) == 1, statements.captured_queries


def test_a_partner_that_is_down_gets_retries_then_an_alert(world, cast, monkeypatch,
                                                           captured_events):  # fmt: skip
    calls = []

    def down(partner, document):
        calls.append(partner.code)
        raise transport.PartnerUnavailable("connection refused")

    monkeypatch.setattr(transport, "post_document", down)
    monkeypatch.setattr(tasks.send_partner_delivery, "delay", lambda delivery_id: None)
    share = services.incident_share(incident=world["incident"], partner=world["lfb"],
                                    by=cast.despatcher_cn)  # fmt: skip
    delivery = PartnerDelivery.objects.get(share=share)
    # Eager run of the real task: it retries (countdown ignored when eager) until it gives up.
    monkeypatch.setitem(tasks.send_partner_delivery.app.conf, "task_eager_propagates", False)
    tasks.send_partner_delivery.apply(args=[delivery.pk])
    delivery.refresh_from_db()
    retries = tasks.send_partner_delivery.max_retries
    assert len(calls) == retries + 1 and delivery.attempts == retries + 1
    assert delivery.state == State.FAILED and "connection refused" in delivery.last_error
    # Not yet overdue: no alert. Past the configured time: one alert, never two.
    assert services.partner_deliveries_alert_unacknowledged() == 0
    with override_settings(PARTNER_DELIVERY_ALERT_SECONDS=0):
        assert services.partner_deliveries_alert_unacknowledged() == 1
        assert services.partner_deliveries_alert_unacknowledged() == 0
    alert = captured_events.of("partner.undelivered")
    assert len(alert) == 1 and alert[0].data["partner"] == "LFB"
    assert alert[0].data["reference"] == world["incident"].reference
    texts = list(IncidentLogEntry.objects.filter(incident=world["incident"])
                 .values_list("text", flat=True))  # fmt: skip
    assert any("has not acknowledged" in t and "Pass it by phone" in t for t in texts)


def test_without_beat_the_radio_sweep_raises_the_partner_alert(world, cast, monkeypatch,
                                                              captured_events):  # fmt: skip
    # The embedded default (make run without REDIS_URL) has no beat: radio_sweep does its jobs.
    monkeypatch.setattr(tasks.send_partner_delivery, "delay", lambda delivery_id: None)
    services.incident_share(incident=world["incident"], partner=world["lfb"],
                            by=cast.despatcher_cn)  # fmt: skip
    with override_settings(PARTNER_DELIVERY_ALERT_SECONDS=0):
        call_command("radio_sweep", "--once", stdout=StringIO())
    assert [e.data["partner"] for e in captured_events.of("partner.undelivered")] == ["LFB"]


def test_a_delivery_whose_task_was_lost_is_queued_again_by_the_sweep(
    world, cast, monkeypatch, settings
):
    """Shared while Redis was down, in a process that then died: nothing queued the send, and
    the partner would have had no document at all. The sweep finds it by its state; one still
    within its retries is left alone, and one already sent is not queued again."""
    settings.PARTNER_SWEEP_AFTER_SECONDS = 300
    monkeypatch.setattr(tasks.send_partner_delivery, "delay", lambda delivery_id: None)  # lost
    share = services.incident_share(incident=world["incident"], partner=world["lfb"],
                                    by=cast.despatcher_cn)  # fmt: skip
    lost = PartnerDelivery.objects.get(share=share)
    queued: list[int] = []
    monkeypatch.setattr(tasks.send_partner_delivery, "delay", queued.append)
    assert services.partner_deliveries_requeue_stale() == 0 and queued == []  # too recent
    later = lost.queued_at + timedelta(seconds=301)
    assert services.partner_deliveries_requeue_stale(now=later) == 1
    assert queued == [lost.pk]
    # Sent once the task ran again: the next sweep has nothing to queue.
    monkeypatch.setattr(transport, "post_document", lambda partner, document: "ACK-1")
    tasks.send_partner_delivery.apply(args=[lost.pk])
    lost.refresh_from_db()
    assert lost.state == State.ACKNOWLEDGED
    assert services.partner_deliveries_requeue_stale(now=later) == 0 and queued == [lost.pk]


def test_a_partner_that_comes_back_acknowledges_on_the_next_attempt(world, cast, monkeypatch):
    answers = iter([transport.PartnerUnavailable("timed out"), "ACK-7"])

    def flaky(partner, document):
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(transport, "post_document", flaky)
    monkeypatch.setattr(tasks.send_partner_delivery, "delay", lambda delivery_id: None)
    share = services.incident_share(incident=world["incident"], partner=world["lfb"],
                                    by=cast.despatcher_cn)  # fmt: skip
    delivery = PartnerDelivery.objects.get(share=share)
    with pytest.raises(transport.PartnerUnavailable):
        services.partner_delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == (State.QUEUED, 1)
    assert services.partner_delivery_send(delivery_id=delivery.pk) == State.ACKNOWLEDGED
    delivery.refresh_from_db()
    assert (delivery.ack, delivery.attempts) == ("ACK-7", 2)
    assert services.partner_delivery_send(delivery_id=delivery.pk) == "skipped"  # runs twice


# --- inbound --------------------------------------------------------------------------------


def _partner_doc(world, partner_incident: str = "urn:emergency:uid:incidentid:777:las.nhs.example"):
    return _as_partner_document(
        eido.eido_document(world["incident"], personal=False),
        agency="las.nhs.example", incident_id=partner_incident,
    )  # fmt: skip


def test_export_then_import_keeps_the_incident_facts(world):
    original = world["incident"]
    answer = _client(world["las_user"]).post("/api/v1/eido/inbound/", _partner_doc(world),
                                             format="json")  # fmt: skip
    assert answer.status_code == 202, answer.content
    assert answer.json()["created"] is True
    copy_ = Incident.objects.select_related("type").get(pk=answer.json()["incident"])
    assert copy_.pk != original.pk
    assert (copy_.type.code, copy_.grade, copy_.summary, copy_.address) == (
        original.type.code, original.grade, original.summary, original.address)  # fmt: skip
    assert (copy_.lat, copy_.lon) == pytest.approx((original.lat, original.lon), abs=1e-6)
    assert copy_.calls.get().channel == "partner"
    log = list(copy_.log.values_list("by__username", "text"))
    assert ("las_cad", "London Ambulance Service: [note] Caller says <b>two</b> males") in log


def test_the_same_partner_incident_again_updates_and_never_duplicates(world):
    client = _client(world["las_user"])
    doc = _partner_doc(world)
    first = client.post("/api/v1/eido/inbound/", doc, format="json").json()
    incidents, notes = Incident.objects.count(), IncidentLogEntry.objects.count()
    again = client.post("/api/v1/eido/inbound/", doc, format="json")
    assert again.status_code == 202
    assert again.json() == {"incident": first["incident"], "created": False}
    assert (Incident.objects.count(), IncidentLogEntry.objects.count()) == (incidents, notes)
    # A new note in a later version of their document is logged once, under their name.
    later = copy.deepcopy(doc)
    later["notesComponent"].append({
        "$id": "urn:emergency:uid:noteid:n-99:las.nhs.example",
        "lastUpdateTimeStamp": "2026-11-30T12:00:00Z",
        "updatedByAgencyReference": {"$ref": "las.nhs.example"},
        "notesActionComments": "Crew on scene",
    })  # fmt: skip
    for _ in range(2):
        assert client.post("/api/v1/eido/inbound/", later, format="json").json()["created"] is False
    texts = list(IncidentLogEntry.objects.filter(incident_id=first["incident"])
                 .values_list("text", flat=True))  # fmt: skip
    assert texts.count("London Ambulance Service: Crew on scene") == 1
    assert PartnerIncident.objects.filter(partner=world["las"]).count() == 1


def _nothing_saved(before):
    return (Incident.objects.count(), IncidentLogEntry.objects.count(),
            PartnerIncident.objects.count()) == before  # fmt: skip


@pytest.mark.parametrize(
    ("damage", "where"),
    [
        (lambda d: d["incidentComponent"].__setitem__("incidentCommonPriorityNumber", "1"),
         "incidentComponent/incidentCommonPriorityNumber"),
        (lambda d: d.__setitem__("eidoVersion", 1.0), "eidoVersion"),
        (lambda d: d.pop("agencyComponent"), "document"),
        (lambda d: d["incidentComponent"].pop("incidentTypeCommonRegistryText"),
         "incidentComponent"),
        (lambda d: d.pop("locationComponent"), "locationComponent"),
        (lambda d: d["locationComponent"][0].__setitem__("locationByValue", "<x/>"),
         "locationComponent/locationByValue"),
        (lambda d: d["incidentComponent"].__setitem__("incidentCommonPriorityNumber", 9),
         "incidentComponent/incidentCommonPriorityNumber"),
        (lambda d: d["updatedByAgencyReference"].__setitem__("$ref", "someone.else"),
         "updatedByAgencyReference"),
        # The published ReferenceType has no `type`: a string passes the schema, not us.
        (lambda d: d.__setitem__("updatedByAgencyReference", "las.nhs.example"),
         "updatedByAgencyReference"),
    ],
    ids=["wrong-type", "wrong-version-type", "no-agency", "no-incident-type", "no-location",
         "location-not-a-point", "priority-out-of-range", "unknown-partner",
         "agency-reference-not-an-object"],
)  # fmt: skip
def test_bad_documents_get_400_naming_the_fault_and_nothing_is_saved(world, damage, where):
    doc = _partner_doc(world)
    damage(doc)
    before = (Incident.objects.count(), IncidentLogEntry.objects.count(),
              PartnerIncident.objects.count())  # fmt: skip
    answer = _client(world["las_user"]).post("/api/v1/eido/inbound/", doc, format="json")
    assert answer.status_code == 400, answer.content
    assert where in answer.json(), answer.json()
    assert _nothing_saved(before)


def test_huge_and_shapeless_documents_and_unlinked_accounts_get_400(world, make_user):
    client = _client(world["las_user"])
    before = (Incident.objects.count(), IncidentLogEntry.objects.count(),
              PartnerIncident.objects.count())  # fmt: skip
    with override_settings(EIDO_MAX_BYTES=10_000):
        huge = _partner_doc(world)
        huge["notesComponent"][0]["notesActionComments"] = "x" * 20_000
        answer = client.post("/api/v1/eido/inbound/", huge, format="json")
        assert answer.status_code == 400 and "Too large" in answer.json()["document"][0]
    answer = client.post("/api/v1/eido/inbound/", [1, 2], format="json")
    assert answer.status_code == 400 and "document" in answer.json()
    # A partner_agency account no partner agency is set up for is an unknown partner.
    stranger = make_user("partner_agency", username="who_cad")
    answer = _client(stranger).post("/api/v1/eido/inbound/", _partner_doc(world), format="json")
    assert answer.status_code == 400 and "updatedByAgencyReference" in answer.json()
    assert _nothing_saved(before)


def test_only_partner_agencies_may_send(world, cast):
    answer = _client(cast.despatcher_all).post("/api/v1/eido/inbound/", _partner_doc(world),
                                               format="json")  # fmt: skip
    assert answer.status_code == 403


def test_our_incident_sent_back_updates_it_only_if_shared_with_them(world, cast, monkeypatch):
    doc = eido.eido_document(world["incident"], personal=False)
    config = simulator.PartnerConfig(agency_id="las.nhs.example", name="LAS")
    back = simulator.update_for(doc, config, note="Crew assigned")
    assert eido_errors(back) == {}
    client = _client(world["las_user"])
    refused = client.post("/api/v1/eido/inbound/", back, format="json")
    assert refused.status_code == 400 and "incidentComponent/$id" in refused.json()
    monkeypatch.setattr(tasks.send_partner_delivery, "delay", lambda delivery_id: None)
    services.incident_share(incident=world["incident"], partner=world["las"], by=cast.despatcher_cn)
    answer = client.post("/api/v1/eido/inbound/", back, format="json")
    assert answer.json() == {"incident": world["incident"].pk, "created": False}
    last = world["incident"].log.order_by("-id").first()
    assert (last.by.username, last.text) == ("las_cad", "London Ambulance Service: Crew assigned")


def test_the_simulator_acknowledges_valid_documents_and_refuses_invalid_ones(world):
    state = simulator.PartnerState()
    server = simulator.serve("127.0.0.1", 0, simulator.PartnerConfig(), state, reply=False)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        partner = PartnerAgency(code="SIM", name="Sim", kind="ambulance", agency_id="sim.example",
                                endpoint=f"http://127.0.0.1:{server.server_port}/")  # fmt: skip
        document = eido.eido_document(world["incident"], personal=False)
        assert transport.post_document(partner, document) == "SIM-1"
        assert state.received[0]["$id"] == document["$id"]
        with pytest.raises(transport.PartnerRefused):
            transport.post_document(partner, {"eidoVersion": "1.0"})
    finally:
        server.shutdown()
        server.server_close()
    with pytest.raises(transport.PartnerUnavailable):
        transport.post_document(partner, document)  # nobody listening any more


def test_admin_stores_the_token_encrypted_and_audits_without_it(world, client, django_user_model):
    root = django_user_model.objects.create_superuser("root18", "r@example.com", "pw-root-18")
    client.force_login(root)
    answer = client.post(f"/admin/resources/partneragency/{world['lfb'].pk}/change/", {
        "code": "LFB", "name": "London Fire Brigade", "kind": "fire", "agency_id": "lfb.example",
        "endpoint": "https://lfb.example/eido", "secret_env": "", "may_receive_log": "on",
        "active": "on", "token": "s3cret-token-18",
    })  # fmt: skip
    assert answer.status_code == 302, answer.content[:2000]
    lfb = PartnerAgency.objects.get(code="LFB")
    assert lfb.secret_encrypted and "s3cret-token-18" not in lfb.secret_encrypted
    assert transport.partner_secret(lfb) == "s3cret-token-18"
    row = AuditEvent.objects.filter(object_type="resources.partneragency").latest("id")
    assert "s3cret" not in json.dumps(row.changes)
    assert row.changes["secret_encrypted"] == ["***", "changed"]
    assert PartnerShare.objects.count() == 0


def test_the_incident_page_shows_the_delivery_state_and_offers_the_others(world, cast, client,
                                                                         monkeypatch):  # fmt: skip
    monkeypatch.setattr(tasks.send_partner_delivery, "delay", lambda delivery_id: None)
    services.incident_share(incident=world["incident"], partner=world["lfb"], by=cast.despatcher_cn)
    client.force_login(cast.despatcher_cn)
    page = client.get(f"/incidents/{world['incident'].pk}/").content.decode()
    assert "London Fire Brigade (LFB): queued" in page
    assert '<option value="LAS">' in page and '<option value="LFB">' not in page


def test_plain_http_goes_only_to_this_machine(world, settings):
    settings.DEBUG = False
    partner = PartnerAgency(code="X", name="X", kind="other", agency_id="x.example",
                            endpoint="http://partner.example/eido")  # fmt: skip
    with pytest.raises(transport.PartnerRefused, match="https"):
        transport.post_document(partner, {})


def test_references_that_are_not_objects_are_ignored_not_a_500(world):
    doc = _partner_doc(world)
    doc["incidentComponent"]["locationReference"] = ["x", 3]  # valid EIDO: ReferenceType is untyped
    doc["lastUpdateTimeStamp"] = "2026-13-45T99:00:00Z"  # format not enforced by the schema
    answer = _client(world["las_user"]).post("/api/v1/eido/inbound/", doc, format="json")
    assert answer.status_code == 202  # the document's only location is taken
    made = Incident.objects.get(pk=answer.json()["incident"])
    assert (made.lat, made.lon) == pytest.approx((world["incident"].lat, world["incident"].lon))


def test_a_declared_major_incident_sends_methane_to_its_partners(
    world, cast, monkeypatch, django_capture_on_commit_callbacks
):
    """The adapter is connected: the declaration's METHANE reaches the partners the incident is
    shared with, in a valid document, and the declaration says it went by the adapter."""
    sent = []
    monkeypatch.setattr(transport, "post_document", lambda p, d: sent.append((p.code, d)) or "A1")
    task = tasks.send_partner_delivery
    monkeypatch.setattr(task, "delay", lambda delivery_id: task.apply(args=[delivery_id]))
    incident = world["incident"]
    with django_capture_on_commit_callbacks(execute=True):
        services.incident_share(incident=incident, partner=world["las"], by=cast.despatcher_cn)
    before = len(sent)
    with django_capture_on_commit_callbacks(execute=True):
        major = major_incident_declare(incident=incident, by=cast.supervisor_cn, methane=METHANE)
    assert major.partner_delivery == "to the CAD-to-CAD adapter"
    after = sent[before:]
    assert after and {code for code, _ in after} == {"LAS"}
    assert all(eido_errors(doc) == {} for _, doc in after)
    text = json.dumps(after[-1][1])
    assert "MAJOR INCIDENT DECLARED" in text
    assert METHANE["exact_location"] in text


@pytest.mark.parametrize("code", ["L\x00FB", "LFB" * 10])
def test_eido_refuses_a_partner_code_that_is_not_text_with_its_field(world, cast, code):
    # Found by `make fuzz` (issue 23): a NUL in `partner` reached PostgreSQL and was a 500.
    client = _client(cast.despatcher_cn)
    response = client.get(f"/api/v1/incidents/{world['incident'].pk}/eido/", {"partner": code})
    assert response.status_code == 400, response.content
    assert list(response.json()) == ["partner"]
