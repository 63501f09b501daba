"""Applying a stored batch's GPS fixes in one task (radio/positions.py)."""

from datetime import timedelta

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from cad.live import events
from cad.models import Event
from radio import services, tasks
from radio.models import RadioMessage
from radio.positions import APPLIED, STALE, SUPERSEDED, radio_positions_apply
from radio.tests.conftest import msg
from resources.despatch import assignment_create
from resources.models import Unit
from tests.factories import make_incident, make_unit

State = RadioMessage.State


def store(world, *messages) -> list[RadioMessage]:
    services.radio_messages_receive(messages=list(messages), by=world["gateway"])
    return [RadioMessage.objects.get(gateway_id=m["id"]) for m in messages]


def apply_batch(messages: list[RadioMessage]) -> dict[str, int]:
    return radio_positions_apply(message_ids=[m.pk for m in messages])


def fix(issi: str, lat: float, *, ago: float) -> dict:
    return msg(issi, "position", lat=lat, lon=-0.1, ago=ago)


def position_events(callsign: str) -> list[Event]:
    return [e for e in Event.objects.filter(type="unit.updated") if e.data["callsign"] == callsign]


@pytest.fixture
def second_unit(world):
    unit = make_unit(world["geo"]["kentish"], callsign="CN02")
    Unit.objects.filter(pk=unit.pk).update(position_at=timezone.now() - timedelta(hours=2))
    return unit


def test_the_newest_fix_in_a_batch_wins_and_the_others_are_superseded(world, queued):
    issi = world["unit"].issi
    middle, newest, oldest = store(
        world, fix(issi, 51.52, ago=60), fix(issi, 51.53, ago=30), fix(issi, 51.51, ago=90)
    )
    assert apply_batch([middle, newest, oldest]) == {State.APPLIED: 1, State.IGNORED: 2}
    unit = Unit.objects.get(pk=world["unit"].pk)
    newest.refresh_from_db()
    assert (unit.lat, unit.position_at) == (51.53, newest.sent_at)
    assert (newest.state, newest.note, newest.unit_id) == (State.APPLIED, APPLIED, unit.pk)
    for message in (middle, oldest):
        message.refresh_from_db()
        assert (message.state, message.note, message.unit_id) == (
            State.IGNORED, SUPERSEDED, unit.pk,
        )  # fmt: skip


def test_newest_wins_across_batches_in_either_order(world, second_unit, queued):
    first, second = world["unit"], second_unit
    # CN01: newer batch first, then an older one: the older changes nothing.
    (new1,) = store(world, fix(first.issi, 51.53, ago=10))
    (old1,) = store(world, fix(first.issi, 51.51, ago=50))
    # CN02: older batch first, then a newer one: the newer moves it.
    (old2,) = store(world, fix(second.issi, 51.41, ago=50))
    (new2,) = store(world, fix(second.issi, 51.43, ago=10))
    apply_batch([new1, old2])
    apply_batch([old1, new2])
    assert Unit.objects.get(pk=first.pk).lat == 51.53
    assert Unit.objects.get(pk=second.pk).lat == 51.43
    old1.refresh_from_db()
    assert (old1.state, old1.note) == (State.IGNORED, STALE)
    assert RadioMessage.objects.get(pk=new2.pk).state == State.APPLIED


def test_the_batch_and_the_one_at_a_time_path_agree_on_newest(world, queued):
    issi = world["unit"].issi
    older, newer = store(world, fix(issi, 51.51, ago=50), fix(issi, 51.53, ago=10))
    apply_batch([newer])
    services.radio_message_apply(message_id=older.pk)  # the sweeper's path, late
    older.refresh_from_db()
    assert older.state == State.IGNORED
    assert Unit.objects.get(pk=world["unit"].pk).lat == 51.53
    # And the other way round: the one-at-a-time path moved it; an older batch does not.
    (later,) = store(world, fix(issi, 51.55, ago=5))
    services.radio_message_apply(message_id=later.pk)
    (stale,) = store(world, fix(issi, 51.50, ago=8))
    apply_batch([stale])
    assert Unit.objects.get(pk=world["unit"].pk).lat == 51.55


