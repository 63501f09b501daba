"""bench/soak_verdict.py: the soak's pass/fail rules (issue 23, point 4), without the servers.

A soak whose radio fell two minutes behind and caught up in the drain used to pass; these hold
the verdict to every rule it states.
"""

import importlib

import pytest

from tests.servers import ROOT

STEADY = {"daphne": 2.0, "celery-radio": -1.0}


@pytest.fixture
def verdict(monkeypatch):
    # Only for this import: bench/ holds modules (stats, replay) that would shadow others.
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    return importlib.import_module("soak_verdict").soak_verdict


def test_a_clean_run_passes(verdict):
    outcome, reasons = verdict(lost=0, growth=STEADY, backlog=0,
                               lag_p99_ms=[800.0, 950.0, None], max_lag_s=10)  # fmt: skip
    assert outcome == "PASS"
    assert "worst 950 ms" in reasons


def test_radio_that_fell_behind_fails_even_if_the_drain_caught_up(verdict):
    # stop 21's "before" run: lag p99 rising to 125 s, backlog cleared in the drain, 0 lost.
    lags = [42_500.0, 77_800.0, 125_700.0]
    outcome, reasons = verdict(lost=0, growth=STEADY, backlog=0, lag_p99_ms=lags, max_lag_s=10)
    assert outcome == "FAIL"
    assert "radio lag p99 < 10 s in every window after warm-up (NO, worst 125,700 ms)" in reasons


def test_the_lag_limit_is_strict(verdict):
    assert verdict(lost=0, growth=STEADY, backlog=0, lag_p99_ms=[10_000.0],
                   max_lag_s=10)[0] == "FAIL"  # fmt: skip
    assert verdict(lost=0, growth=STEADY, backlog=0, lag_p99_ms=[9_999.0],
                   max_lag_s=10)[0] == "PASS"  # fmt: skip


@pytest.mark.parametrize(
    "change",
    [
        {"lost": 1},
        {"growth": {"daphne": 10.5}},
        {"growth": {}},  # not measured is not a pass
        {"backlog": 12},
        {"lag_p99_ms": [None, None]},  # no fix reached a desk after the warm-up
    ],
)
def test_each_other_rule_fails_on_its_own(verdict, change):
    run = {"lost": 0, "growth": STEADY, "backlog": 0, "lag_p99_ms": [900.0], "max_lag_s": 10}
    outcome, _ = verdict(**{**run, **change})
    assert outcome == "FAIL"
