"""An officer on a phone: PC booked on to CN01 on a shift that is on now, and a job."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from duties.models import Shift, ShiftAssignment, Team
from duties.services import crew_book_on
from duties.tests.conftest import make_officer
from resources import tasks
from resources.models import UnitStatus
from tests.factories import make_unit


@pytest.fixture(autouse=True)
def _no_recommendations(monkeypatch):
    monkeypatch.setattr(tasks.recommend_for_incident, "delay", lambda *a, **k: None)
    monkeypatch.setattr(tasks.recommend_near_unit, "delay", lambda *a, **k: None)


@pytest.fixture
def phone(geography, cast, make_user):
    cn = geography["CN"]
    team = Team.objects.create(bcu=cn, name="Team 1")
    user = make_user("officer", username="pc_cn")
    officer = make_officer(cn, team, user=user, last="Phone")
    mate = make_officer(cn, team, last="Mate")
    shift = Shift.objects.create(
        bcu=cn, team=team, kind="early", starts_at=timezone.now() - timedelta(hours=1),
        ends_at=timezone.now() + timedelta(hours=7),
    )  # fmt: skip
    for o in (officer, mate):
        ShiftAssignment.objects.create(shift=shift, officer=o)
    unit = make_unit(geography["kentish"], callsign="CN01", status=UnitStatus.OFF_DUTY)
    crew_book_on(unit=unit, shift=shift, officers=[officer, mate], by=cast.supervisor_all,
                 source="test")  # fmt: skip
    other = make_unit(geography["kentish"], callsign="CN02")
    client = Client()
    client.force_login(user)
    return {"user": user, "officer": officer, "unit": unit, "other": other, "client": client,
            "desk": cast.despatcher_all, "handler": cast.handler, "shift": shift}  # fmt: skip