def test_every_message_ends_applied_or_ignored(world, second_unit, queued):
    Unit.objects.filter(pk=second_unit.pk).update(active=False)
    issi = world["unit"].issi
    batch = store(
        world,
        fix(issi, 51.52, ago=20),
        fix(issi, 51.51, ago=40),
        fix(second_unit.issi, 51.40, ago=20),
        fix(second_unit.issi, 51.41, ago=30),
        fix("7777777", 51.50, ago=20),
        fix("7777777", 51.50, ago=25),
    )
    assert apply_batch(batch) == {State.APPLIED: 1, State.IGNORED: 5}
    notes = dict(
        RadioMessage.objects.filter(pk__in=[m.pk for m in batch]).values_list("id", "note")
    )
    states = set(RadioMessage.objects.filter(pk__in=notes).values_list("state", flat=True))
    assert states == {State.APPLIED, State.IGNORED}
    assert notes[batch[1].pk] == SUPERSEDED
    # An inactive or unknown unit's older fixes give the real reason, not "superseded".
    assert "not an active unit" in notes[batch[2].pk] and "not an active unit" in notes[batch[3].pk]
    assert "no unit has ISSI 7777777" == notes[batch[4].pk] == notes[batch[5].pk]
    assert Unit.objects.get(pk=second_unit.pk).lat != 51.40


def test_running_a_batch_again_changes_nothing(world, queued):
    issi = world["unit"].issi
    batch = store(world, fix(issi, 51.52, ago=20), fix(issi, 51.51, ago=40))
    apply_batch(batch)
    before = list(RadioMessage.objects.filter(pk__in=[m.pk for m in batch]).values())
    unit_before = Unit.objects.filter(pk=world["unit"].pk).values().get()
    events_before = Event.objects.count()
    assert apply_batch(batch) == {}
    tasks.apply_radio_positions([m.pk for m in batch])  # the task, redelivered
    assert list(RadioMessage.objects.filter(pk__in=[m.pk for m in batch]).values()) == before
    assert Unit.objects.filter(pk=world["unit"].pk).values().get() == unit_before
    assert Event.objects.count() == events_before


def test_one_coalescible_board_event_per_unit_moved(
    world, second_unit, queued, monkeypatch, django_capture_on_commit_callbacks
):
    published = []
    monkeypatch.setattr(
        events, "publish", lambda message, prev, coalesce="": published.append((message, coalesce))
    )
    monkeypatch.setattr(
        events, "publish_many", lambda batch: published.extend((m, key) for m, _, key in batch)
    )
    third = make_unit(world["geo"]["kentish"], callsign="CN03")  # holds a fix from just now
    first = world["unit"]
    batch = store(
        world,
        fix(first.issi, 51.52, ago=20),
        fix(first.issi, 51.51, ago=40),
        fix(second_unit.issi, 51.45, ago=20),
        fix(third.issi, 51.60, ago=600),  # older than what CN03 holds: no event
    )
    with django_capture_on_commit_callbacks(execute=True):
        apply_batch(batch)
    moved = {m["data"]["callsign"]: (m, key) for m, key in published}
    assert sorted(moved) == ["CN01", "CN02"] and len(published) == 2
    for callsign, (message, key) in moved.items():
        assert message["type"] == "unit.updated" and key == f"unit:{callsign}"
        assert len(position_events(callsign)) == 1
    assert moved["CN01"][0]["data"]["position"]["lat"] == 51.52
    assert position_events("CN03") == []


def test_messages_record_the_units_current_assignment(world, queued):
    incident = make_incident(world["desk"], grade="I", summary="fight outside pub")
    assignment = assignment_create(
        incident=incident, unit=world["unit"], by=world["desk"], source="test"
    )
    batch = store(
        world, fix(world["unit"].issi, 51.52, ago=20), fix(world["unit"].issi, 51.5, ago=30)
    )
    apply_batch(batch)
    assert set(
        RadioMessage.objects.filter(pk__in=[m.pk for m in batch]).values_list(
            "assignment_id", flat=True
        )
    ) == {assignment.pk}


def test_statuses_are_left_to_their_own_task(world, queued):
    issi = world["unit"].issi
    status, position = store(world, msg(issi, code=2, lat=51.5, lon=-0.1), fix(issi, 51.52, ago=5))
    assert apply_batch([status, position]) == {State.APPLIED: 1}
    assert RadioMessage.objects.get(pk=status.pk).state == State.RECEIVED


