"""Applying inbound messages: status mapping, ordering, emergencies, refusals, idempotency."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from incidents.models import IncidentLogEntry
from radio import services, tasks
from radio.models import RadioMessage, StatusCodeMapping
from radio.tests.conftest import msg
from resources.despatch import assignment_create
from resources.models import Unit, UnitStatus, UnitStatusChange
from tests.factories import make_incident

S = UnitStatus
State = RadioMessage.State


def receive(world, *messages) -> list[RadioMessage]:
    """Store messages as the gateway would; their tasks are not run (tests apply explicitly)."""
    services.radio_messages_receive(messages=list(messages), by=world["gateway"])
    return [RadioMessage.objects.get(gateway_id=m["id"]) for m in messages]


def apply(message: RadioMessage) -> RadioMessage:
    services.radio_message_apply(message_id=message.pk)
    message.refresh_from_db()
    return message


@pytest.fixture
def on_job(world):
    """CN01 assigned to an incident in Camden."""
    incident = make_incident(world["desk"], grade="I", summary="fight outside pub")
    assignment_create(
        incident=incident, unit=world["unit"], by=world["desk"], source="test",
        at=timezone.now() - timedelta(hours=1),
    )  # fmt: skip
    world["unit"].refresh_from_db()
    return {**world, "incident": incident}


def test_status_code_moves_the_unit_on_its_job(on_job, queued):
    (message,) = receive(on_job, msg(on_job["unit"].issi, code=5, ago=30))
    message = apply(message)
    unit = Unit.objects.get(pk=on_job["unit"].pk)
    assert message.state == State.APPLIED and message.unit == unit
    assert message.assignment is not None and message.assignment.incident == on_job["incident"]
    assert unit.status == S.EN_ROUTE
    assert unit.status_at == message.sent_at
    change = UnitStatusChange.objects.get(unit=unit, to_status=S.EN_ROUTE)
    assert change.source == "radio" and change.by == on_job["gateway"]


def test_an_older_status_never_moves_the_unit_back(on_job, queued):
    issi = on_job["unit"].issi
    en_route, at_scene = receive(on_job, msg(issi, code=5, ago=120), msg(issi, code=6, ago=60))
    assert apply(at_scene).state == State.APPLIED
    late = apply(en_route)  # sent earlier, arrived (or was applied) later
    assert late.state == State.IGNORED and "stale" in late.note
    unit = Unit.objects.get(pk=on_job["unit"].pk)
    assert unit.status == S.AT_SCENE and unit.status_at == at_scene.sent_at


def test_code_0_raises_the_emergency_for_every_desk(world, queued, captured_events):
    (message,) = receive(world, msg(world["unit"].issi, code=0, ago=5))
    message = apply(message)
    unit = Unit.objects.get(pk=world["unit"].pk)
    assert message.state == State.APPLIED and "emergency raised" in message.note
    assert unit.emergency and unit.emergency_at == message.sent_at
    assert unit.status == S.AVAILABLE  # code 0 changes no status
    (event,) = captured_events.of("unit.emergency")
    assert set(event.bcu.split(",")) == {"CN", "AS"}  # every BCU's desks


def test_an_old_code_0_does_not_ring_again_after_acknowledgement(world, queued):
    from resources.services import unit_acknowledge_emergency

    issi = world["unit"].issi
    earlier, later = receive(world, msg(issi, code=0, ago=120), msg(issi, code=0, ago=60))
    apply(later)
    unit_acknowledge_emergency(unit=world["unit"], by=world["desk"])
    replayed = apply(earlier)
    assert "already raised" in replayed.note
    assert not Unit.objects.get(pk=world["unit"].pk).emergency


def test_code_7_is_unavailable_but_deployable(world, queued):
    (message,) = receive(world, msg(world["unit"].issi, code=7))
    assert apply(message).state == State.APPLIED
    unit = Unit.objects.get(pk=world["unit"].pk)
    assert unit.status == S.UNAVAILABLE and unit.deployable


def test_code_8_is_unavailable_and_not_deployable(world, queued):
    (message,) = receive(world, msg(world["unit"].issi, code=8))
    apply(message)
    unit = Unit.objects.get(pk=world["unit"].pk)
    assert unit.status == S.UNAVAILABLE and not unit.deployable


def test_mapping_is_data_an_admin_can_change(world, queued):
    StatusCodeMapping.objects.filter(code=2).update(status=S.UNAVAILABLE)
    (message,) = receive(world, msg(world["unit"].issi, code=2))
    apply(message)
    assert Unit.objects.get(pk=world["unit"].pk).status == S.UNAVAILABLE


def test_code_without_a_mapping_is_ignored_with_a_note(world, queued):
    (message,) = receive(world, msg(world["unit"].issi, code=42))
    message = apply(message)
    assert message.state == State.IGNORED and "no status mapping for code 42" in message.note


def test_unknown_issi_is_ignored_with_a_note(world, queued):
    (message,) = receive(world, msg("12345678", code=2))
    message = apply(message)
    assert message.state == State.IGNORED and "no unit has ISSI 12345678" in message.note
    assert message.unit is None


def test_forbidden_transition_is_stored_as_ignored_not_raised(world, queued):
    # At scene with no incident to be at: the CAD refuses; the message records why.
    (message,) = receive(world, msg(world["unit"].issi, code=6))
    message = apply(message)
    assert message.state == State.IGNORED and message.note.startswith("refused:")
    assert Unit.objects.get(pk=world["unit"].pk).status == S.AVAILABLE


def test_messaging_code_changes_no_status_and_is_logged_on_the_job(on_job, queued):
    (message,) = receive(on_job, msg(on_job["unit"].issi, code=12))
    message = apply(message)
    assert message.state == State.APPLIED and "Request to speak" in message.note
    assert Unit.objects.get(pk=on_job["unit"].pk).status == S.ASSIGNED
    assert IncidentLogEntry.objects.filter(
        incident=on_job["incident"], text__contains="CN01: Request to speak"
    ).exists()


def test_positions_move_the_unit_but_an_older_fix_is_ignored(world, queued):
    issi = world["unit"].issi
    older, newer = receive(
        world,
        msg(issi, "position", lat=51.50, lon=-0.10, ago=120),
        msg(issi, "position", lat=51.55, lon=-0.15, ago=60),
    )
    assert apply(newer).state == State.APPLIED
    stale = apply(older)
    assert stale.state == State.IGNORED and "older" in stale.note
    unit = Unit.objects.get(pk=world["unit"].pk)
    assert (unit.lat, unit.lon, unit.position_at) == (51.55, -0.15, newer.sent_at)


def test_a_status_with_a_fix_applies_both(on_job, queued):
    (message,) = receive(on_job, msg(on_job["unit"].issi, code=6, lat=51.545, lon=-0.16))
    message = apply(message)
    unit = Unit.objects.get(pk=on_job["unit"].pk)
    assert unit.status == S.AT_SCENE and (unit.lat, unit.lon) == (51.545, -0.16)
    assert "position applied" in message.note


def test_text_is_logged_on_the_units_incident(on_job, queued):
    (message,) = receive(on_job, msg(on_job["unit"].issi, "text", text="Suspect detained"))
    message = apply(message)
    assert message.state == State.APPLIED and on_job["incident"].reference in message.note
    entry = IncidentLogEntry.objects.get(incident=on_job["incident"], text__contains="Suspect")
    assert entry.text == "Radio text from CN01: Suspect detained" and entry.by == on_job["gateway"]


def test_text_without_a_job_is_stored_only(world, queued):
    (message,) = receive(world, msg(world["unit"].issi, "text", text="Going for fuel"))
    message = apply(message)
    assert message.state == State.APPLIED and "no active incident" in message.note
    assert message.text == "Going for fuel"


def test_a_radio_clock_running_ahead_cannot_freeze_the_unit(world, queued):
    (message,) = receive(world, msg(world["unit"].issi, code=8, ago=-3600))  # an hour ahead
    apply(message)
    unit = Unit.objects.get(pk=world["unit"].pk)
    assert unit.status_at == message.received_at
    # So the next correctly timed message still applies.
    (after,) = receive(world, msg(world["unit"].issi, code=2, ago=-1))
    assert apply(after).state == State.APPLIED
    assert Unit.objects.get(pk=world["unit"].pk).status == S.AVAILABLE


def test_applying_twice_is_harmless(world, queued):
    (message,) = receive(world, msg(world["unit"].issi, code=8))
    assert services.radio_message_apply(message_id=message.pk) == State.APPLIED
    assert services.radio_message_apply(message_id=message.pk) is None
    tasks.apply_radio_message(message.pk)  # the task too, e.g. redelivered after a crash
    assert UnitStatusChange.objects.filter(unit=world["unit"], to_status=S.UNAVAILABLE).count() == 1
    message.refresh_from_db()
    assert message.state == State.APPLIED


def test_a_status_from_before_the_assignment_does_not_undo_it(on_job, queued):
    (message,) = receive(on_job, msg(on_job["unit"].issi, code=2, ago=7200))
    assert apply(message).state == State.IGNORED
    assert Unit.objects.get(pk=on_job["unit"].pk).status == S.ASSIGNED


def test_the_task_applies_the_message(world, queued):
    (message,) = receive(world, msg(world["unit"].issi, code=8))
    tasks.apply_radio_message(message.pk)
    assert Unit.objects.get(pk=world["unit"].pk).status == S.UNAVAILABLE


def test_the_sweeper_applies_a_message_whose_task_was_lost(world, queued, settings):
    settings.RADIO_SWEEP_AFTER_SECONDS = 30
    lost, fresh = receive(world, msg(world["unit"].issi, code=8), msg("55555", code=2))
    # The broker lost the first one's task a minute ago; the second has only just arrived.
    RadioMessage.objects.filter(pk=lost.pk).update(
        received_at=timezone.now() - timedelta(seconds=61)
    )
    tasks.apply_pending_radio_messages()
    lost.refresh_from_db()
    fresh.refresh_from_db()
    assert lost.state == State.APPLIED and fresh.state == State.RECEIVED
    assert Unit.objects.get(pk=world["unit"].pk).status == S.UNAVAILABLE


def test_a_failure_leaves_the_message_waiting_for_the_sweeper(world, queued, monkeypatch):
    (message,) = receive(world, msg(world["unit"].issi, code=8))

    def broken(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(services, "unit_set_status", broken)
    with pytest.raises(RuntimeError):
        services.radio_message_apply(message_id=message.pk)
    message.refresh_from_db()
    assert message.state == State.RECEIVED  # the claim rolled back with the failure


@pytest.mark.django_db(transaction=True)
def test_concurrent_applies_of_one_message_apply_it_once(postgres, world, queued):
    (message,) = receive(world, msg(world["unit"].issi, code=8))
    results, errors = [], []
    barrier = threading.Barrier(4)

    def run():
        try:
            barrier.wait()
            results.append(services.radio_message_apply(message_id=message.pk))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(results, key=str) == [None, None, None, State.APPLIED]
    assert UnitStatusChange.objects.filter(unit=world["unit"], to_status=S.UNAVAILABLE).count() == 1
