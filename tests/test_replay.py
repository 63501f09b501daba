"""Replay (issue 20): the board rebuilt from the event log equals the live board.

Real services make the history (incidents taken, units sent, statuses, positions, an emergency,
closing, reopening); the live board (`board_snapshot`, what a desk is sent) is taken at several
moments; then each moment is rebuilt from checkpoints and events and compared field by field
(the contract's fields of `GET /api/v1/board/at/`).
"""

from datetime import timedelta
from urllib.parse import quote

import pytest
from django.test import Client
from django.utils import timezone

from cad.live.replay import (
    board_at,
    board_checkpoint_create,
    board_checkpoint_due,
    board_checkpoints_backfill,
    board_checkpoints_prune,
    seq_at,
)
from cad.live.snapshot import board_snapshot
from cad.models import AuditEvent, BoardCheckpoint, Event
from incidents.services import incident_close, incident_regrade, incident_reopen
from resources import despatch
from resources import services as unit_services
from resources.models import UnitStatus
from tests.factories import make_closing_code, make_incident, make_unit

pytestmark = pytest.mark.django_db


def _contract(board: dict) -> dict:
    """The contract's fields of a board, whether live (snapshot rows) or rebuilt."""
    incidents = sorted(
        (
            i["id"], i["reference"], i["status"], i["grade"],
            i["location"]["bcu"] if "location" in i else i["bcu"],
        )
        for i in board["incidents"]
    )  # fmt: skip
    units = sorted(
        (u["callsign"], u["status"], u["incident"], _pos(u["position"])) for u in board["units"]
    )
    return {"incidents": incidents, "units": units}


def _pos(position):
    return None if position is None else (position["lat"], position["lon"], position["at"])


def _iso(moment) -> str:
    return quote(moment.isoformat())


@pytest.fixture
def history(geography, cast):
    """A short busy spell in CN and AS; the live board (all London and CN) after each step."""
    make_closing_code("NFA")
    units = {
        "CN1": make_unit(geography["kentish"], callsign="CN1"),
        "CN2": make_unit(geography["kentish"], callsign="CN2"),
        "AS1": make_unit(geography["brixton"], callsign="AS1"),
        "AS2": make_unit(geography["brixton"], callsign="AS2", status=UnitStatus.OFF_DUTY),
    }
    # Units made as reference data have no events: the first checkpoint holds them.
    board_checkpoint_create()
    desk = cast.despatcher_all
    moments = []

    def sample():
        live = board_snapshot(bcu=None)
        cn = board_snapshot(bcu="CN")
        moments.append({"t": timezone.now(), "seq": live["seq"], "all": live["data"],
                        "CN": cn["data"]})  # fmt: skip

    a = make_incident(cast.handler, where="camden", grade="I")
    b = make_incident(cast.handler, where="lambeth", grade="S")
    sample()
    despatch.assignment_create(incident=a, unit=units["CN1"], by=desk, source="test")
    # Across the border: a CN unit on an AS incident puts it on CN's board.
    despatch.assignment_create(incident=b, unit=units["CN2"], by=desk, source="test")
    sample()
    unit_services.unit_set_status(unit=units["CN1"], status=UnitStatus.EN_ROUTE, source="test",
                                  by=desk)  # fmt: skip
    unit_services.unit_set_position(unit=units["CN1"], lat=51.54, lon=-0.141, source="test")
    unit_services.unit_raise_emergency(unit=units["AS1"], source="test", by=desk)
    incident_regrade(incident=b, by=cast.supervisor_all, grade="E", reason="test")
    sample()
    # A checkpoint in the middle: later moments start from it, earlier ones from the first.
    board_checkpoint_create()
    unit_services.unit_set_status(unit=units["CN1"], status=UnitStatus.AT_SCENE, source="test",
                                  by=desk)  # fmt: skip
    incident_close(incident=a, by=desk, closing_code="NFA", source="test")
    sample()
    c = make_incident(cast.handler, where="camden", grade="S")
    despatch.assignment_clear(incident=b, unit=units["CN2"], by=desk, source="test")
    incident_close(incident=b, by=desk, closing_code="NFA", source="test")
    incident_reopen(incident=a, by=cast.supervisor_all, reason="caller rang back")
    despatch.assignment_create(incident=c, unit=units["CN2"], by=desk, source="test")
    sample()
    return moments


def test_replay_equals_the_live_board_at_sampled_moments(history, cast):
    client = Client()
    client.force_login(cast.supervisor_all)
    assert BoardCheckpoint.objects.count() == 2
    for moment in history:
        assert seq_at(moment["t"]) == moment["seq"]
        answer = client.get(f"/api/v1/board/at/?t={_iso(moment['t'])}")
        assert answer.status_code == 200, answer.content
        body = answer.json()
        assert body["seq"] == moment["seq"]
        assert _contract(body) == _contract(moment["all"]), moment["seq"]
        # A CN desk's board: its own, and the AS incident its unit is working.
        assert _contract(board_at(seq=moment["seq"], bcu="CN")) == _contract(moment["CN"])


