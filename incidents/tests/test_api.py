"""The incident API: shapes of api.md, every 4xx, idempotency, permissions and audited reads."""

import json

import pytest
from knox.models import AuthToken
from rest_framework.test import APIClient

from cad.models import AuditEvent, Event, IdempotencyKey
from incidents.models import Call, GazetteerEntry, Incident
from tests.factories import (
    CAMDEN,
    LAMBETH,
    make_closing_code,
    make_incident,
    make_incident_type,
    make_qualifier,
)

pytestmark = pytest.mark.django_db
URL = "/api/v1/incidents/"


@pytest.fixture
def world(geography):
    make_incident_type("VIOL", default_grade="I", name="Violence")
    make_incident_type("OLD", active=False)
    make_closing_code("NFA")
    make_qualifier("DA")
    return geography


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def body(**overrides):
    data = {
        "type": "VIOL",
        "summary": "fight outside the pub",
        "location": {"lat": CAMDEN[0], "lon": CAMDEN[1], "address": "the pub on the corner"},
        "caller": {"name": "Ann Caller", "phone": "07700 900123"},
    }
    data.update(overrides)
    return data


def post(client, data, **headers):
    return client.post(URL, json.dumps(data), content_type="application/json", headers=headers)


def test_create_returns_api_md_shape(world, make_user):
    client = client_for(make_user("call_handler"))
    response = post(client, body())
    assert response.status_code == 201, response.json()
    data = response.json()
    for key in (
        "id",
        "reference",
        "status",
        "type",
        "grade",
        "summary",
        "location",
        "created_at",
        "due_at",
        "version",
        "possible_duplicates",
        "location_history",
    ):
        assert key in data
    assert data["reference"].startswith("CAD 0001/")
    assert data["grade"] == "I" and data["status"] == "open" and data["version"] == 1
    assert data["location"] == {
        "lat": CAMDEN[0],
        "lon": CAMDEN[1],
        "address": "the pub on the corner",
        "bcu": "CN",
        "resolved_address": "",
    }
    second = post(client, body()).json()
    assert [d["id"] for d in second["possible_duplicates"]] == [data["id"]]
    assert set(second["possible_duplicates"][0]) >= {"id", "reference", "distance_m", "created_at"}
    assert set(second["location_history"][0]) >= {"id", "reference", "type", "created_at"}


def test_create_by_address_only_uses_gazetteer(world, make_user):
    GazetteerEntry.objects.create(
        key="t:1",
        address="12 Camden High Street",
        postcode="NW1 0JH",
        lat=51.54,
        lon=-0.145,
        search="12 CAMDEN HIGH STREET NW1 0JH",
    )
    client = client_for(make_user("call_handler"))
    response = post(client, body(location={"address": "12 Camden High Street"}))
    assert response.status_code == 201, response.json()
    loc = response.json()["location"]
    assert (loc["lat"], loc["lon"]) == (51.54, -0.145)
    assert loc["address"] == "12 Camden High Street"  # the caller's words
    assert loc["resolved_address"] == "12 Camden High Street, NW1 0JH"
    missing = post(client, body(location={"address": "Nowhere Lane"}))
    assert missing.status_code == 400
    assert "not found in the gazetteer" in missing.json()["location"]["address"][0]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (body(type="NOPE"), "type"),
        (body(type="OLD"), "type"),
        (body(grade="X"), "grade"),
        (body(grade=1), "grade"),
        (body(location={"lat": 52.2, "lon": 0.12, "address": "Cambridge"}), "location"),
        (body(location={"lat": 91, "lon": 0}), "location"),
        (body(location={"lat": "51.5", "lon": -0.1}), "location"),
        (body(location={"lat": True, "lon": -0.1}), "location"),
        (body(location={"lat": 51.5}), "location"),
        (body(location={}), "location"),
        (body(location="51.5,-0.1"), "location"),
        (body(summary=123), "summary"),
        (body(summary="x" * 4001), "summary"),
        (body(summary="bell\x07"), "summary"),
        (body(caller={"name": "A\x00B"}), "caller"),
        (body(caller={"phone": "1" * 41}), "caller"),
        (body(caller=["x"]), "caller"),
        (body(channel="fax"), "channel"),
        (body(thrive={"threat": 5}), "thrive"),
        (body(thrive={"mood": "ok"}), "thrive"),
        (body(qualifiers="DA"), "qualifiers"),
        (body(qualifiers=["NOPE"]), "qualifiers"),
    ],
)
def test_bad_input_is_400_with_field_messages_and_nothing_saved(world, make_user, data, field):
    client = client_for(make_user("call_handler"))
    response = post(client, data)
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert Incident.objects.count() == 0 and Call.objects.count() == 0


