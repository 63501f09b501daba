"""A small duty world: BCU CN with a team, officers with skills, supervisors in and out of scope."""

from datetime import date, time, timedelta
from itertools import count

import pytest
from django.utils import timezone

from duties.models import Officer, OfficerSkill, Shift, ShiftSkillRequirement, Team
from duties.rules import at_local
from tests.factories import make_skill

_collar = count(1000)


def make_officer(bcu, team=None, *, skills=(), expired=(), user=None, last="Smith") -> Officer:
    n = next(_collar)
    officer = Officer.objects.create(
        collar_number=f"{n}{bcu.code}", first_name=f"Alex{n}", last_name=last, bcu=bcu,
        team=team, user=user,
    )  # fmt: skip
    for code in skills:
        OfficerSkill.objects.create(officer=officer, skill=make_skill(code))
    for code in expired:
        OfficerSkill.objects.create(
            officer=officer, skill=make_skill(code), expires_on=date(2020, 1, 1)
        )
    return officer


def make_shift(bcu, team, day: date, kind="early", *, start=time(7), end=time(15),
               minimum=0, needs=()) -> Shift:  # fmt: skip
    end_day = day + timedelta(days=1) if end <= start else day
    shift = Shift.objects.create(
        bcu=bcu, team=team, kind=kind, starts_at=at_local(day, start),
        ends_at=at_local(end_day, end), minimum_strength=minimum,
    )  # fmt: skip
    for code, n in needs:
        ShiftSkillRequirement.objects.create(shift=shift, skill=make_skill(code), count=n)
    return shift


@pytest.fixture
def world(geography, cast, make_user):
    cn, as_ = geography["CN"], geography["AS"]
    team = Team.objects.create(bcu=cn, name="Team 1")
    return {
        "CN": cn,
        "AS": as_,
        "team": team,
        # The CN sergeant is named: the audit assertions read "sgt_cn".
        "sup": make_user("supervisor", bcu="CN", username="sgt_cn"),
        "sup_as": cast.supervisor_as,
        "central": cast.supervisor_all,
        "desp": cast.despatcher_cn,
        "handler": cast.handler,
        "a": make_officer(cn, team, skills=["TASER", "ADV"]),
        "b": make_officer(cn, team, skills=["TASER"], last="Jones"),
        "c": make_officer(cn, team, expired=["TASER"], last="Brown"),
        "kentish": geography["kentish"],
    }


@pytest.fixture
def future():
    """A Monday at least five weeks ahead: far enough that rest-day notice rules stay quiet."""
    today = timezone.localdate()
    monday = today + timedelta(days=35 - today.weekday())
    return monday
