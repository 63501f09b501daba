"""Response figures (docs/stats.md) checked against a small world built by hand.

Every expected number below was worked out on paper from the world's times, not read back
from the code: the comments give the arithmetic.
"""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from duties.figures.selectors import percentile_from_histogram
from incidents.models import Incident, IncidentResponse
from incidents.services import incident_close, incident_regrade, incident_reopen
from resources import despatch
from resources.models import Unit, UnitStatus
from resources.services import unit_set_status
from tests.factories import make_closing_code, make_incident, make_unit

LONDON = ZoneInfo("Europe/London")
URL = "/api/v1/stats/response-times/"


def unit_clock_cleared_bypassing_services(unit: Unit) -> Unit:
    """make_unit stamps its status at now; the world replays the past, so forget that time
    (a unit that has never reported)."""
    Unit.objects.filter(pk=unit.pk).update(status_at=None)
    unit.refresh_from_db()
    return unit


def attend(incident: Incident, unit: Unit, by, *, sent: datetime, arrived: datetime) -> None:
    """Send `unit`, see it at scene at `arrived`, and free it again right after."""
    despatch.assignment_create(incident=incident, unit=unit, by=by, at=sent)
    unit_set_status(unit=unit, status=UnitStatus.AT_SCENE, at=arrived, source="test", by=by)
    unit_set_status(
        unit=unit, status=UnitStatus.AVAILABLE, at=arrived + timedelta(seconds=1), source="test"
    )


@pytest.fixture
def world(cast, geography):
    """Ten days ago, from 10:00 London time, in BCU CN (one more incident in AS):

    | # | grade made → now | received | first at scene  | counts as                       |
    | 1 | I                | 10:00    | +5 min (300 s)   | I, within                       |
    | 2 | I                | 11:00    | +20 min (1200 s) | I, breach                       |
    | 3 | I                | 12:00    | +10 min (600 s)  | I, within                       |
    | 4 | I → S            | 13:00    | +30 min (1800 s) | I (grade at creation), breach   |
    | 5 | S → I            | 14:00    | +40 min (2400 s) | S, within 60 min                |
    | 6 | I                | 15:00    | never            | I, against target (passed)      |
    | 8 | I, reopened      | 16:00    | +8 min (480 s), again after reopening | I once, 480 s |
    | 7 | I                | now - 5 min | not yet      | I, not judged: target not passed |
    | AS | I               | 10:00    | +100 s           | AS only                          |
    """
    by = cast.despatcher_all
    day = timezone.localdate() - timedelta(days=10)
    base = datetime(day.year, day.month, day.day, 10, tzinfo=LONDON)
    units = [
        unit_clock_cleared_bypassing_services(make_unit(geography["kentish"])) for _ in range(2)
    ]
    as_unit = unit_clock_cleared_bypassing_services(make_unit(geography["brixton"]))
    hour = timedelta(hours=1)
    minute = timedelta(minutes=1)

    def at(n: int) -> datetime:
        return base + n * hour

    i1 = make_incident(by, grade="I", at=at(0))
    attend(i1, units[0], by, sent=at(0), arrived=at(0) + 5 * minute)
    i2 = make_incident(by, grade="I", at=at(1))
    attend(i2, units[0], by, sent=at(1), arrived=at(1) + 20 * minute)
    i3 = make_incident(by, grade="I", at=at(2))
    attend(i3, units[0], by, sent=at(2), arrived=at(2) + 10 * minute)
    i4 = make_incident(by, grade="I", at=at(3))
    incident_regrade(incident=i4, by=by, grade="S", reason="calmer")
    attend(i4, units[0], by, sent=at(3), arrived=at(3) + 30 * minute)
    i5 = make_incident(by, grade="S", at=at(4))
    incident_regrade(incident=i5, by=by, grade="I", reason="weapon seen")
    attend(i5, units[0], by, sent=at(4), arrived=at(4) + 40 * minute)
    i6 = make_incident(by, grade="I", at=at(5))  # nobody ever went
    i8 = make_incident(by, grade="I", at=at(6))
    despatch.assignment_create(incident=i8, unit=units[0], by=by, at=at(6))
    unit_set_status(unit=units[0], status="at_scene", at=at(6) + 8 * minute, source="t", by=by)
    incident_close(incident=i8, by=by, closing_code=make_closing_code().code)
    incident_reopen(incident=i8, by=cast.supervisor_all, reason="rang back")
    despatch.assignment_create(incident=i8, unit=units[1], by=by)
    unit_set_status(unit=units[1], status="at_scene", source="test", by=by)
    i7 = make_incident(by, grade="I", at=timezone.now() - 5 * minute)  # still inside its target
    other = make_incident(by, grade="I", where="lambeth", at=base)
    attend(other, as_unit, by, sent=base, arrived=base + timedelta(seconds=100))
    return {"day": day, "i6": i6, "i7": i7, "i8": i8}


