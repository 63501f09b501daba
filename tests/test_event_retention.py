"""Retention of the live-board event log (issue 23, point 5; cad/live/retention.py).

Pruning stops at a replay checkpoint older than the cutoff, never touches a newer event, keeps
replay working for every moment still in the log, and a board whose cursor was pruned away gets
a whole snapshot instead of a silent gap.
"""

from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from cad import tasks
from cad.live import events
from cad.live.consumers import BoardConsumer
from cad.live.replay import board_at, board_checkpoint_create
from cad.live.retention import event_log_prune, events_pruned_through
from cad.live.snapshot import board_snapshot
from cad.models import Event
from resources import services as unit_services
from tests.factories import make_incident, make_unit
from tests.sockets import CONNECT_S


@pytest.fixture
def log(geography, cast, monkeypatch):
    """Three hours of log on a moved clock: events and a checkpoint 3 h ago, more events and the
    base checkpoint 2 h ago, an incident 1 h ago, positions now; the cutoff is 1.5 h ago."""
    now = timezone.now()
    real_now = timezone.now

    def clock(hours_ago: float) -> None:
        # Event.at (auto_now_add) and checkpoints read django.utils.timezone.now.
        monkeypatch.setattr(timezone, "now", lambda: now - timedelta(hours=hours_ago))

    unit = make_unit(geography["kentish"], callsign="CN1")
    clock(3)
    for _ in range(3):
        make_incident(cast.handler, where="camden", grade="I")
    first = board_checkpoint_create()
    clock(2)
    make_incident(cast.handler, where="lambeth", grade="S")
    base = board_checkpoint_create()
    clock(1)
    make_incident(cast.handler, where="camden", grade="S")
    monkeypatch.setattr(timezone, "now", real_now)
    for k in range(3):
        unit_services.unit_set_position(unit=unit, lat=51.54 + k / 1000, lon=-0.14, source="t")
    return {"first": first, "old": base, "cutoff": now - timedelta(hours=1.5),
            "desk": cast.despatcher_all}  # fmt: skip


@pytest.mark.django_db
def test_prune_stops_at_the_checkpoint_and_keeps_everything_newer(log):
    before = dict(Event.objects.values_list("seq", "at"))
    deleted = event_log_prune(older_than=log["cutoff"], batch=2)  # several batches
    after = set(Event.objects.values_list("seq", flat=True))
    assert deleted == len([s for s in before if s <= log["old"].seq]) > 0
    assert after == {s for s in before if s > log["old"].seq}
    # Every event stored after the cutoff is still there; every one deleted was older.
    assert {s for s, at in before.items() if at > log["cutoff"]} <= after
    assert all(at <= log["cutoff"] for s, at in before.items() if s not in after)
    assert events_pruned_through() == log["old"].seq
    # Run again: nothing more to do until a newer checkpoint is old enough.
    assert event_log_prune(older_than=log["cutoff"]) == 0


@pytest.mark.django_db
def test_no_checkpoint_older_than_the_cutoff_prunes_nothing(log):
    count = Event.objects.count()
    assert event_log_prune(older_than=log["first"].at - timedelta(seconds=1)) == 0
    assert Event.objects.count() == count and events_pruned_through() == 0


@pytest.mark.django_db
def test_replay_within_the_window_still_works_after_pruning(log):
    latest = events.latest_seq()
    live = board_snapshot(bcu=None)["data"]
    event_log_prune(older_than=log["cutoff"])
    rebuilt = board_at(seq=latest, bcu=None)
    ids = sorted(i["id"] for i in rebuilt["incidents"])
    assert ids == sorted(i["id"] for i in live["incidents"])
    positions = {u["callsign"]: u["position"]["lat"] for u in rebuilt["units"]}
    assert positions == {u["callsign"]: u["position"]["lat"] for u in live["units"]}
    # The first moment still in the log rebuilds from the base checkpoint too.
    first = Event.objects.order_by("seq").values_list("seq", flat=True).first()
    assert first == log["old"].seq + 1
    assert len(board_at(seq=first, bcu=None)["incidents"]) == 5


@pytest.mark.django_db
def test_resync_from_a_pruned_cursor_is_refused_not_gapped(log):
    old = log["old"].seq
    assert events.events_since(old - 1, bcu=None, limit=500) is not None
    event_log_prune(older_than=log["cutoff"])
    # From the watermark on the log is whole; from before it, the start is gone: no list.
    assert [e["seq"] for e in events.events_since(old, bcu=None, limit=500)] == list(
        range(old + 1, events.latest_seq() + 1)
    )
    assert events.events_since(old - 1, bcu=None, limit=500) is None
    assert events.events_since(old - 1, bcu="CN", limit=500) is None


@pytest.mark.django_db
def test_the_task_prunes_by_the_setting_and_keeps_checkpoints_as_long(log, settings):
    settings.EVENT_RETENTION_HOURS = 24 * 40
    assert tasks.checkpoints_kept() == timedelta(days=40)
    assert tasks.prune_event_log() == 0  # the old checkpoint is 2 hours old, not 40 days
    settings.EVENT_RETENTION_HOURS = 1.5
    assert tasks.checkpoints_kept() == tasks.CHECKPOINTS_KEPT  # 8 days > 1.5 h
    old = Event.objects.filter(seq__lte=log["old"].seq).count()
    assert tasks.prune_event_log() == old > 0
    assert events_pruned_through() == log["old"].seq


def test_the_trigger_still_refuses_other_deletes_and_every_update(postgres, log):
    for statement in ("DELETE FROM cad_event", "UPDATE cad_event SET type = 'x'"):
        with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL beacon.event_prune = 'on'")
        with pytest.raises(IntegrityError), transaction.atomic():
            cursor.execute("UPDATE cad_event SET type = 'x'")
    assert Event.objects.filter(type="x").count() == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("close_worker_connections", "fresh_layer")
async def test_a_board_whose_last_seq_was_pruned_gets_a_snapshot(log):
    seen = log["old"].seq - 1  # a board that went away just before the checkpoint
    await database_sync_to_async(event_log_prune)(older_than=log["cutoff"])
    communicator = WebsocketCommunicator(BoardConsumer.as_asgi(), "/ws/board/")
    communicator.scope["user"] = log["desk"]
    connected, _ = await communicator.connect(timeout=CONNECT_S)
    assert connected
    assert (await communicator.receive_json_from(timeout=5))["type"] == "hello"
    await communicator.send_json_to({"type": "resync", "since": seen})
    answer = await communicator.receive_json_from(timeout=5)
    assert answer["type"] == "snapshot"
    assert answer["seq"] == await database_sync_to_async(events.latest_seq)()
    assert len(answer["data"]["incidents"]) == 5
    await communicator.disconnect()
