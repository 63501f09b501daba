"""The soak's verdict (bench/soak.py), kept apart so that its rules are tested without servers.

A soak passes when nothing was lost, no server process grew by more than 10 % after the warm-up,
the radio backlog was cleared in the drain, and in no window after the warm-up did the radio lag
(a fix's `sent_at` to its `unit.updated` at a desk) reach `max_lag_s` at p99. Without the last
rule a run whose radio fell minutes behind and caught up in the drain passed (stop 21's notes).
"""

RSS_GROWTH_LIMIT_PCT = 10.0


def soak_verdict(
    *,
    lost: int,
    growth: dict[str, float],
    backlog: int,
    lag_p99_ms: list[float | None],
    max_lag_s: float,
) -> tuple[str, str]:
    """("PASS" or "FAIL", the reasons as one line). `growth`: RSS growth per process in %
    (empty: not measured, which fails); `lag_p99_ms`: each window's p99 after the warm-up
    (None where a window had no fix)."""
    rss_ok = bool(growth) and all(pct <= RSS_GROWTH_LIMIT_PCT for pct in growth.values())
    kept_up = backlog == 0
    lags = [ms for ms in lag_p99_ms if ms is not None]
    worst = max(lags, default=None)
    lag_ok = worst is not None and worst < max_lag_s * 1000
    passed = lost == 0 and rss_ok and kept_up and lag_ok
    rss = "yes" if rss_ok else "NO" if growth else "not measured"
    lag = "not measured" if worst is None else f"{'yes' if lag_ok else 'NO'}, worst {worst:,.0f} ms"
    reasons = (
        f"0 lost ({'yes' if lost == 0 else f'NO, {lost}'}), RSS growth after warm-up "
        f"<= {RSS_GROWTH_LIMIT_PCT:g} % ({rss}), radio kept up (backlog cleared in the drain: "
        f"{'yes' if kept_up else 'NO'}), radio lag p99 < {max_lag_s:g} s in every window after "
        f"warm-up ({lag})"
    )
    return ("PASS" if passed else "FAIL"), reasons