def test_replay_without_checkpoints_knows_only_units_the_log_names(history):
    """Folding from the start of the log (no checkpoint) still gets every incident right; a
    unit that no event names is unknown until a checkpoint holds it (docs/replay.md)."""
    BoardCheckpoint.objects.all().delete()
    last = history[-1]
    rebuilt = _contract(board_at(seq=last["seq"], bcu=None))
    live = _contract(last["all"])
    assert rebuilt["incidents"] == live["incidents"]
    named = {u[0] for u in rebuilt["units"]}
    assert named == {"CN1", "CN2", "AS1"}  # AS2 (off duty) has never had an event
    assert [u for u in live["units"] if u[0] in named] == rebuilt["units"]


def test_each_moment_between_events_shows_the_last_event_before_it(history, cast):
    client = Client()
    client.force_login(cast.supervisor_all)
    first, second = history[0], history[1]
    between = Event.objects.filter(seq__gt=first["seq"], seq__lte=second["seq"]).order_by("seq")
    step = between.first()
    body = client.get(f"/api/v1/board/at/?seq={step.seq}").json()
    assert body["seq"] == step.seq and body["previous"] < step.seq < body["next"]
    # One event on from the first sample: one assignment has happened, not both.
    on_jobs = [u for u in body["units"] if u["incident"] is not None]
    assert len(on_jobs) <= 1


def test_scope_a_cn_supervisor_sees_cn_only_and_every_read_is_audited(history, cast):
    client = Client()
    client.force_login(cast.supervisor_cn)
    last = history[-1]
    body = client.get(f"/api/v1/board/at/?t={_iso(last['t'])}").json()
    assert _contract(body) == _contract(last["CN"])
    assert {u["bcu"] for u in body["units"]} == {"CN"}
    assert client.get(f"/api/v1/board/at/?t={_iso(last['t'])}&bcu=AS").status_code == 403
    timeline = client.get(
        f"/api/v1/board/timeline/?from={_iso(last['t'] - timedelta(hours=1))}&to={_iso(last['t'])}"
    ).json()
    assert timeline["events"] and all("CN" in Event.objects.get(seq=e["seq"]).bcu.split(",")
                                      for e in timeline["events"])  # fmt: skip
    read = AuditEvent.objects.filter(object_type="cad.event", username=cast.supervisor_cn.username)
    assert read.count() == 1  # the refused read is not a read
    assert read.get().changes["bcu"] == "CN"
    assert read.get().action == AuditEvent.Action.READ_PERSONAL


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("t=2999-01-01T00:00Z", "t"),  # the future
        ("t=2000-01-01T00:00Z", "t"),  # before the log begins
        ("t=yesterday", "t"),
        ("", "t"),
        ("seq=999999", "seq"),
        ("seq=-1", "seq"),
        ("bcu=ZZ&t=2000-01-01", "bcu"),
    ],
)
def test_bad_moments_are_400_with_the_field(history, cast, query, field):
    client = Client()
    client.force_login(cast.supervisor_all)
    answer = client.get(f"/api/v1/board/at/?{query}")
    assert answer.status_code == 400
    assert field in str(answer.json())


def test_only_supervisors_and_admins_replay(history, cast):
    t = _iso(history[-1]["t"])
    for user, expected in ((cast.despatcher_all, 403), (cast.handler, 403),
                           (cast.admin, 200), (cast.supervisor_as, 200)):  # fmt: skip
        client = Client()
        client.force_login(user)
        assert client.get(f"/api/v1/board/at/?t={t}").status_code == expected, user
        assert client.get("/replay/").status_code == expected, user


def test_checkpoints_are_written_when_due_and_pruned(history, cast):
    latest = BoardCheckpoint.objects.order_by("-seq").first()
    assert board_checkpoint_due(every_events=1000, every_seconds=3600) is None
    made = board_checkpoint_due(every_events=1, every_seconds=3600)
    assert made is not None and made.seq == Event.objects.order_by("-seq").first().seq
    assert made.seq > latest.seq
    # Nothing moved since: none due however old the last one is.
    assert board_checkpoint_due(every_events=1, every_seconds=0) is None
    BoardCheckpoint.objects.update(at=timezone.now() - timedelta(days=10))
    assert board_checkpoints_prune(older_than=timezone.now() - timedelta(days=8)) == 2
    assert BoardCheckpoint.objects.get().seq == made.seq  # the newest stays as a base


def test_backfilled_checkpoints_rebuild_the_same_boards(history):
    """Checkpoints folded forward from the first one (a log no beat checkpointed) give the same
    board at every sampled moment as the live one."""
    first = BoardCheckpoint.objects.order_by("seq").first()
    BoardCheckpoint.objects.exclude(pk=first.pk).delete()
    written = board_checkpoints_backfill(every_events=3, every_seconds=3600)
    assert written == BoardCheckpoint.objects.count() - 1 >= 3
    for moment in history:
        assert _contract(board_at(seq=moment["seq"], bcu=None)) == _contract(moment["all"])
    # Nothing new since: nothing more to write.
    assert board_checkpoints_backfill(every_events=3, every_seconds=3600) == 0
