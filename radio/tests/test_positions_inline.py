"""GPS fixes applied in the transaction that stores them (decision 0030, radio/services.py)."""

import re
import threading
import time
from datetime import timedelta
from typing import Any

import psycopg2
import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cad.models import Event
from radio import services, tasks
from radio.bridge import Bridge
from radio.models import RadioMessage
from radio.positions import APPLIED, STALE, SUPERSEDED
from radio.tests.conftest import msg
from radio.tests.gateway_harness import position, wait_until
from resources.despatch import assignment_create
from resources.models import Assignment, Unit
from tests.factories import make_incident, make_unit

State = RadioMessage.State


@pytest.fixture
def tasks_queued(monkeypatch) -> dict[str, list[Any]]:
    """The tasks queued after commit, without changing which path the fixes take."""
    calls: dict[str, list[Any]] = {"apply": [], "positions": []}
    monkeypatch.setattr(tasks.apply_radio_message, "delay", calls["apply"].append)
    monkeypatch.setattr(tasks.apply_radio_positions, "delay", calls["positions"].append)
    return calls


def fix(issi: str, lat: float, *, ago: float) -> dict:
    return msg(issi, "position", lat=lat, lon=-0.1, ago=ago)


def receive(world, *messages) -> tuple[int, int]:
    return services.radio_messages_receive(messages=list(messages), by=world["gateway"])


def stored(message: dict) -> RadioMessage:
    return RadioMessage.objects.get(gateway_id=message["id"])


def positions_of(unit: Unit) -> list[Event]:
    return [
        e for e in Event.objects.filter(type="unit.updated").order_by("id")
        if e.data["callsign"] == unit.callsign
    ]  # fmt: skip


def test_a_batch_is_applied_as_it_is_stored_with_no_task(
    world, tasks_queued, django_capture_on_commit_callbacks
):
    unit = world["unit"]
    middle, newest = fix(unit.issi, 51.52, ago=60), fix(unit.issi, 51.53, ago=30)
    oldest = fix(unit.issi, 51.51, ago=90)
    with django_capture_on_commit_callbacks(execute=True):
        assert receive(world, middle, newest, oldest) == (3, 0)

    unit.refresh_from_db()
    assert (unit.lat, unit.position_at) == (51.53, stored(newest).sent_at)
    assert [(m.state, m.note, m.unit_id) for m in map(stored, (middle, newest, oldest))] == [
        (State.IGNORED, SUPERSEDED, unit.pk),
        (State.APPLIED, APPLIED, unit.pk),
        (State.IGNORED, SUPERSEDED, unit.pk),
    ]
    assert len(positions_of(unit)) == 1
    assert tasks_queued == {"apply": [], "positions": []}


def test_each_message_names_the_units_job(world, tasks_queued):
    incident = make_incident(world["desk"], grade="I")
    job = assignment_create(incident=incident, unit=world["unit"], by=world["desk"])
    message = fix(world["unit"].issi, 51.52, ago=5)
    receive(world, message)
    assert (stored(message).unit_id, stored(message).assignment_id) == (world["unit"].pk, job.pk)


def test_a_batch_reads_the_units_jobs_once_for_the_messages_and_the_events(world, tasks_queued):
    incident = make_incident(world["desk"], grade="I")
    job = assignment_create(incident=incident, unit=world["unit"], by=world["desk"])
    message = fix(world["unit"].issi, 51.52, ago=5)
    with CaptureQueriesContext(connection) as queries:
        receive(world, message)
    # Read through the ORM (quoted) or a fixed statement (decision 0032).
    table = Assignment._meta.db_table
    reads = [q for q in queries if re.search(rf'FROM "?{table}"?[ ]', q["sql"])]
    assert len(reads) == 1
    assert stored(message).assignment_id == job.pk
    event = positions_of(world["unit"])[-1]  # the fix's (assigning emitted one too)
    assert event.data["position"]["lat"] == 51.52
    assert event.data["incident"] == incident.pk and event.data["job"]["incident"] == incident.pk


