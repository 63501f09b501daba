"""bench/incident_create.py's `--history`: a year of closed incidents across the force's area
to start from, as a live table holds, kept apart from the run's own recent incidents."""

import importlib
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from incidents.models import Incident, IncidentStatus
from tests.servers import ROOT


@pytest.fixture
def bench(monkeypatch, db):
    # Only for this import: bench/ holds modules (stats, replay) that would shadow others.
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    module = importlib.import_module("incident_create")
    module.setup_world()
    return module


def test_the_history_is_a_closed_year_across_the_area_and_not_counted_as_recent(bench):
    bench.fill_history(2_000)
    history = Incident.objects.filter(reference__startswith=bench.HISTORY_PREFIX)

    assert history.count() == 2_000
    assert not history.exclude(status=IncidentStatus.CLOSED).exists()
    now = timezone.now()
    window = timedelta(minutes=settings.DUPLICATE_WINDOW_MINUTES)
    # None inside the duplicate window; the year covered end to end (2,000 draws leave no
    # month out); spread over the whole force area, beyond the box the creates fall in.
    assert not history.filter(created_at__gte=now - window).exists()
    months = {(now - at).days // 30 for at in history.values_list("created_at", flat=True)}
    assert months == set(range(13))  # days 1 to 365 ago, thirty at a time
    assert (
        history.filter(lat__lt=bench.LAT0).exists() and history.filter(lat__gt=bench.LAT1).exists()
    )
    assert (
        history.filter(lon__lt=bench.LON0).exists() and history.filter(lon__gt=bench.LON1).exists()
    )

    assert bench.recent_count() == 0
    bench.fill_recent(30)
    assert bench.recent_count() == 30 and Incident.objects.count() == 2_030
