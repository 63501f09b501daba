"""The response figures from the daily roll-up (incidents.ResponseDay, kept by PostgreSQL
triggers) against the same figures read from every response row, on a randomized world that
goes through every kind of change the triggers must follow: bulk inserts, late arrivals,
earlier arrivals reported late, deletions, retrospective days, incidents still inside their
target, times on each side of the targets' boundary second, incidents outside every BCU.
"""

import random
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from duties.figures.selectors import response_figures
from incidents.models import Incident, IncidentResponse, ResponseDay
from tests.factories import incident_row_bypassing_services, make_incident
from tests.row_writes import row_writes

LONDON = ZoneInfo("Europe/London")
TARGETS = {"I": 900, "S": 3600, "E": None, "R": None}
# Times that land on, beside and across the bucket edges and the targets' boundary second.
AWKWARD = [0, 1, 59, 60, 839, 840, 899, 900, 901, 902, 3599, 3600, 3601, 86399, 86400, 99999]


def _response_row(incident: Incident, rng: random.Random, received: datetime, now: datetime):
    grade = incident.grade
    target = TARGETS[grade]
    wait = None
    if rng.random() < 0.85:
        wait = rng.choice(AWKWARD) if rng.random() < 0.3 else int(rng.lognormvariate(6.5, 0.8))
    arrived = received + timedelta(seconds=wait) if wait is not None else None
    if arrived is not None and arrived > now:
        wait = arrived = None  # not there yet
    local = received.astimezone(LONDON)
    return IncidentResponse(
        incident=incident, bcu=incident.bcu, grade=grade, received_at=received, day=local.date(),
        hour_of_week=local.weekday() * 24 + local.hour,
        target_at=received + timedelta(seconds=target) if target else None,
        first_at_scene_at=arrived, response_seconds=wait,
    )  # fmt: skip


@pytest.fixture
def random_world(cast, geography):
    """About 400 incidents over the last 40 days (and a cluster in the last hour), in CN, AS
    and outside every BCU, then changed after the fact."""
    rng = random.Random(19)
    now = timezone.now()
    bcus = [geography["CN"], geography["AS"], None]
    made = []
    for _ in range(400):
        grade = rng.choices("ISER", weights=[4, 4, 1, 1])[0]
        recent = rng.random() < 0.1
        ago = timedelta(seconds=rng.uniform(0, 3600 if recent else 40 * 86400))
        incident = incident_row_bypassing_services(
            by=cast.despatcher_all, lat=51.5, lon=-0.12, grade=grade, bcu=rng.choice(bcus)
        )
        made.append(_response_row(incident, rng, now - ago, now))
    IncidentResponse.objects.bulk_create(made)  # one statement: the insert trigger once

    rows = list(IncidentResponse.objects.order_by("pk"))
    for row in rng.sample(rows, 60):
        # A first arrival now recorded (late), or an earlier one reported late.
        wait = rng.choice(AWKWARD + [rng.randrange(0, 5000)])
        arrived = row.received_at + timedelta(seconds=wait)
        if arrived <= now and (row.response_seconds is None or wait < row.response_seconds):
            IncidentResponse.objects.filter(pk=row.pk).update(
                first_at_scene_at=arrived, response_seconds=wait
            )
    # One statement changing many rows in several cells at once.
    some = [r.pk for r in rng.sample(rows, 40)]
    IncidentResponse.objects.filter(pk__in=some, response_seconds__gt=100).update(
        response_seconds=100
    )
    Incident.objects.filter(pk__in=[r.pk for r in rng.sample(rows, 25)]).delete()
    return now


def _both(settings, **query) -> tuple[dict, dict]:
    settings.STATS_RESPONSE_ROLLUP = True
    rolled = response_figures(**query)
    settings.STATS_RESPONSE_ROLLUP = False
    live = response_figures(**query)
    return rolled, live


