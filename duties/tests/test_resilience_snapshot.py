"""`manage.py resilience_snapshot`: one self-contained HTML file (issue 17)."""

import re
from datetime import timedelta
from io import StringIO
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from cad.models import AuditEvent
from duties.tasks import write_resilience_snapshot
from duties.tests.conftest import make_shift
from incidents.services import warning_marker_create
from resources.services import unit_raise_emergency
from tests.factories import make_incident, make_unit


def test_snapshot_holds_incidents_units_warnings_and_roster(world, tmp_path):
    open_one = make_incident(world["handler"], summary="man with knife", caller_name="Zed Secret")
    unit = make_unit(world["kentish"], callsign="CN77")
    unit_raise_emergency(unit=unit, source="test", by=world["desp"])
    warning_marker_create(by=world["handler"], address="5 Dog Lane", lat=51.545, lon=-0.16,
                          text="Dangerous dog")  # fmt: skip
    today = timezone.localdate()
    # The next 07:00 start: within 24 hours whatever the time of day the test runs (tomorrow's
    # is 30 hours away at one in the morning).
    next_start = today if timezone.localtime().hour < 7 else today + timedelta(days=1)
    soon = make_shift(world["CN"], world["team"], next_start)
    far = make_shift(world["CN"], world["team"], today + timedelta(days=5))
    out = StringIO()
    call_command("resilience_snapshot", "--dir", str(tmp_path), stdout=out)
    path = Path(out.getvalue().strip())
    html = path.read_text()
    assert open_one.reference in html and "man with knife" in html
    assert "CN77" in html and "EMERGENCY" in html
    assert "Dangerous dog" in html
    assert "Zed Secret" not in html  # callers' details stay in the CAD
    roster = html.split('id="roster"')[1]
    assert timezone.localtime(soon.starts_at).strftime("%H:%M %d %b") in roster
    assert timezone.localtime(far.starts_at).strftime("%d %b") not in roster  # beyond 24 h
    # Self-contained: no script, no external reference of any kind.
    assert "<script" not in html
    assert not re.search(r"""(src|href)\s*=|url\(|@import""", html)
    assert AuditEvent.objects.filter(
        action="disclose", object_type="duties.resilience_snapshot"
    ).exists()


def test_beat_refreshes_it_every_five_minutes():
    entry = settings.CELERY_BEAT_SCHEDULE["resilience-snapshot"]
    assert entry["task"] == "duties.tasks.write_resilience_snapshot"
    assert entry["schedule"] == 300.0


def test_the_task_writes_to_the_configured_directory(world, tmp_path, settings):
    settings.RESILIENCE_SNAPSHOT_DIR = str(tmp_path / "snap")
    write_resilience_snapshot()
    assert (tmp_path / "snap" / "beacon-resilience.html").exists()