def test_a_batch_locks_its_units_in_one_statement(world, tasks_queued):
    units = [
        world["unit"],
        *(make_unit(world["geo"]["kentish"], callsign=f"CN{n}") for n in (21, 22)),
    ]
    messages = [fix(u.issi, 51.52, ago=5) for u in units]
    with CaptureQueriesContext(connection) as queries:
        receive(world, *messages)
    table = Unit._meta.db_table
    # The units read by ISSI (under a row lock on PostgreSQL; SQLite has none).
    by_issi = re.compile(rf'FROM "?{table}"?[ ].*issi"? (IN|= ANY)')
    locks = [q["sql"] for q in queries if by_issi.search(q["sql"])]
    assert len(locks) == 1
    if connection.vendor == "postgresql":
        # An array parameter, not a placeholder per unit for Django to compile (decision 0032).
        assert "= ANY(" in locks[0] and "FOR NO KEY UPDATE" in locks[0]
    assert [stored(m).unit_id for m in messages] == [u.pk for u in units]


def test_unknown_inactive_and_stale_fixes_are_stored_ignored_with_the_reason(world, tasks_queued):
    parked = make_unit(world["geo"]["kentish"], callsign="CN09")
    Unit.objects.filter(pk=parked.pk).update(active=False)
    Unit.objects.filter(pk=world["unit"].pk).update(position_at=timezone.now())
    stale = fix(world["unit"].issi, 51.50, ago=600)
    nobody = fix("999999", 51.50, ago=5)
    inactive = fix(parked.issi, 51.50, ago=5)
    receive(world, stale, nobody, inactive)
    assert [(m.state, m.note) for m in map(stored, (stale, nobody, inactive))] == [
        (State.IGNORED, STALE),
        (State.IGNORED, "no unit has ISSI 999999"),
        (State.IGNORED, "CN09 is not an active unit"),
    ]
    assert Event.objects.filter(type="unit.updated").count() == 0
    assert tasks_queued == {"apply": [], "positions": []}


def test_a_resent_batch_is_all_duplicates_and_moves_nothing_again(world, tasks_queued):
    batch = [fix(world["unit"].issi, 51.52, ago=30)]
    receive(world, *batch)
    events = Event.objects.count()
    assert receive(world, *batch) == (0, 1)
    assert Event.objects.count() == events
    assert RadioMessage.objects.filter(gateway_id=batch[0]["id"]).count() == 1


def test_a_status_in_the_batch_still_goes_to_its_task(
    world, tasks_queued, django_capture_on_commit_callbacks
):
    position, status = fix(world["unit"].issi, 51.52, ago=30), msg(world["unit"].issi, code=2)
    with django_capture_on_commit_callbacks(execute=True):
        receive(world, position, status)
    assert stored(position).state == State.APPLIED
    assert stored(status).state == State.RECEIVED
    assert tasks_queued == {"apply": [stored(status).pk], "positions": []}


@pytest.mark.django_db(transaction=True)
def test_units_locked_elsewhere_leave_the_fixes_to_the_task(
    postgres, world, tasks_queued, django_capture_on_commit_callbacks
):
    """A lock PostgreSQL will not grant in time (here another session holds the unit's row and
    lock_timeout runs out) must not refuse the batch: the fixes are stored `received`, nothing
    of the attempt is left (no move, no event), and the batch task applies them later."""
    unit = make_unit(world["geo"]["kentish"], callsign="CN31")
    Unit.objects.filter(pk=unit.pk).update(position_at=timezone.now() - timedelta(hours=1))
    db = connection.settings_dict
    holder = psycopg2.connect(
        dbname=db["NAME"], user=db["USER"], password=db["PASSWORD"], host=db["HOST"],
        port=db["PORT"] or 5432,
    )  # fmt: skip
    try:
        with holder.cursor() as cursor:
            cursor.execute("SELECT id FROM resources_unit WHERE id = %s FOR UPDATE", [unit.pk])
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '200ms'")
        first, second = fix(unit.issi, 51.52, ago=20), fix(unit.issi, 51.53, ago=10)
        with django_capture_on_commit_callbacks(execute=True):
            assert receive(world, first, second) == (2, 0)
    finally:
        holder.rollback()
        holder.close()
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = 0")
    assert [stored(m).state for m in (first, second)] == [State.RECEIVED, State.RECEIVED]
    assert positions_of(unit) == []
    assert Unit.objects.get(pk=unit.pk).lat != 51.53
    assert tasks_queued["positions"] == [[stored(first).pk, stored(second).pk]]

    tasks.apply_radio_positions(tasks_queued["positions"][0])
    assert Unit.objects.get(pk=unit.pk).lat == 51.53
    assert [stored(m).state for m in (first, second)] == [State.IGNORED, State.APPLIED]


