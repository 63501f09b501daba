"""bench/fix_delivery.py: the soak times a fix once per desk, not every frame that repeats it.

A status change's `unit.updated` carries the unit's last fix; timed from that fix, a unit
cleared 20 s after the load stopped looked like 20 s of radio lag (stop 32's hour).
"""

import importlib

import pytest

from tests.servers import ROOT


@pytest.fixture
def fixes(monkeypatch):
    # Only for this import: bench/ holds modules (stats, replay) that would shadow others.
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    return importlib.import_module("fix_delivery").NewFixes()


def test_a_fix_is_timed_the_first_time_a_desk_hears_of_it(fixes):
    assert fixes.is_new("MD01", 100.0)
    assert fixes.is_new("MD01", 102.5)  # the unit's next fix


def test_a_status_change_repeating_the_last_fix_is_not_timed(fixes):
    assert fixes.is_new("MD01", 100.0)
    # Assigned, then cleared 20 s later with no fix in between: the same position, the same time.
    assert not fixes.is_new("MD01", 100.0)
    assert not fixes.is_new("MD01", 100.0)


def test_an_older_fix_arriving_late_is_not_timed(fixes):
    # A status change carried the newer fix first; the older fix's own frame tells the desk
    # nothing new.
    assert fixes.is_new("MD01", 105.0)
    assert not fixes.is_new("MD01", 102.5)


def test_each_unit_has_its_own_newest_fix(fixes):
    assert fixes.is_new("MD01", 100.0)
    assert fixes.is_new("MD02", 100.0)
    assert fixes.is_new("MD02", 90.0) is False
    assert fixes.is_new("MD03", 90.0)