def test_outside_force_area_message(world, make_user):
    response = post(
        client_for(make_user("call_handler")), body(location={"lat": 52.2, "lon": 0.12})
    )
    assert "outside the Metropolitan Police area" in response.json()["location"][0]


def test_malformed_json_is_400(world, make_user):
    client = client_for(make_user("call_handler"))
    for raw in ("{not json", '{"type": NaN}', "[1, 2]"):
        response = client.post(URL, raw, content_type="application/json")
        assert response.status_code == 400, raw


def test_idempotent_repeat_returns_first_result(world, make_user):
    user = make_user("call_handler")
    client = client_for(user)
    first = post(client, body(), **{"Idempotency-Key": "k-1"})
    again = post(client, body(), **{"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert Incident.objects.count() == 1
    # the same key for a different request is a client error, and creates nothing
    other = post(client, body(summary="different"), **{"Idempotency-Key": "k-1"})
    assert other.status_code == 409 and other.json()["code"] == "idempotency_key_reused"
    # keys belong to a user: someone else's identical key is a separate request
    post(client_for(make_user("call_handler")), body(), **{"Idempotency-Key": "k-1"})
    assert Incident.objects.count() == 2
    # a refused request leaves the key free for the corrected one
    bad = post(client, body(type="NOPE"), **{"Idempotency-Key": "k-2"})
    assert bad.status_code == 400 and not IdempotencyKey.objects.filter(key="k-2").exists()
    assert post(client, body(), **{"Idempotency-Key": "k-2"}).status_code == 201


def test_token_auth_and_anonymous(world, make_user):
    user = make_user("call_handler")
    _, token = AuthToken.objects.create(user=user)
    client = APIClient()
    assert client.get(URL).status_code in (401, 403)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert post(client, body()).status_code == 201
    assert client.get(URL).status_code == 200


def test_roles_that_may_not_create(world, make_user):
    for role in ("admin", "radio_gateway"):
        assert post(client_for(make_user(role)), body()).status_code == 403
    assert Incident.objects.count() == 0


def test_list_filters_newest_first_paginated(world, make_user):
    handler = make_user("call_handler")
    a = make_incident(handler, type_code="VIOL", grade="I")
    b = make_incident(handler, type_code="VIOL", grade="S", lat=LAMBETH[0], lon=LAMBETH[1])
    client = client_for(make_user("despatcher"))
    data = client.get(URL).json()
    assert data["count"] == 2 and [r["id"] for r in data["results"]] == [b.id, a.id]
    assert [r["id"] for r in client.get(URL, {"bcu": "CN"}).json()["results"]] == [a.id]
    assert [r["id"] for r in client.get(URL, {"grade": "S"}).json()["results"]] == [b.id]
    assert client.get(URL, {"status": "open"}).json()["count"] == 2
    assert client.get(URL, {"status": "closed"}).json()["count"] == 0
    assert client.get(URL, {"status": "bogus"}).status_code == 400
    assert client.get(URL, {"grade": "Z"}).status_code == 400


def test_detail_has_log_assignments_and_audits_personal_read(world, make_user):
    handler = make_user("call_handler")
    incident = make_incident(handler, type_code="VIOL")
    despatcher = make_user("despatcher")
    response = client_for(despatcher).get(f"{URL}{incident.id}/", REMOTE_ADDR="10.1.2.3")
    data = response.json()
    assert response.status_code == 200
    assert data["log"][0]["kind"] == "call" and set(data["log"][0]) == {"at", "by", "text", "kind"}
    assert data["assignments"] == []
    assert data["calls"][0]["caller"] == {"name": "Ann Caller", "phone": "07700 900123"}
    audit = AuditEvent.objects.get(action="read_personal")
    assert (audit.user, audit.object_id, audit.source) == (despatcher, str(incident.id), "10.1.2.3")
    # an admin reads the incident but not the caller, and nothing personal is audited
    admin_data = client_for(make_user("admin")).get(f"{URL}{incident.id}/").json()
    assert "caller" not in admin_data["calls"][0]
    assert AuditEvent.objects.filter(action="read_personal").count() == 1
    calls = client_for(handler).get(f"{URL}{incident.id}/calls/")
    assert calls.status_code == 200 and calls.json()[0]["caller"]["name"] == "Ann Caller"
    assert AuditEvent.objects.filter(action="read_personal", user=handler).count() == 1
    assert client_for(make_user("admin")).get(f"{URL}{incident.id}/calls/").status_code == 403
    assert client_for(despatcher).get(f"{URL}999999/").status_code == 404


def test_log_grade_close_reopen_and_their_errors(world, make_user):
    handler = make_user("call_handler")
    incident = make_incident(handler, type_code="VIOL", grade="S")
    url = f"{URL}{incident.id}/"
    despatcher = client_for(make_user("despatcher"))
    assert (
        client_for(handler).post(f"{url}log/", {"text": "more info"}, format="json").status_code
        == 201
    )
    assert despatcher.post(f"{url}log/", {"text": ""}, format="json").status_code == 400
    assert despatcher.post(f"{url}log/", {"text": ["a"]}, format="json").status_code == 400
    # call handlers do not re-grade or close
    assert (
        client_for(handler)
        .post(f"{url}grade/", {"grade": "I", "reason": "x"}, format="json")
        .status_code
        == 403
    )
    assert despatcher.post(f"{url}grade/", {"grade": "I"}, format="json").status_code == 400
    assert (
        despatcher.post(f"{url}grade/", {"grade": "Q", "reason": "x"}, format="json").status_code
        == 400
    )
    regraded = despatcher.post(f"{url}grade/", {"grade": "I", "reason": "weapon"}, format="json")
    assert regraded.status_code == 200 and regraded.json()["grade"] == "I"
    assert regraded.json()["grade_changes"][0]["reason"] == "weapon"
    same = despatcher.post(f"{url}grade/", {"grade": "I", "reason": "again"}, format="json")
    assert same.status_code == 409 and same.json()["code"] == "same_grade"
    assert despatcher.post(f"{url}close/", {"closing_code": "ZZ"}, format="json").status_code == 400
    closed = despatcher.post(f"{url}close/", {"closing_code": "NFA"}, format="json")
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    again = despatcher.post(f"{url}close/", {"closing_code": "NFA"}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "already_closed"
    assert despatcher.post(f"{url}reopen/", {"reason": "x"}, format="json").status_code == 403
    supervisor = client_for(make_user("supervisor"))
    assert supervisor.post(f"{url}reopen/", {}, format="json").status_code == 400
    reopened = supervisor.post(f"{url}reopen/", {"reason": "rang back"}, format="json")
    assert reopened.status_code == 200 and reopened.json()["status"] == "open"


def test_bcu_scope_limits_changes(world, make_user):
    handler = make_user("call_handler")
    in_cn = make_incident(handler, type_code="VIOL", grade="S")
    in_as = make_incident(handler, type_code="VIOL", grade="S", lat=LAMBETH[0], lon=LAMBETH[1])
    local = client_for(make_user("despatcher", bcu="CN"))
    ok = local.post(f"{URL}{in_cn.id}/grade/", {"grade": "I", "reason": "x"}, format="json")
    assert ok.status_code == 200
    other = local.post(f"{URL}{in_as.id}/grade/", {"grade": "I", "reason": "x"}, format="json")
    assert other.status_code == 403
    assert local.post(f"{URL}{in_as.id}/log/", {"text": "x"}, format="json").status_code == 403
    assert local.get(f"{URL}{in_as.id}/").status_code == 200  # reading is not changing


def test_attach_call_qualifiers_links_thrive(world, make_user):
    handler = make_user("call_handler")
    first = make_incident(handler, type_code="VIOL")
    second = make_incident(handler, type_code="VIOL", lat=LAMBETH[0], lon=LAMBETH[1])
    client = client_for(handler)
    attach = {"caller": {"name": "Bob", "phone": "0207"}, "channel": "101", "address": "the pub"}
    response = client.post(
        f"{URL}{first.id}/calls/", attach, format="json", headers={"Idempotency-Key": "attach-1"}
    )
    assert response.status_code == 201 and response.json()["reference"] == first.reference
    client.post(
        f"{URL}{first.id}/calls/", attach, format="json", headers={"Idempotency-Key": "attach-1"}
    )
    assert first.calls.count() == 2  # the repeat attached nothing more
    assert (
        client.post(f"{URL}{first.id}/calls/", {"channel": 999}, format="json").status_code == 400
    )
    despatcher = client_for(make_user("despatcher"))
    q = despatcher.post(f"{URL}{first.id}/qualifiers/", {"qualifiers": ["DA"]}, format="json")
    assert q.status_code == 200 and q.json()["qualifiers"] == [
        {"code": "DA", "name": "Domestic abuse"}
    ]
    link = despatcher.post(f"{URL}{first.id}/links/", {"incident": second.reference}, format="json")
    assert link.status_code == 200 and link.json()["linked"][0]["id"] == second.id
    dup = despatcher.post(f"{URL}{first.id}/links/", {"incident": second.id}, format="json")
    assert dup.status_code == 409
    assert (
        despatcher.post(f"{URL}{first.id}/links/", {"incident": 10**9}, format="json").status_code
        == 400
    )
    thrive = client.post(f"{URL}{first.id}/thrive/", {"threat": "high"}, format="json")
    assert thrive.status_code == 200 and thrive.json()["thrive"] == {"threat": "high"}


def test_scoped_desk_cannot_link_into_another_bcu(world, make_user):
    """Linking writes into both incidents' logs and streams, so both must be in scope."""
    handler = make_user("call_handler")
    mine = make_incident(handler, type_code="VIOL")  # CN
    theirs = make_incident(handler, type_code="VIOL", lat=LAMBETH[0], lon=LAMBETH[1])  # AS
    local = client_for(make_user("despatcher", bcu="CN"))
    logs = theirs.log.count(), mine.log.count()
    audit, events = AuditEvent.objects.count(), Event.objects.count()
    for other in (theirs.id, theirs.reference):
        response = local.post(f"{URL}{mine.id}/links/", {"incident": other}, format="json")
        assert response.status_code == 403, response.content
    assert not mine.linked.exists() and not theirs.linked.exists()
    assert (theirs.log.count(), mine.log.count()) == logs
    assert (AuditEvent.objects.count(), Event.objects.count()) == (audit, events)
    # The other way round was already refused: the first incident is out of scope.
    back = local.post(f"{URL}{theirs.id}/links/", {"incident": mine.id}, format="json")
    assert back.status_code == 403
    # A central desk links across the border.
    central = client_for(make_user("despatcher"))
    ok = central.post(f"{URL}{mine.id}/links/", {"incident": theirs.id}, format="json")
    assert ok.status_code == 200 and ok.json()["linked"][0]["id"] == theirs.id


def test_check_endpoint_and_reference_data(world, make_user):
    handler = make_user("call_handler")
    incident = make_incident(handler, type_code="VIOL")
    client = client_for(handler)
    check = client.get(f"{URL}check/", {"lat": CAMDEN[0], "lon": CAMDEN[1]}).json()
    assert [d["id"] for d in check["possible_duplicates"]] == [incident.id]
    assert check["bcu"] == "CN"
    assert client.get(f"{URL}check/", {"lat": "abc", "lon": 1}).status_code == 400
    assert client.get(f"{URL}check/", {"lat": "nan", "lon": 1}).status_code == 400
    types = client.get("/api/v1/incident-types/").json()
    assert {"code": "VIOL", "name": "Violence", "default_grade": "I"}.items() <= types[0].items()
    assert "OLD" not in [t["code"] for t in types]
    assert client.get("/api/v1/closing-codes/").json() == [
        {"code": "NFA", "name": "No further action"}
    ]


def test_warning_marker_endpoints(world, make_user):
    handler = client_for(make_user("call_handler"))
    data = {"address": "3 Test St", "lat": CAMDEN[0], "lon": CAMDEN[1], "text": "dog"}
    created = handler.post("/api/v1/warning-markers/", data, format="json")
    assert created.status_code == 201
    assert (
        handler.post("/api/v1/warning-markers/", data | {"lat": 60.0}, format="json").status_code
        == 400
    )
    near = handler.get("/api/v1/warning-markers/", {"lat": CAMDEN[0], "lon": CAMDEN[1]}).json()
    assert [m["text"] for m in near] == ["dog"]
    marker_id = created.json()["id"]
    assert handler.post(f"/api/v1/warning-markers/{marker_id}/expire/").status_code == 403
    despatcher = client_for(make_user("despatcher"))
    assert despatcher.post(f"/api/v1/warning-markers/{marker_id}/expire/").status_code == 200
    assert (
        handler.get("/api/v1/warning-markers/", {"lat": CAMDEN[0], "lon": CAMDEN[1]}).json() == []
    )


def test_gazetteer_search_api(world, make_user):
    GazetteerEntry.objects.create(
        key="t:1",
        address="12 Camden High Street",
        postcode="NW1 0JH",
        lat=51.54,
        lon=-0.145,
        search="12 CAMDEN HIGH STREET NW1 0JH",
    )
    client = client_for(make_user("call_handler"))
    assert client.get("/api/v1/gazetteer/", {"q": "12 camden"}).json()[0]["postcode"] == "NW1 0JH"
    # every word typed must start a word of the entry, the last one possibly half-typed
    assert len(client.get("/api/v1/gazetteer/", {"q": "high st camden"}).json()) == 1
    assert client.get("/api/v1/gazetteer/", {"q": "high road camden"}).json() == []
    assert client.get("/api/v1/gazetteer/", {"q": "x\x00"}).status_code == 400


def test_schema_and_docs_are_served(world, make_user):
    client = client_for(make_user("call_handler"))
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    text = schema.content.decode()
    assert "/api/v1/incidents/{id}/close/" in text and "/api/v1/incident-types/" in text
    assert client.get("/api/docs/").status_code == 200


@pytest.mark.parametrize("fmt", ["json", "multipart", "form"])
def test_thrive_refuses_an_unknown_field_with_its_name(world, make_user, fmt):
    # Found by fuzzing (issue 23): any field THRIVE does not know was a 500, in JSON and in a
    # form body alike, and nothing was saved.
    handler = make_user("call_handler")
    incident = make_incident(handler, type_code="VIOL")
    client = client_for(handler)
    url = f"{URL}{incident.id}/thrive/"
    data = {"threat": "high", "colour": "red"}
    if fmt == "form":
        response = client.post(url, "threat=high&colour=red",
                               content_type="application/x-www-form-urlencoded")  # fmt: skip
    else:
        response = client.post(url, data, format=fmt)
    assert response.status_code == 400, response.content
    assert response.json() == {"colour": ["Unknown field."]}
    incident.refresh_from_db()
    assert incident.thrive == {}


def test_schema_links_an_incidents_workflow(world, make_user):
    # The links (cad/api/schema.py) drive the fuzz gate's stateful phase: each names an
    # operation the schema has, and the incident's workflow is among them.
    schema = client_for(make_user("call_handler")).get("/api/schema/?format=json").json()
    operations = {
        operation["operationId"]: operation
        for item in schema["paths"].values()
        for operation in item.values()
    }
    targets = {
        (source, link["operationId"])
        for source, operation in operations.items()
        for response in operation["responses"].values()
        for link in response.get("links", {}).values()
    }
    assert {target for _, target in targets} <= set(operations)
    assert {
        ("v1_incidents_create", "v1_incidents_assign_create"),
        ("v1_incidents_assign_create", "v1_incidents_close_create"),
        ("v1_incidents_close_create", "v1_incidents_reopen_create"),
    } <= targets
    create = operations["v1_incidents_create"]["responses"]["201"]["links"]
    assert create["assign_create"]["parameters"] == {"id": "$response.body#/id"}
