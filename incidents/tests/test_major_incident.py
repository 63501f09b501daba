"""Major incidents: a supervisor declares one with a METHANE report (checked field by field and
stored), the banner reaches every desk, partners hear through the CAD-to-CAD seam or the log
says they did not, a mobilisation list, and stand-down (issue 17)."""

import copy
from typing import Any

import pytest
from rest_framework.test import APIClient

from cad.live.snapshot import board_snapshot
from cad.models import AuditEvent
from incidents.models import IncidentLogEntry
from incidents.operations import partners
from incidents.operations.models import MajorIncident
from tests.factories import make_incident

METHANE = {
    "major_incident": True,
    "exact_location": "Euston Road at Gower Street, NW1 2BU",
    "type": "Bus collision with pedestrians",
    "hazards": "Leaking fuel; crowd building",
    "access": "From the west via Marylebone Road; RVP Warren Street",
    "casualties": {"fatal": 2, "serious": 5, "minor": 20, "estimated": True},
    "emergency_services": {"present": ["MPS", "LAS"], "required": ["LFB", "HART"]},
}


def _api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _url(incident) -> str:
    return f"/api/v1/incidents/{incident.pk}/major-incident/"


@pytest.fixture
def incident(geography, cast):
    return make_incident(cast.handler, where="camden", grade="I")


def test_supervisor_declares_and_methane_is_stored(incident, cast, captured_events):
    response = _api(cast.supervisor_cn).post(_url(incident), {"methane": METHANE}, format="json")
    assert response.status_code == 201, response.content
    major = MajorIncident.objects.get(incident=incident)
    assert major.methane == METHANE
    assert major.declared_by == cast.supervisor_cn
    assert AuditEvent.objects.filter(object_type="incidents.majorincident", action="create",
                                     user=cast.supervisor_cn).exists()  # fmt: skip
    log = IncidentLogEntry.objects.get(incident=incident, text__startswith="MAJOR INCIDENT")
    assert "N: fatal 2, serious 5, minor 20 (estimated)" in log.text
    declared = captured_events.of("major.declared")
    assert len(declared) == 1
    # The banner goes to every BCU's desks, not only the incident's.
    assert set(declared[0].bcu.split(",")) == {"CN", "AS"}
    assert _api(cast.handler).get(_url(incident)).json()["methane"] == METHANE


def test_without_an_adapter_the_log_says_methane_was_not_sent(incident, cast, monkeypatch):
    monkeypatch.setattr(partners, "_senders", [])
    _api(cast.supervisor_cn).post(_url(incident), {"methane": METHANE}, format="json")
    major = MajorIncident.objects.get(incident=incident)
    assert major.partner_delivery == partners.NOT_CONNECTED
    lines = IncidentLogEntry.objects.filter(incident=incident)
    assert lines.filter(text__contains="no CAD-to-CAD adapter").exists()


def test_a_registered_adapter_gets_it_after_commit(incident, cast, monkeypatch,
                                                   django_capture_on_commit_callbacks):  # fmt: skip
    sent: list[int] = []
    monkeypatch.setattr(partners, "_senders", [])
    partners.partner_sender_register(lambda pk: sent.append(pk) or "sent")
    with django_capture_on_commit_callbacks(execute=True):
        _api(cast.supervisor_cn).post(_url(incident), {"methane": METHANE}, format="json")
    major = MajorIncident.objects.get(incident=incident)
    assert sent == [major.pk]
    assert major.partner_delivery == "to the CAD-to-CAD adapter"


def _without(path: str):
    report = copy.deepcopy(METHANE)
    *parents, last = path.split(".")
    node: Any = report
    for p in parents:
        node = node[p]
    del node[last]
    return report


def _with(path: str, value):
    report = copy.deepcopy(METHANE)
    *parents, last = path.split(".")
    node: Any = report
    for p in parents:
        node = node[p]
    node[last] = value
    return report


@pytest.mark.parametrize(
    ("report", "field"),
    [
        (_without("exact_location"), "methane.exact_location"),
        (_without("hazards"), "methane.hazards"),
        (_with("major_incident", False), "methane.major_incident"),
        (_with("type", "   "), "methane.type"),
        (_with("access", 7), "methane.access"),
        (_with("casualties.serious", -1), "methane.casualties.serious"),
        (_with("casualties.fatal", "two"), "methane.casualties.fatal"),
        (_without("casualties.minor"), "methane.casualties.minor"),
        (_with("emergency_services.required", "LFB"), "methane.emergency_services.required"),
        (_with("weather", "rain"), "methane.weather"),
        ("not an object", "methane"),
    ],
)
def test_bad_methane_is_400_naming_the_field_and_nothing_is_declared(incident, cast, report,
                                                                     field):  # fmt: skip
    response = _api(cast.supervisor_cn).post(_url(incident), {"methane": report}, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json(), response.json()
    assert not MajorIncident.objects.exists()
    assert not IncidentLogEntry.objects.filter(text__startswith="MAJOR").exists()


def test_only_a_supervisor_in_scope_declares(incident, cast):
    for user in (cast.despatcher_cn, cast.handler, cast.supervisor_as):
        reply = _api(user).post(_url(incident), {"methane": METHANE}, format="json")
        assert reply.status_code == 403, user
    assert not MajorIncident.objects.exists()


def test_declaring_twice_is_409(incident, cast):
    assert _api(cast.supervisor_cn).post(_url(incident), {"methane": METHANE},
                                         format="json").status_code == 201  # fmt: skip
    again = _api(cast.supervisor_all).post(_url(incident), {"methane": METHANE}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "already_declared"


def test_banner_is_in_every_desks_snapshot_until_stand_down(incident, cast, captured_events):
    _api(cast.supervisor_cn).post(_url(incident), {"methane": METHANE}, format="json")
    for bcu in (None, "CN", "AS"):
        banner = board_snapshot(bcu=bcu)["data"]["major_incidents"]
        assert [m["reference"] for m in banner] == [incident.reference]
    mobilise = _api(cast.despatcher_cn).post(
        _url(incident) + "mobilisation/", {"kind": "serial", "name": "U231", "task": "cordon"},
        format="json",
    )  # fmt: skip
    assert mobilise.status_code == 201, mobilise.content
    assert mobilise.json()["mobilisation"][0]["name"] == "U231"
    assert _api(cast.supervisor_cn).post(_url(incident) + "stand-down/", {"reason": ""},
                                         format="json").status_code == 400  # fmt: skip
    down = _api(cast.supervisor_cn).post(_url(incident) + "stand-down/",
                                         {"reason": "Scene cleared"}, format="json")  # fmt: skip
    assert down.status_code == 200, down.content
    assert board_snapshot(bcu="AS")["data"]["major_incidents"] == []
    assert captured_events.of("major.stood_down")[0].data["stood_down_at"]
    again = _api(cast.supervisor_cn).post(_url(incident) + "stand-down/",
                                          {"reason": "again"}, format="json")  # fmt: skip
    assert again.status_code == 409