def test_rolled_up_figures_equal_the_live_ones(settings, random_world):
    now = random_world
    today = now.astimezone(LONDON).date()
    ranges = [
        (today - timedelta(days=45), today),  # everything
        (today - timedelta(days=30), today - timedelta(days=2)),  # settled days only
        (today, today),  # today alone: incidents still inside their target
        (today - timedelta(days=1), today),
        (today - timedelta(days=7), today - timedelta(days=7)),
        (today + timedelta(days=1), today + timedelta(days=3)),  # nothing there
    ]
    checked = 0
    for date_from, date_to in ranges:
        for bcu in (None, "CN", "AS"):
            query = {"bcu": bcu, "date_from": date_from, "date_to": date_to, "now": now}
            rolled, live = _both(settings, **query)
            assert rolled == live, query
            checked += rolled["grades"]["I"]["incidents"] + rolled["grades"]["S"]["incidents"]
    # The world is not empty where it matters: percentiles and shares were compared.
    everything, _ = _both(settings, bcu=None, date_from=today - timedelta(days=45),
                          date_to=today, now=now)  # fmt: skip
    assert everything["grades"]["I"]["p90_seconds"] is not None
    assert any(d["pct_within_target"] not in (None, 0.0, 100.0) for d in everything["by_day"])
    assert checked > 300


def test_rolled_up_figures_follow_the_clock(settings, random_world):
    """Judged or not is read at request time: an hour later every target has passed."""
    now = random_world
    today = now.astimezone(LONDON).date()
    later = now + timedelta(hours=1, seconds=1)
    rolled, live = _both(settings, bcu=None, date_from=today - timedelta(days=1), date_to=today,
                         now=later)  # fmt: skip
    assert rolled == live


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the roll-up is PostgreSQL's")
def test_the_triggers_keep_every_cell(random_world):
    expected: dict[tuple, int] = {}
    rows = IncidentResponse.objects.filter(grade__in="IS").values(
        "day", "bcu_id", "grade", "response_seconds"
    )
    edges = sorted({c.bucket for c in ResponseDay.objects.all()} | {0})
    for row in rows:
        seconds = row["response_seconds"]
        bucket = (
            ResponseDay.NOT_ATTENDED if seconds is None else max(e for e in edges if e <= seconds)
        )
        for key in ((row["day"], False, row["bcu_id"], row["grade"], bucket),
                    (row["day"], True, None, row["grade"], bucket)):  # fmt: skip
            expected[key] = expected.get(key, 0) + 1
    cells = {
        (c["day"], c["all_london"], c["bcu_id"], c["grade"], c["bucket"]): c["n"]
        for c in ResponseDay.objects.filter(n__gt=0).values(
            "day", "all_london", "bcu_id", "grade", "bucket", "n"
        )
    }
    assert cells == expected
    assert not ResponseDay.objects.filter(n__lt=0).exists()
    # No bucket straddles a target's boundary second (900 s within, 901 s not).
    assert {901, 3601} <= set(edges)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the roll-up is PostgreSQL's")
def test_a_bulk_load_reaches_the_roll_up_in_its_buckets(cast, geography):
    day = date(2026, 3, 2)
    received = datetime.combine(day, time(9), tzinfo=LONDON)
    incidents = [
        incident_row_bypassing_services(
            by=cast.despatcher_all, lat=51.5, lon=-0.12, grade="I", bcu=geography["CN"]
        )  # fmt: skip
        for _ in range(3)
    ]
    IncidentResponse.objects.bulk_create(
        IncidentResponse(incident=incident, bcu=incident.bcu, grade="I", received_at=received,
                         day=day, hour_of_week=9, target_at=received + timedelta(seconds=900),
                         first_at_scene_at=received + timedelta(seconds=s), response_seconds=s)
        for incident, s in zip(incidents, (300, 330, 901), strict=True)
    )  # fmt: skip
    cells = ResponseDay.objects.filter(day=day, all_london=False)
    summed = cells.values("bucket").annotate(n=Sum("n"))
    # 300 and 330 share the 300-359 bucket; 901 opens the first bucket past the I target.
    assert {c["bucket"]: c["n"] for c in summed} == {300: 2, 901: 1}


def test_a_creation_adds_to_its_cells_by_hot_updates(postgres, cast, geography):
    """Every creation adds one to two cells (its BCU's and all London's). With the count in the
    cells' index each such update wrote a new entry in all three of the table's indexes; now
    PostgreSQL updates the row in place on its page (a HOT update), which the table's fillfactor
    leaves room for. (This test's transaction holds the creations', so the counters are its.)"""
    make_incident(cast.handler, grade="I")  # the day's cells now exist
    before = row_writes("incidents_responseday")
    for _ in range(3):
        make_incident(cast.handler, grade="I")
    written = row_writes("incidents_responseday") - before
    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = 'incidents_responseday'")
        options = cursor.fetchone()[0]
    assert (written.updated, written.hot_updated) == (6, 6)
    assert "fillfactor=70" in options
