"""bench/replay.py builds a day of board events from rows made by hand, fed to the apps' own
payload builders. Those rows drifted from the real ones twice (a field added to the board's
reads, the bench crashing or, worse, replaying payloads the board never sends): these hold each
hand-built row to the fields the apps read."""

import importlib
from datetime import UTC, datetime

import pytest

from incidents.events import BOARD_FIELDS
from resources.selectors import JOB_FIELDS, UNIT_FIELDS
from tests.servers import ROOT

AT = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def replay(monkeypatch):
    # Only for this import: bench/ holds modules (stats, replay) that would shadow others.
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    return importlib.import_module("replay")


def test_a_unit_row_has_the_fields_the_board_reads_but_its_id(replay):
    unit = {"callsign": "U0001", "bcu": "B01", "issi": "00000001"}
    row = replay._unit_row(unit, "available", AT, 51.5, -0.1)
    assert set(row) == set(UNIT_FIELDS) - {"id"}


def test_an_incident_row_has_the_boards_fields(replay):
    inc = {"id": 1, "reference": "CAD 0001/01Jan26", "grade": "I", "lat": 51.5, "lon": -0.1,
           "bcu": "B01", "at": AT}  # fmt: skip
    assert set(replay._incident_row(inc, "open", 1)) == set(BOARD_FIELDS)


def test_a_job_row_has_the_fields_a_units_payload_reads(replay):
    row = replay._job_row(1, "B01", "I", AT)
    assert set(row) == set(JOB_FIELDS) - {"id", "unit_id"}