@pytest.mark.django_db(transaction=True)
def test_a_bridge_that_is_behind_leaves_the_fixes_to_the_task(
    postgres, world, tasks_queued, gateway, run_bridge, monkeypatch
):
    """Storing and applying in one thread is cheaper but serial: a bridge a group or more behind
    stores fixes `received` for the batch task, which runs in the workers beside it. Nothing is
    lost either way, and the task settles what the bridge left."""
    real_store = Bridge._store

    def slow(self, items, *args):
        time.sleep(0.1)  # a bridge short of CPU
        return real_store(self, items, *args)

    monkeypatch.setattr(Bridge, "_store", slow)
    issi = world["unit"].issi
    gw = gateway()
    bridge = run_bridge(gw.url, max_group=5, stores=1, hand_over_at=5)
    wait_until(lambda: gw.connected, "bridge connected")
    offered = [f"q-{n}" for n in range(60)]
    gw.add([{"type": "batch", "messages": [
        position(m, issi, lat=51.5 + n / 10000) for n, m in enumerate(offered)
    ]}])  # fmt: skip
    wait_until(lambda: not gw.pending, "every message acknowledged")

    waiting = set(
        RadioMessage.objects.filter(gateway_id__in=offered, state=State.RECEIVED).values_list(
            "id", flat=True
        )
    )
    handed_over = [i for ids in tasks_queued["positions"] for i in ids]
    assert bridge.stats["stored_for_the_task"] == len(waiting) == len(handed_over) > 0
    assert 0 < len(waiting) < len(offered)  # the first groups were applied as stored
    assert set(handed_over) == waiting
    for ids in tasks_queued["positions"]:
        tasks.apply_radio_positions(ids)
    assert not RadioMessage.objects.filter(gateway_id__in=offered, state=State.RECEIVED).exists()
    assert Unit.objects.get(pk=world["unit"].pk).lat == pytest.approx(51.5 + 59 / 10000)


@pytest.mark.django_db(transaction=True)
def test_two_stores_at_once_on_the_same_units_never_deadlock_and_newest_wins(
    postgres, world, tasks_queued
):
    """The bridge stores two groups at once (BridgeConfig.stores): both lock the same units, in
    whatever order their fixes came. Units are locked in id order, so neither waits on the
    other in a cycle, and each unit ends at its newest fix whichever commits last."""
    units = [make_unit(world["geo"]["kentish"]) for _ in range(20)]
    Unit.objects.filter(pk__in=[u.pk for u in units]).update(
        position_at=timezone.now() - timedelta(hours=1)
    )
    errors: list[Exception] = []
    rounds = 15

    def store(offset: int) -> None:
        try:
            for r in range(rounds):
                # Each side's fixes in a different order; side 1's are a second newer.
                batch = [fix(u.issi, 51.4 + r / 1000 + offset / 10000, ago=60 - r * 2 - offset)
                         for u in (units if offset else reversed(units))]  # fmt: skip
                services.radio_messages_receive(messages=batch, by=world["gateway"])
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=store, args=(offset,)) for offset in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert tasks_queued["positions"] == []  # every fix applied as stored, none refused a lock
    newest = 51.4 + (rounds - 1) / 1000 + 1 / 10000
    lats = list(Unit.objects.filter(pk__in=[u.pk for u in units]).values_list("lat", flat=True))
    assert lats == [pytest.approx(newest)] * len(units)
    assert RadioMessage.objects.filter(state=State.APPLIED).count() >= len(units)


@pytest.mark.parametrize(
    ("option", "says"),
    [({"stores": 0}, "--stores"), ({"stores": 9}, "--stores"), ({"hand_over_at": -1}, "--hand")],
)
def test_the_bridge_command_refuses_impossible_store_settings(db, option, says):
    with pytest.raises(CommandError, match=says):
        call_command("radio_bridge", url="ws://127.0.0.1:9/", **option)
