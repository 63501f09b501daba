"""The board's figures: the breach flag before the breach, strength against minimum, and the
coverage shading by the best I-grade time to each BCU's demand-weighted centre."""

from datetime import UTC, date, datetime, timedelta

from django.utils import timezone

from duties.figures.board import board_figures
from duties.models import Team
from duties.services import shift_officer_add
from duties.tests.conftest import make_officer, make_shift
from incidents.models import IncidentResponse
from resources import despatch
from tests.factories import make_incident, make_unit


def flagged(bcu=None) -> list[str]:
    return [r["reference"] for r in board_figures(bcu=bcu, now=timezone.now())["breach_risks"]]


def test_flag_appears_when_the_last_unit_near_an_i_grade_is_sent_elsewhere(cast, geography):
    by = cast.despatcher_all
    # One unit at Kentish Town, about 2 km from the Camden incident: a few minutes away.
    near = make_unit(geography["kentish"])
    # One in Brixton, about 10 km away: at the estimate's blue-light speed (45 km/h, with a 1.4
    # detour factor) about 19 minutes, past a 15-minute target.
    make_unit(geography["brixton"])
    urgent = make_incident(by, grade="I")
    assert flagged() == []
    other = make_incident(by, grade="I", where="camden", lat=51.55, lon=-0.141)
    despatch.assignment_create(incident=other, unit=near, by=by)
    risks = board_figures(bcu="CN", now=timezone.now())["breach_risks"]
    assert [r["reference"] for r in risks] == [urgent.reference]
    assert risks[0]["text"].startswith(f"No unit can make it: {urgent.reference} (I)")
    assert risks[0]["eta_seconds"] > risks[0]["seconds_left"]
    # Not in AS's view; a desk scoped there does not see CN's incident.
    assert flagged("AS") == []


def test_s_grade_has_an_hour_and_a_passed_target_is_no_forecast(cast, geography):
    by = cast.despatcher_all
    make_unit(geography["brixton"])  # ~19 minutes from Camden
    s_grade = make_incident(by, grade="S")
    long_ago = make_incident(by, grade="I", at=timezone.now() - timedelta(minutes=20))
    refs = flagged()
    assert s_grade.reference not in refs  # 19 minutes is within its 60
    assert long_ago.reference not in refs  # already breached: the queue's timer says so


def test_strength_against_minimum_and_coverage(cast, geography):
    now = timezone.now()
    local = timezone.localtime(now)
    team = Team.objects.create(bcu=geography["CN"], name="Team 1")
    start = (local - timedelta(hours=1)).time().replace(minute=0, second=0, microsecond=0)
    end = (local + timedelta(hours=2)).time().replace(minute=0, second=0, microsecond=0)
    day = (local - timedelta(hours=1)).date()
    shift = make_shift(geography["CN"], team, day, "early", start=start, end=end, minimum=3)
    shift_officer_add(shift=shift, officer=make_officer(geography["CN"], team),
                      by=cast.supervisor_cn, source="test")  # fmt: skip
    make_unit(geography["kentish"])
    figures = board_figures(bcu=None, now=now)
    strength = {r["bcu"]: r for r in figures["strength"]}
    assert strength["CN"] == {"bcu": "CN", "strength": 1, "minimum": 3, "short": True,
                              "units_free": 1}  # fmt: skip
    assert strength["AS"]["units_free"] == 0 and not strength["AS"]["short"]
    coverage = {r["bcu"]: r for r in figures["coverage"]}
    # No incidents yet: the centre is the middle of the BCU's borough (Camden's square is
    # centred on 51.545, -0.16), about 2 km from the Kentish Town unit.
    assert coverage["CN"]["centre"] == {"lat": 51.545, "lon": -0.16}
    assert coverage["CN"]["level"] == "good"
    # Lambeth is about 10 km from the only unit: past the I-grade target.
    assert coverage["AS"]["level"] == "over"
    make_incident(cast.despatcher_all, grade="E", lat=51.55, lon=-0.15)
    moved = {r["bcu"]: r for r in board_figures(bcu="CN", now=now)["coverage"]}
    assert moved["CN"]["centre"] == {"lat": 51.55, "lon": -0.15}  # weighted by demand


def test_board_figures_page_is_for_desks_in_scope(client, cast, geography):
    make_incident(cast.despatcher_all, grade="I", where="lambeth")  # no unit anywhere
    client.force_login(cast.despatcher_cn)
    body = client.get("/board/figures/").json()
    assert body["breach_risks"] == [] and [r["bcu"] for r in body["strength"]] == ["CN"]
    client.force_login(cast.despatcher_as)
    assert len(client.get("/board/figures/").json()["breach_risks"]) == 1
    client.force_login(cast.handler)
    assert client.get("/board/figures/").status_code == 403


def test_coverage_centre_counts_the_last_28_london_days(cast, geography):
    # 00:30 on 30 July in London is 23:30 on 29 July UTC: 28 days back is 2 July in London
    # (1 July in UTC). An incident of London's 1 July is outside the window.
    now = datetime(2026, 7, 29, 23, 30, tzinfo=UTC)
    incident = make_incident(cast.despatcher_all, grade="E", lat=51.55, lon=-0.15)
    IncidentResponse.objects.filter(incident=incident).update(day=date(2026, 7, 1))
    outside = {r["bcu"]: r for r in board_figures(bcu="CN", now=now)["coverage"]}
    assert outside["CN"]["incidents"] == 0
    IncidentResponse.objects.filter(incident=incident).update(day=date(2026, 7, 2))
    inside = {r["bcu"]: r for r in board_figures(bcu="CN", now=now)["coverage"]}
    assert inside["CN"]["incidents"] == 1
