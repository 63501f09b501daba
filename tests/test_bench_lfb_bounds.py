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


# The stations file's slips (bench/recommend_lfb.py's POSITION_FIXES), checked on the file itself.
needs_lfb_stations = pytest.mark.skipif(
    not (ROOT.parent / "shared" / "data" / "lfb_stations_callsigns_latlon.csv").exists(),
    reason="../shared/data has no LFB stations file",
)


@needs_lfb_stations
def test_the_two_lambeth_stations_at_one_address_are_placed_together(lfb):
    from resources.recommend.geo import haversine_m

    by_name = {c.callsign: c for c in lfb.load_stations()}
    land, river = by_name["lambeth"], by_name["lambeth river"]
    # Both "8 Albert Embankment, SE1 7SD" (the fireboat moors opposite the station).
    assert haversine_m(land.lat, land.lon, river.lat, river.lon) < 150


@needs_lfb_stations
def test_every_position_fix_names_a_station_in_the_file(lfb):
    # A misspelt key would leave its station where it was without a word.
    import recommend_lfb

    names = {c.callsign for c in lfb.load_stations()}
    assert set(recommend_lfb.POSITION_FIXES) <= names
    assert len(recommend_lfb.POSITION_FIXES) == 6
