"""The demand forecast: the models on series worked out by hand, and the roster's marks."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from duties.figures.forecast import (
    HOURS_PER_WEEK,
    blended,
    forecast,
    hour_of_week_mean,
    mean_absolute_error,
    seasonal_naive,
)
from duties.figures.selectors import shifts_against_forecast
from duties.models import Team
from duties.services import shift_officer_add
from duties.tests.conftest import make_officer, make_shift
from tests.factories import make_incident

LONDON = ZoneInfo("Europe/London")


def test_seasonal_naive_repeats_the_last_week():
    history = [0.0] * HOURS_PER_WEEK + [float(h % 5) for h in range(HOURS_PER_WEEK)]
    out = seasonal_naive(history, 200)
    assert out[:3] == [0.0, 1.0, 2.0]
    assert out[HOURS_PER_WEEK + 7] == 2.0  # hour 7 of the second week again: 7 % 5
    with pytest.raises(ValueError):
        seasonal_naive([1.0] * 10)


def test_hour_of_week_mean_averages_the_weeks():
    # Week 1: 2 at every hour; week 2: 4 at hour 0, 0 elsewhere → hour 0: 3, others 1.
    history = [2.0] * HOURS_PER_WEEK + [4.0] + [0.0] * (HOURS_PER_WEEK - 1)
    out = hour_of_week_mean(history, HOURS_PER_WEEK)
    assert out[0] == pytest.approx(3.0)
    assert out[1] == pytest.approx(1.0)


def test_blend_shrinks_one_week_towards_the_hour_of_day():
    # One week: 7 at Monday 03:00, nothing else. The hour-of-day mean at 03:00 is 7/7 = 1.
    # Weight of the week's own value: 1 / (1 + 4) = 0.2 → Monday 03:00: 0.2 × 7 + 0.8 × 1 = 2.2;
    # Tuesday 03:00: 0.2 × 0 + 0.8 × 1 = 0.8; 04:00 anywhere: 0. Level: the mean of the week is
    # 7/168 and so is the profile's (2.2 + 6 × 0.8 = 7), so the scale is 1.
    history = [0.0] * HOURS_PER_WEEK
    history[3] = 7.0
    out = blended(history, HOURS_PER_WEEK)
    assert out[3] == pytest.approx(2.2)
    assert out[24 + 3] == pytest.approx(0.8)
    assert out[4] == 0.0
    assert sum(out) == pytest.approx(7.0)


def test_blend_follows_the_recent_level():
    # Four quiet weeks at 1 an hour, then four busy weeks at 3: the recent level is 3.
    history = [1.0] * (4 * HOURS_PER_WEEK) + [3.0] * (4 * HOURS_PER_WEEK)
    assert blended(history, 24) == pytest.approx([3.0] * 24)


def test_forecast_keeps_whichever_did_better_on_the_last_two_weeks():
    # A steady pattern (busy at 10:00 only) with a level that rises: ten weeks at 2, then
    # four at 4. Checked on the last two weeks (actual 4) from the twelve before: the blend
    # (level of weeks 9-12: 3) is out by 1, the plain mean (28/12 = 2.33) by 1.67: the blend
    # is kept, and refitted on all fourteen weeks its level is the last four's: 4.
    def week(level):
        return [level if h % 24 == 10 else 0.0 for h in range(HOURS_PER_WEEK)]

    history = [x for _ in range(10) for x in week(2.0)] + [x for _ in range(4) for x in week(4.0)]
    name, out = forecast(history, 24)
    assert name == "blended"
    assert out[10] == pytest.approx(4.0)
    assert mean_absolute_error([1.0, 2.0], [2.0, 2.0]) == 0.5


@pytest.fixture
def month_of_tens(cast, geography):
    """Four weeks of CN history: one incident every day at 10:30 London time."""
    today = timezone.localdate()
    for back in range(1, 29):
        day = today - timedelta(days=back)
        at = datetime(day.year, day.month, day.day, 10, 30, tzinfo=LONDON)
        make_incident(cast.despatcher_all, grade="S", at=at)
    team = Team.objects.create(bcu=geography["CN"], name="Team 1")
    tomorrow = today + timedelta(days=1)
    early = make_shift(geography["CN"], team, tomorrow, "early", start=time(7), end=time(15),
                       minimum=1)  # fmt: skip
    late = make_shift(geography["CN"], team, tomorrow, "late", start=time(15), end=time(23))
    shift_officer_add(shift=early, officer=make_officer(geography["CN"], team),
                      by=cast.supervisor_cn, source="test")  # fmt: skip
    return {"early": early, "late": late, "today": today}


def test_roster_forecast_marks_a_shift_over_the_ratio(cast, month_of_tens):
    # The early shift (07:00-15:00) holds 10:00: one incident forecast for one officer over
    # 8 hours, 1/8 = 0.125 an officer an hour. The late shift: nothing forecast, nobody rostered.
    rows = shifts_against_forecast(bcu="CN", today=month_of_tens["today"], ratio=0.1)
    by_id = {r["shift"]: r for r in rows}
    early, late = by_id[month_of_tens["early"].pk], by_id[month_of_tens["late"].pk]
    assert (early["forecast"], early["strength"], early["per_officer_hour"]) == (1.0, 1, 0.12)
    assert early["over"] is True
    assert (late["forecast"], late["per_officer_hour"], late["over"]) == (0.0, None, False)
    calmer = shifts_against_forecast(bcu="CN", today=month_of_tens["today"], ratio=0.2)
    assert not any(r["over"] for r in calmer)


def test_roster_page_shows_the_forecast(client, cast, month_of_tens, settings):
    settings.FORECAST_DEMAND_PER_OFFICER = 0.1
    client.force_login(cast.supervisor_cn)
    html = client.get("/roster/").content.decode()
    row = html[html.index(f'data-shift="{month_of_tens["early"].pk}"') :]
    row = row[: row.index("</tr>")]
    assert "Over" in row and "0.12" in row
