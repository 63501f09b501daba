"""`/stats/what-if/`: the simulator's runs side by side for supervisors and admins, with CSV."""

import csv
import io
from datetime import UTC, date, datetime

import pytest
from django.test import override_settings

from duties.simulation.services import (
    Change,
    DayResult,
    SimulationError,
    simulation_run_record,
)

pytestmark = pytest.mark.django_db
URL = "/stats/what-if/"


def _figures(pct: float, p50: float, p90: float) -> dict:
    grade = {"incidents": 40, "attended": 40, "within_target": int(pct * 0.4),
             "pct_within_target": pct, "target_seconds": 900, "p50_seconds": p50,
             "p90_seconds": p90}  # fmt: skip
    return {"I": grade, "S": {**grade, "target_seconds": 3600}}


@pytest.fixture
def runs(cast):
    with override_settings(TRAINING=True):
        base = simulation_run_record(
            result=DayResult(80, 80, _figures(90.0, 420.0, 780.0), 90000.0, 45.0),
            source="sf", day=date(2020, 4, 9), seed=5, change=Change(), by=cast.supervisor_all,
        )  # fmt: skip
        variant = simulation_run_record(
            result=DayResult(80, 80, _figures(75.0, 510.0, 1020.0), 90000.0, 50.0),
            source="sf", day=date(2020, 4, 9), seed=5, change=Change("fewer-units", "10%"),
            by=cast.supervisor_all, baseline=base,
        )  # fmt: skip
    return base, variant


def test_a_supervisor_sees_the_variant_beside_its_baseline(client, cast, runs):
    base, variant = runs
    client.force_login(cast.supervisor_cn)
    page = client.get(URL).content.decode()
    assert f"as it was (run {base.pk}) and fewer-units=10% (run {variant.pk})" in page
    # Median 7.0 → 8.5 minutes, 90th percentile 13.0 → 17.0, share 90 → 75.
    for cells in ("<td>7.0</td><td>8.5</td><td>1.5</td>", "<td>13.0</td><td>17.0</td><td>4.0</td>",
                  "<td>90.0</td><td>75.0</td><td>-15.0</td>"):  # fmt: skip
        assert cells in page
    assert "2000" in page  # 90,000 simulated seconds in 45: 2,000 times real time


def test_each_table_is_a_csv(client, cast, runs):
    base, variant = runs
    client.force_login(cast.admin)
    response = client.get(URL, {"csv": f"run-{variant.pk}"})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["Measure", "As it was", "fewer-units=10%", "Difference"]
    assert ["I median (min)", "7.0", "8.5", "1.5"] in rows
    runs_csv = list(csv.reader(io.StringIO(client.get(URL, {"csv": "runs"}).content.decode())))
    assert [r[0] for r in runs_csv[1:]] == [str(variant.pk), str(base.pk)]
    bad = client.get(URL, {"csv": "nope"})
    assert bad.status_code == 400 and "No table called" in bad.content.decode()


def test_only_supervisors_and_admins(client, cast):
    assert client.get(URL).status_code == 302  # to sign in
    for user in (cast.handler, cast.despatcher_all):
        client.force_login(user)
        assert client.get(URL).status_code == 403
    client.force_login(cast.supervisor_as)
    page = client.get(URL)
    assert page.status_code == 200 and "No what-if has been run yet" in page.content.decode()


def test_runs_are_kept_only_on_a_training_instance(cast):
    with pytest.raises(SimulationError, match="training instance"):
        simulation_run_record(result=DayResult(1, 1, {}, 1.0, 1.0), source="sf",
                              day=date(2020, 4, 9), seed=1, change=Change(), by=None)  # fmt: skip


def test_played_at_is_londons_clock(client, cast, runs):
    base, variant = runs
    # 23:30 UTC on 1 July is 00:30 on 2 July in London (BST).
    type(base).objects.filter(pk=base.pk).update(
        created_at=datetime(2026, 7, 1, 23, 30, tzinfo=UTC)
    )
    client.force_login(cast.admin)
    rows = list(csv.reader(io.StringIO(client.get(URL, {"csv": "runs"}).content.decode())))
    played = {r[0]: r[-1] for r in rows[1:]}
    assert played[str(base.pk)] == "2026-07-02 00:30"