def figures(client, user, **params):
    client.force_login(user)
    return client.get(URL, params)


def test_cn_figures_follow_the_five_rules(client, cast, world):
    day = world["day"]
    r = figures(client, cast.supervisor_cn, **{"from": day.isoformat()})
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["from"] == day.isoformat() and body["to"] == timezone.localdate().isoformat()
    # I: #1 #2 #3 #4 #6 #7 #8 = 7 incidents; attended #1 #2 #3 #4 #8 = 5; within 300, 600,
    # 480 = 3; judged = the 5 attended + #6 (target passed) = 6 (#7 is still inside its
    # target) → 3/6 = 50 %. Times 300 480 600 1200 1800: p50 600; p90 at rank 0.9 × 4 = 3.6,
    # 1200 + 0.6 × (1800 - 1200) = 1560.
    assert body["grades"]["I"] == {
        "incidents": 7, "attended": 5, "within_target": 3, "pct_within_target": 50.0,
        "target_seconds": 900, "p50_seconds": 600.0, "p90_seconds": 1560.0,
    }  # fmt: skip
    # S: only #5 (made S, re-graded I), 2400 s within 3600 s.
    assert body["grades"]["S"] == {
        "incidents": 1, "attended": 1, "within_target": 1, "pct_within_target": 100.0,
        "target_seconds": 3600, "p50_seconds": 2400.0, "p90_seconds": 2400.0,
    }  # fmt: skip
    by_day = {(d["date"], d["grade"]): d for d in body["by_day"]}
    # Ten days ago: I #1 #2 #3 #4 #6 #8 = 6, within 3 of 6 judged; #7's day only #7, not
    # judged. #7's day is yesterday in the five minutes after London's midnight, so it is read
    # off #7 itself rather than taken as today.
    assert by_day[(day.isoformat(), "I")]["incidents"] == 6
    assert by_day[(day.isoformat(), "I")]["pct_within_target"] == 50.0
    seventh = (timezone.localdate(world["i7"].created_at).isoformat(), "I")
    assert by_day[seventh] == {"date": seventh[0], "grade": "I", "incidents": 1,
                               "pct_within_target": None}  # fmt: skip


def test_a_reopened_incident_counts_once_with_its_first_arrival(world):
    rows = IncidentResponse.objects.filter(incident=world["i8"])
    assert rows.count() == 1
    assert rows.get().response_seconds == 480


def test_an_earlier_arrival_reported_late_moves_the_clock_back(cast, geography):
    by = cast.despatcher_all
    received = timezone.now() - timedelta(hours=2)
    incident = make_incident(by, grade="I", at=received)
    first, second = (
        unit_clock_cleared_bypassing_services(make_unit(geography["kentish"])) for _ in range(2)
    )
    despatch.assignment_create(incident=incident, unit=first, by=by, at=received)
    despatch.assignment_create(incident=incident, unit=second, by=by, at=received)
    unit_set_status(unit=first, status="at_scene", at=received + timedelta(minutes=12),
                    source="radio")  # fmt: skip
    # The second unit's code 6 was delayed: it had arrived at 7 minutes.
    unit_set_status(unit=second, status="at_scene", at=received + timedelta(minutes=7),
                    source="radio")  # fmt: skip
    assert IncidentResponse.objects.get(incident=incident).response_seconds == 420


def test_a_retrospective_entry_counts_at_its_real_time(client, cast, geography):
    # Entered now, after an outage, for a call taken three days ago at 02:00 London time.
    day = timezone.localdate() - timedelta(days=3)
    received = datetime(day.year, day.month, day.day, 2, tzinfo=LONDON)
    make_incident(cast.despatcher_all, grade="S", at=received)
    body = figures(client, cast.admin, **{"from": day.isoformat(), "to": day.isoformat()}).json()
    assert body["grades"]["S"]["incidents"] == 1
    # Its S target (03:00 that night) passed long ago unattended: it counts against.
    assert body["grades"]["S"]["pct_within_target"] == 0.0
    assert body["by_day"] == [
        {"date": day.isoformat(), "grade": "S", "incidents": 1, "pct_within_target": 0.0}
    ]
    before = (day - timedelta(days=1)).isoformat()
    assert figures(client, cast.admin, **{"from": before, "to": before}).json()["by_day"] == []


