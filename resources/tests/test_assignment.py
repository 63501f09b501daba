"""Safe assignment: one active job per unit, transitions, stale updates, incident status."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from cad.errors import Conflict
from cad.models import AuditEvent, Event, EventCounter
from incidents.models import IncidentLogEntry, IncidentStatus
from resources import despatch, services
from resources.models import Assignment, UnitStatus
from tests.factories import make_incident, make_unit

S = UnitStatus


@pytest.fixture
def world(geography, cast):
    desk = cast.despatcher_all
    return {
        "desk": desk,
        "incident": make_incident(desk, grade="I"),
        "unit": make_unit(geography["kentish"], callsign="CN01"),
        "other": make_unit(geography["kentish"], callsign="CN02"),
        "geo": geography,
    }


def _api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_assign_moves_unit_and_incident_and_logs(world, captured_events):
    response = _api(world["desk"]).post(
        f"/api/v1/incidents/{world['incident'].pk}/assign/", {"unit": "CN01"}, format="json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "assigned"
    assert [a["unit"] for a in body["assignments"]] == ["CN01"]
    world["unit"].refresh_from_db()
    assert world["unit"].status == S.ASSIGNED
    assert IncidentLogEntry.objects.filter(
        incident=world["incident"], text="CN01 assigned"
    ).exists()
    assert AuditEvent.objects.filter(object_type="resources.assignment").exists()
    types = captured_events.types()[-2:]
    assert set(types) == {"unit.updated", "incident.updated"}


def test_second_incident_gets_409_with_reason(world):
    despatch.assignment_create(incident=world["incident"], unit=world["unit"], by=world["desk"])
    second = make_incident(world["desk"], grade="I")
    response = _api(world["desk"]).post(
        f"/api/v1/incidents/{second.pk}/assign/", {"unit": "CN01"}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["code"] == "unit_unavailable"
    assert world["incident"].reference in response.json()["detail"]


def test_repeated_assign_to_same_incident_is_a_no_op(world, captured_events):
    client = _api(world["desk"])
    url = f"/api/v1/incidents/{world['incident'].pk}/assign/"
    assert client.post(url, {"unit": "CN01"}, format="json").status_code == 200
    events = len(captured_events)
    assert client.post(url, {"unit": "CN01"}, format="json").status_code == 200
    assert len(captured_events) == events
    assert Assignment.objects.filter(unit=world["unit"]).count() == 1


def test_assign_bad_input_is_400(world):
    client = _api(world["desk"])
    url = f"/api/v1/incidents/{world['incident'].pk}/assign/"
    assert client.post(url, {}, format="json").json() == {"unit": ["This field is required."]}
    response = client.post(url, {"unit": "NOPE"}, format="json")
    assert response.status_code == 400 and "unit" in response.json()
    assert client.post("/api/v1/incidents/999999/assign/", {"unit": "CN01"}).status_code == 404


def test_call_handler_cannot_assign(world, make_user):
    response = _api(make_user("call_handler")).post(
        f"/api/v1/incidents/{world['incident'].pk}/assign/", {"unit": "CN01"}, format="json"
    )
    assert response.status_code == 403
    assert not Assignment.objects.exists()


def test_other_bcu_desk_cannot_send_a_unit_to_a_foreign_incident(world, make_user):
    lambeth_desk = make_user("despatcher", bcu="AS")
    response = _api(lambeth_desk).post(
        f"/api/v1/incidents/{world['incident'].pk}/assign/", {"unit": "CN01"}, format="json"
    )
    assert response.status_code == 403


def test_local_desk_may_send_own_unit_across_the_border(world, make_user, captured_events):
    brixton_unit = make_unit(world["geo"]["brixton"], callsign="AS01")
    lambeth_desk = make_user("despatcher", bcu="AS")
    response = _api(lambeth_desk).post(
        f"/api/v1/incidents/{world['incident'].pk}/assign/", {"unit": "AS01"}, format="json"
    )
    assert response.status_code == 200
    # Both BCUs' desks hear of it: the unit's own and the incident's.
    event = captured_events.last("unit.updated")
    assert set(event.bcu.split(",")) == {"AS", "CN"}
    brixton_unit.refresh_from_db()
    assert brixton_unit.status == S.ASSIGNED


def test_closed_incident_refuses_assignment(world):
    from incidents.models import Incident

    Incident.objects.filter(pk=world["incident"].pk).update(status=IncidentStatus.CLOSED)
    with pytest.raises(Conflict) as err:
        despatch.assignment_create(incident=world["incident"], unit=world["unit"], by=world["desk"])
    assert err.value.code == "incident_closed"


def test_first_unit_at_scene_moves_incident_to_at_scene(world):
    incident, by = world["incident"], world["desk"]
    despatch.assignment_create(incident=incident, unit=world["unit"], by=by)
    despatch.assignment_create(incident=incident, unit=world["other"], by=by)
    services.unit_set_status(unit=world["unit"], status=S.EN_ROUTE, source="test")
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.ASSIGNED
    services.unit_set_status(unit=world["unit"], status=S.AT_SCENE, source="test")
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.AT_SCENE
    job = Assignment.objects.get(unit=world["unit"])
    assert job.en_route_at and job.at_scene_at


def test_unassign_frees_unit_and_reopens_unresourced_incident(world):
    incident = world["incident"]
    despatch.assignment_create(incident=incident, unit=world["unit"], by=world["desk"])
    response = _api(world["desk"]).post(
        f"/api/v1/incidents/{incident.pk}/unassign/", {"unit": "CN01"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["status"] == "open"
    world["unit"].refresh_from_db()
    assert world["unit"].status == S.AVAILABLE
    again = _api(world["desk"]).post(
        f"/api/v1/incidents/{incident.pk}/unassign/", {"unit": "CN01"}, format="json"
    )
    assert again.status_code == 409 and again.json()["code"] == "not_assigned"


def test_available_from_the_unit_clears_the_job(world):
    despatch.assignment_create(incident=world["incident"], unit=world["unit"], by=world["desk"])
    services.unit_set_status(unit=world["unit"], status=S.AVAILABLE, source="radio")
    assert not Assignment.objects.filter(unit=world["unit"], cleared_at__isnull=True).exists()
    world["incident"].refresh_from_db()
    assert world["incident"].status == IncidentStatus.OPEN


@pytest.mark.parametrize(
    ("start", "to", "code"),
    [
        (S.AVAILABLE, S.EN_ROUTE, "invalid_transition"),
        (S.UNAVAILABLE, S.EN_ROUTE, "no_assignment"),
        (S.UNAVAILABLE, S.AT_SCENE, "no_assignment"),
        (S.OFF_DUTY, S.EN_ROUTE, "invalid_transition"),
        (S.AVAILABLE, S.ASSIGNED, "invalid_transition"),
    ],
)
def test_forbidden_transitions(geography, start, to, code):
    unit = make_unit(geography["kentish"], status=start)
    with pytest.raises(Conflict) as err:
        services.unit_set_status(unit=unit, status=to, source="test")
    assert err.value.code == code
    unit.refresh_from_db()
    assert unit.status == start


def test_off_duty_refused_while_on_a_job(world):
    despatch.assignment_create(incident=world["incident"], unit=world["unit"], by=world["desk"])
    services.unit_set_status(unit=world["unit"], status=S.UNAVAILABLE, source="test")
    with pytest.raises(Conflict) as err:
        services.unit_set_status(unit=world["unit"], status=S.OFF_DUTY, source="test")
    assert err.value.code == "on_assignment"


def test_stale_update_changes_nothing(world, captured_events):
    unit = world["unit"]
    now = timezone.now()
    services.unit_set_status(unit=unit, status=S.UNAVAILABLE, at=now, source="radio")
    events = len(captured_events)
    services.unit_set_status(
        unit=unit, status=S.OFF_DUTY, at=now - timedelta(seconds=30), source="radio"
    )
    unit.refresh_from_db()
    assert unit.status == S.UNAVAILABLE
    assert len(captured_events) == events


# --- the race ---------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_twenty_despatchers_race_for_one_unit(postgres, geography, make_user):
    """20 threads send one unit to 20 incidents at once: one 200, nineteen 409s."""
    desk = make_user("despatcher")
    unit = make_unit(geography["kentish"], callsign="CN99")
    incidents = [make_incident(desk, grade="I") for _ in range(20)]
    barrier = threading.Barrier(len(incidents))
    results: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def send(incident):
        try:
            client = _api(desk)
            barrier.wait()
            response = client.post(
                f"/api/v1/incidents/{incident.pk}/assign/", {"unit": "CN99"}, format="json"
            )
            with lock:
                results.append((response.status_code, response.json()))
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(i,)) for i in incidents]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    codes = sorted(code for code, _ in results)
    assert codes == [200] + [409] * 19
    assert all(body["code"] == "unit_unavailable" for code, body in results if code == 409)
    assert Assignment.objects.filter(unit=unit, cleared_at__isnull=True).count() == 1
    unit.refresh_from_db()
    assert unit.status == S.ASSIGNED
    # The Event log is gapless however the race went.
    seqs = list(Event.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))


@pytest.mark.django_db(transaction=True)
def test_close_and_gps_at_once_do_not_deadlock(postgres, geography, make_user):
    """Closing an incident with units on it while their GPS streams in: no deadlock, no 503."""
    from incidents.models import ClosingCode
    from incidents.services import incident_close

    desk = make_user("despatcher")
    code = ClosingCode.objects.create(code="NFA", name="No further action")
    incident = make_incident(desk, grade="I")
    units = [make_unit(geography["kentish"], callsign=f"CN5{i}") for i in range(4)]
    for u in units:
        despatch.assignment_create(incident=incident, unit=u, by=desk)
    errors: list[Exception] = []
    start = threading.Barrier(len(units) + 1)

    def gps(u):
        try:
            start.wait()
            for i in range(10):
                services.unit_set_position(unit=u, lat=51.54 + i / 1000, lon=-0.16, source="t")
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    def close():
        try:
            start.wait()
            incident_close(incident=incident, by=desk, closing_code=code.code)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=gps, args=(u,)) for u in units]
    threads.append(threading.Thread(target=close))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert not Assignment.objects.filter(incident=incident, cleared_at__isnull=True).exists()


@pytest.mark.django_db(transaction=True)
def test_a_write_committing_beside_an_assignment_does_not_deadlock(postgres, geography, make_user):
    """The soak's deadlock: a transaction that added a row pointing at an incident and took the
    event counter commits while an assignment holds the incident and waits for the counter.

    PostgreSQL checks the new row's (deferred) foreign key at COMMIT with FOR KEY SHARE on the
    incident. A plain FOR UPDATE lock on the incident conflicts with that, so each waited on the
    other; the incident is now locked FOR NO KEY UPDATE, which a key check may pass.

    Events now take the counter only as they commit, so the first transaction holds it as a
    board checkpoint does (cad/live/replay.py); the assignment waits for it at its own commit.
    """
    from incidents.services import incident_log_record

    desk = make_user("despatcher")
    incident = make_incident(desk, grade="I")
    unit = make_unit(geography["kentish"], callsign="CN77")
    holding = threading.Event()
    errors: list[Exception] = []

    def note_then_commit():
        try:
            with transaction.atomic():
                incident_log_record(
                    incident=incident,
                    text="caller rang back",
                    kind=IncidentLogEntry.Kind.NOTE,
                    by=desk,
                )
                EventCounter.objects.select_for_update(no_key=True).get(id=1)  # the counter
                holding.set()
                _wait_until_blocked_on_the_counter()
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    def assign():
        try:
            holding.wait(10)
            despatch.assignment_create(incident=incident, unit=unit, by=desk)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=note_then_commit), threading.Thread(target=assign)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert Assignment.objects.filter(incident=incident, unit=unit, cleared_at__isnull=True).exists()
    assert IncidentLogEntry.objects.filter(incident=incident, text="caller rang back").exists()


def _wait_until_blocked_on_the_counter() -> None:
    """Return once another session waits on a row lock (the assignment, on the counter)."""
    with connection.cursor() as cursor:
        for _ in range(200):
            # Statistics are read once per transaction unless the snapshot is cleared.
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND datname = current_database() AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.05)
    raise AssertionError("the assignment never waited on the event counter")
