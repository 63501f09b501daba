"""The working-time rules at their edges, in elapsed time across London's clock changes."""

from datetime import UTC, date, datetime, time, timedelta

import pytest

from duties.rules import Interval, at_local, check_shifts, day_bounds, rest_day_notice


def utc(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def codes(existing, new):
    return [b.code for b in check_shifts(existing=existing, new=new)]


LATE = Interval(utc(2026, 11, 23, 15), utc(2026, 11, 23, 23), 1, "late")


def test_exactly_eleven_hours_rest_is_allowed():
    early = Interval(utc(2026, 11, 24, 10), utc(2026, 11, 24, 18), 2)
    assert codes([LATE], [early]) == []


def test_one_minute_short_of_eleven_hours_is_refused():
    early = Interval(utc(2026, 11, 24, 9, 59), utc(2026, 11, 24, 18), 2)
    breaches = check_shifts(existing=[LATE], new=[early])
    assert [b.code for b in breaches] == ["insufficient_rest"]
    assert breaches[0].overridable
    assert "10 h 59 min" in breaches[0].message


def test_rest_counts_backwards_too():
    earlier = Interval(utc(2026, 11, 23, 2), utc(2026, 11, 23, 8), 3)  # ends 7 h before the late
    assert codes([LATE], [earlier]) == ["insufficient_rest"]


def test_across_midnight_a_night_then_a_late():
    night = Interval(at_local(date(2026, 11, 23), time(22)), at_local(date(2026, 11, 24), time(7)))
    late_ok = Interval(
        at_local(date(2026, 11, 24), time(18)), at_local(date(2026, 11, 25), time(2))
    )
    late_short = Interval(at_local(date(2026, 11, 24), time(17, 59)), late_ok.end)
    assert codes([night], [late_ok]) == []
    assert codes([night], [late_short]) == ["insufficient_rest"]


def test_october_clock_change_uses_elapsed_time():
    # Late ends 23:00 BST on Sat 24 Oct 2026; clocks go back at 02:00 on Sunday.
    late = Interval(at_local(date(2026, 10, 24), time(15)), at_local(date(2026, 10, 24), time(23)))
    nine_gmt = Interval(
        at_local(date(2026, 10, 25), time(9)), at_local(date(2026, 10, 25), time(17))
    )
    eight_59 = Interval(at_local(date(2026, 10, 25), time(8, 59)), nine_gmt.end)
    assert nine_gmt.start - late.end == timedelta(hours=11)  # the wall clock says 10
    assert codes([late], [nine_gmt]) == []
    assert codes([late], [eight_59]) == ["insufficient_rest"]


def test_march_clock_change_uses_elapsed_time():
    # Late ends 23:00 GMT on Sat 28 Mar 2026; clocks go forward at 01:00 on Sunday.
    late = Interval(at_local(date(2026, 3, 28), time(15)), at_local(date(2026, 3, 28), time(23)))
    eleven_bst = Interval(
        at_local(date(2026, 3, 29), time(11)), at_local(date(2026, 3, 29), time(19))
    )
    ten_bst = Interval(at_local(date(2026, 3, 29), time(10)), eleven_bst.end)
    assert eleven_bst.start - late.end == timedelta(hours=11)  # the wall clock says 12
    assert codes([late], [eleven_bst]) == []
    assert codes([late], [ten_bst]) == ["insufficient_rest"]  # 11 h on the wall clock, 10 real


def test_clock_change_days_are_23_and_25_hours():
    lo, hi = day_bounds(date(2026, 10, 25))
    assert hi - lo == timedelta(hours=25)
    lo, hi = day_bounds(date(2026, 3, 29))
    assert hi - lo == timedelta(hours=23)


def test_overlap_is_double_booking_and_never_overridable():
    overlapping = Interval(utc(2026, 11, 23, 22), utc(2026, 11, 24, 7), 9)
    breaches = check_shifts(existing=[LATE], new=[overlapping])
    assert [b.code for b in breaches] == ["double_booked"]
    assert not breaches[0].overridable


def test_back_to_back_shifts_do_not_overlap_but_have_no_rest():
    after = Interval(LATE.end, LATE.end + timedelta(hours=8), 9)
    assert codes([LATE], [after]) == ["insufficient_rest"]


MONDAY_8AM = utc(2026, 11, 2, 8)


def _days(n: int, hours: float, first=MONDAY_8AM) -> list[Interval]:
    return [
        Interval(first + timedelta(days=i), first + timedelta(days=i, hours=hours), 100 + i)
        for i in range(n)
    ]


def test_seven_day_maximum_at_its_edge(settings):
    settings.DUTIES_MAX_HOURS_PER_7_DAYS = 60
    six = _days(6, 10)  # 60 h in six days: exactly the maximum
    assert codes(six[:5], six[5:]) == []
    longer = Interval(six[5].start, six[5].end + timedelta(minutes=1), 999)
    breaches = check_shifts(existing=six[:5], new=[longer])
    assert [b.code for b in breaches] == ["max_hours"]
    assert breaches[0].overridable and "60 h 01 min" in breaches[0].message


def test_seven_day_maximum_is_configurable(settings):
    settings.DUTIES_MAX_HOURS_PER_7_DAYS = 40
    five = _days(5, 8.5)
    assert codes(five[:4], five[4:]) == ["max_hours"]


def test_a_shift_outside_the_window_does_not_count(settings):
    settings.DUTIES_MAX_HOURS_PER_7_DAYS = 60
    six = _days(6, 10)
    week_later = Interval(six[0].start + timedelta(days=7), six[0].end + timedelta(days=7), 7)
    # The window that holds the new shift holds days 2..6 (50 h) plus it: 60 h, allowed.
    assert codes(six, [week_later]) == []


@pytest.mark.parametrize(
    "days_ahead, owed, reason_needed",
    [(15, False, False), (14, True, False), (8, True, False), (7, True, True), (0, True, True)],
)
def test_rest_day_notice_edges(days_ahead, owed, reason_needed):
    now = at_local(date(2026, 11, 2), time(12))
    notice = rest_day_notice(rest_day=date(2026, 11, 2) + timedelta(days=days_ahead), now=now)
    assert notice.notice_days == days_ahead
    assert notice.compensation_owed is owed
    assert notice.reason_required is reason_needed


def test_rest_day_notice_counts_london_days_not_utc():
    # 23:30 UTC on 30 June is already 1 July in London (BST): 14 days to 15 July, not 15.
    notice = rest_day_notice(rest_day=date(2026, 7, 15), now=utc(2026, 6, 30, 23, 30))
    assert notice.notice_days == 14 and notice.compensation_owed