def test_all_london_adds_the_other_bcu(client, cast, world):
    body = figures(client, cast.admin, **{"from": world["day"].isoformat()}).json()
    # CN's 7 plus AS's one at 100 s: within 4 of 7 judged; times 100 300 480 600 1200 1800,
    # p50 between 480 and 600 = 540.
    assert body["grades"]["I"]["incidents"] == 8
    assert body["grades"]["I"]["within_target"] == 4
    assert body["grades"]["I"]["pct_within_target"] == round(100 * 4 / 7, 1)
    assert body["grades"]["I"]["p50_seconds"] == 540.0
    as_only = figures(client, cast.admin, bcu="as", **{"from": world["day"].isoformat()}).json()
    assert as_only["grades"]["I"]["incidents"] == 1
    assert as_only["grades"]["I"]["p90_seconds"] == 100.0


def test_bcu_scope(client, cast, world):
    since = {"from": world["day"].isoformat()}
    assert figures(client, cast.supervisor_cn, bcu="AS", **since).status_code == 403
    assert figures(client, cast.supervisor_as, **since).json()["grades"]["I"]["incidents"] == 1
    assert (
        figures(client, cast.supervisor_all, bcu="CN", **since).json()["grades"]["I"]["incidents"]
        == 7
    )
    for user in (cast.despatcher_all, cast.handler, cast.outsider):
        assert figures(client, user).status_code == 403
    client.logout()
    assert client.get(URL).status_code in (401, 403)


@pytest.mark.parametrize(
    "params, field",
    [
        ({"from": "yesterday"}, "from"),
        ({"from": "2026-02-30"}, "from"),
        ({"from": "2026-03-02", "to": "2026-03-01"}, "to"),
        ({"from": "2024-01-01", "to": "2026-01-01"}, "to"),
        ({"bcu": "ZZ"}, "bcu"),
    ],
)
def test_bad_input_names_the_field(client, cast, geography, params, field):
    r = figures(client, cast.admin, **params)
    assert r.status_code == 400
    assert field in r.json()


def test_stats_page_shows_the_figures_and_links_the_breaches(client, cast, world):
    client.force_login(cast.supervisor_cn)
    r = client.get("/stats/", {"from": world["day"].isoformat()})
    assert r.status_code == 200
    html = r.content.decode()
    # #6 (never attended, ten days late) is the worst breach, linked to its incident.
    first_link = html.index('href="/incidents/')
    assert html[first_link:].startswith(f'href="/incidents/{world["i6"].pk}/"')
    assert "uPlot.iife.min.js" in html and 'data-table="trend"' in html
    assert "All London" not in html  # a scoped supervisor is not offered other BCUs


def test_stats_csv_exports_the_table(client, cast, world):
    client.force_login(cast.supervisor_cn)
    r = client.get("/stats/", {"from": world["day"].isoformat(), "csv": "grades"})
    assert r.status_code == 200 and r["Content-Type"].startswith("text/csv")
    lines = r.content.decode().splitlines()
    assert lines[0].startswith("Grade,Incidents,Attended,Within target")
    # I: 7 incidents, 5 attended, 3 within, 50 %, 15 min, median 10.0 min, p90 26.0 min.
    assert lines[1] == "I,7,5,3,50.0,15,10.0,26.0"
    heat = client.get("/stats/", {"from": world["day"].isoformat(), "csv": "demand"})
    rows = list(heat.content.decode().splitlines())
    weekday = world["day"].weekday()
    # Ten days ago from 10:00 to 16:00 one CN incident an hour (#1 to #6 and #8).
    counts = rows[1 + weekday].split(",")[1:]
    assert [int(n) for n in counts[10:17]] == [1] * 7


def test_stats_page_refuses_and_rejects(client, cast, world):
    client.force_login(cast.supervisor_cn)
    assert client.get("/stats/", {"bcu": "AS"}).status_code == 403
    assert client.get("/stats/", {"from": "soon"}).status_code == 400
    assert client.get("/stats/", {"csv": "nothing"}).status_code == 400
    client.force_login(cast.despatcher_cn)
    assert client.get("/stats/").status_code == 403


def test_percentiles_from_a_histogram_interpolate_like_percentile_cont():
    # Values 10, 20, 20, 40: p50 at rank 1.5 → 20; p90 at rank 2.7 → 20 + 0.7 × 20 = 34;
    # p0 → 10; p100 → 40.
    histogram = [(10, 1), (20, 2), (40, 1)]
    assert percentile_from_histogram(histogram, 0.5) == pytest.approx(20.0)
    assert percentile_from_histogram(histogram, 0.9) == pytest.approx(34.0)
    assert percentile_from_histogram(histogram, 0.0) == 10
    assert percentile_from_histogram(histogram, 1.0) == 40
    assert percentile_from_histogram([], 0.5) is None