def test_receiving_queues_positions_as_one_task_after_the_others(
    world, queued, django_capture_on_commit_callbacks
):
    issi = world["unit"].issi
    with django_capture_on_commit_callbacks(execute=True):
        stored = store(
            world, fix(issi, 51.52, ago=20), msg(issi, code=0), fix(issi, 51.51, ago=40),
            msg(issi, "text", text="hello"),
        )  # fmt: skip
    positions = {stored[0].pk, stored[2].pk}
    assert [set(ids) for ids in queued["positions"]] == [positions]
    assert set(queued["apply"][-2:]) == positions  # the status and the text were queued first
    assert set(queued["apply"][:2]) == {stored[1].pk, stored[3].pk}


def test_batching_can_be_switched_off(world, queued, settings, django_capture_on_commit_callbacks):
    settings.RADIO_BATCH_POSITIONS = False
    issi = world["unit"].issi
    with django_capture_on_commit_callbacks(execute=True):
        stored = store(world, fix(issi, 51.52, ago=20), fix(issi, 51.5, ago=9))
    assert queued["positions"] == []
    assert sorted(queued["apply"]) == sorted(m.pk for m in stored)


@hypothesis_settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    ages=st.lists(st.integers(min_value=1, max_value=3000), min_size=1, max_size=12),
    data=st.data(),
)
def test_any_order_and_split_into_batches_ends_at_the_newest_fix(world, queued, ages, data):
    unit = make_unit(world["geo"]["kentish"])
    Unit.objects.filter(pk=unit.pk).update(position_at=timezone.now() - timedelta(hours=2))
    bodies = [fix(unit.issi, 51.0 + k / 1000, ago=age) for k, age in enumerate(ages)]
    stored = store(world, *bodies)
    repeats = data.draw(st.lists(st.sampled_from(stored), max_size=6))
    order = data.draw(st.permutations(stored + repeats))
    cuts = sorted(data.draw(st.sets(st.integers(0, len(order)), max_size=4)))
    for start, end in zip([0, *cuts], [*cuts, len(order)], strict=True):
        if end > start:
            apply_batch(order[start:end])
    newest = max(stored, key=lambda m: (m.sent_at, m.pk))
    unit.refresh_from_db()
    assert (unit.lat, unit.position_at) == (newest.lat, newest.sent_at)
    assert not RadioMessage.objects.filter(issi=unit.issi, state=State.RECEIVED).exists()


def test_events_emitted_together_keep_the_numbering_and_stream_chains(
    world, monkeypatch, django_capture_on_commit_callbacks
):
    """cad.live.events.events_emit, which the batch uses: the same seq and per-BCU `prev` as
    one event_emit after another, and published in order."""
    published = []
    monkeypatch.setattr(
        events, "publish", lambda message, prev, coalesce="": published.append((message, prev))
    )
    monkeypatch.setattr(
        events, "publish_many", lambda batch: published.extend((m, prev) for m, prev, _ in batch)
    )
    with django_capture_on_commit_callbacks(execute=True):
        before = events.event_emit(type="t.one", data={}, bcus=["CN"])
    with django_capture_on_commit_callbacks(execute=True):
        rows = events.events_emit(
            [
                events.EventSpec("t.two", {"k": 1}, ["AS"]),
                events.EventSpec("t.three", {"k": 2}, ["CN", "AS", ""], "key"),
                events.EventSpec("t.four", {"k": 3}, ["CN", "XX"]),  # XX: no such BCU
            ]
        )
    with django_capture_on_commit_callbacks(execute=True):
        after = events.event_emit(type="t.five", data={}, bcus=["AS", "CN"])
    seqs = [before.seq, *(r.seq for r in rows), after.seq]
    assert seqs == list(range(before.seq, before.seq + 5))
    assert [m["seq"] for m, _ in published] == seqs
    cn, as_ = events.bcu_group("CN"), events.bcu_group("AS")
    prevs = [prev for _, prev in published]
    assert all(prev[events.ALL_GROUP] == seq - 1 for prev, seq in zip(prevs, seqs, strict=True))
    assert prevs[1][as_] == 0  # the AS stream's first event in this database
    assert (prevs[2][cn], prevs[2][as_]) == (seqs[0], seqs[1])
    assert prevs[3] == {events.ALL_GROUP: seqs[3] - 1, cn: seqs[2]}
    assert (prevs[4][cn], prevs[4][as_]) == (seqs[3], seqs[2])
    assert Event.objects.get(seq=seqs[2]).bcu == "AS,CN"
    assert events.latest_seq(bcu="CN") == seqs[4] and events.latest_seq(bcu="AS") == seqs[4]
