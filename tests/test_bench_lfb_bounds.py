"""bench/recommend_lfb_learned.py's two bounds (issue 22, point 1): who sent the first pump
against the ground and nearest stations, and repeat visits to the same 50 m square.

The bench runs on ../shared/data; these check its counting on rows made here, so a miscount
cannot pass for a finding about the data.
"""

import importlib

import pytest

from tests.servers import ROOT


@pytest.fixture
def lfb(monkeypatch):
    # Only for this import: bench/ holds modules (stats, replay) that would shadow others.
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    return importlib.import_module("recommend_lfb_learned")


def _row(first, ground="", *, called="2023-10-01 10:00:00", square=(0, 0), seconds=300.0):
    return {
        "first": first,
        "ground": ground,
        "called": called,
        "square": square,
        "attendance_s": seconds,
    }


def test_first_pumps_are_split_by_ground_and_nearest(lfb):
    rows = [
        _row("a", "a"),  # ground, and nearest below
        _row("a", "a"),  # ground, not nearest
        _row("b", "a"),  # nearest, not ground
        _row("c", "a"),  # neither; ground was nearest
        _row("c", "a"),  # neither; ground and nearest differ
        _row("c", "a"),  # the same
    ]
    nearest = ["a", "b", "b", "a", "b", "d"]
    split = lfb.who_went_first(rows, {id(r): n for r, n in zip(rows, nearest, strict=True)})
    assert split == {"both": 1, "ground": 1, "nearest": 1, "other": 1, "other_split": 2}
    assert set(split) <= set(lfb.SPLIT_LABELS)


def test_a_repeat_visit_is_the_latest_earlier_one_by_the_same_station_to_the_same_square(lfb):
    older = _row("a", called="2023-02-01 09:00:00", seconds=200.0)
    latest = _row("a", called="2023-09-30 23:59:59", seconds=250.0)
    other_station = _row("b", called="2023-10-01 09:00:00", seconds=100.0)
    next_square = _row("a", called="2023-10-01 09:30:00", square=(0, 1), seconds=90.0)
    no_time = _row("a", called="2023-10-01 09:45:00", seconds=None)
    tested = _row("a", called="2023-10-02 08:00:00", seconds=330.0)
    first_visit = _row("c", called="2023-10-03 08:00:00", seconds=400.0)
    rows = [tested, other_station, latest, next_square, first_visit, older, no_time]
    test = [tested, other_station, next_square, first_visit]

    pairs = lfb.repeat_visits(rows, test)

    assert [(r["called"], before["called"]) for r, before in pairs] == [
        (tested["called"], latest["called"])
    ]
