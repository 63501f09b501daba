"""Reads for an officer's phone: their unit now, its job, the jobs of this shift.

Everything is reached from the account: the officer linked to it, their open crewing (the unit
they are booked on to now) and that unit's active assignment. Nothing here takes an id from the
phone, so there is no other officer's or unit's row to ask for.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User

from duties.models import Crewing, Officer
from incidents.models import Call, Incident, IncidentStatus
from incidents.selectors import incident_detail, location_history, warnings_near
from resources.models import Assignment, Unit, UnitStatus
from resources.selectors import unit_detail
from resources.services import ALLOWED_TRANSITIONS

# The statuses a phone may set (api.md); `assigned` comes only from a despatcher, `off_duty`
# from booking off.
PHONE_STATUSES = (UnitStatus.EN_ROUTE, UnitStatus.AT_SCENE, UnitStatus.AVAILABLE,
                  UnitStatus.UNAVAILABLE)  # fmt: skip
# Named in SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"] (PhoneStatusEnum): a subset of the unit's
# statuses, which the schema would otherwise give a colliding name.
PHONE_STATUS_CHOICES = [(s.value, s.label) for s in PHONE_STATUSES]
ON_THE_WAY = (UnitStatus.EN_ROUTE, UnitStatus.AT_SCENE)
# Log lines the phone shows: the latest, not a long job's whole history.
JOB_LOG_LINES = 20
# Qualifiers under which the caller must not be called back from an officer's phone (a
# domestic: the number may be the suspect's too). Settings may widen the list.
NO_CALLBACK_QUALIFIERS = frozenset(
    getattr(settings, "OFFICER_NO_CALLBACK_QUALIFIERS", ("DOMESTIC", "DA"))
)


@dataclass(frozen=True)
class Post:
    """Where the signed-in officer stands now: their record, and their crewing if booked on."""

    officer: Officer
    crewing: Crewing | None

    @property
    def unit(self) -> Unit | None:
        return self.crewing.unit if self.crewing else None


def officer_post(*, user: User | AnonymousUser) -> Post | None:
    """The officer linked to `user` and the unit they are booked on to now; None if unlinked."""
    if not user.is_authenticated:
        return None
    officer = Officer.objects.select_related("bcu").filter(user=user, active=True).first()
    if officer is None:
        return None
    crewing = (
        Crewing.objects.select_related("unit__bcu", "shift")
        .filter(officer=officer, booked_off_at__isnull=True)
        .first()
    )
    return Post(officer=officer, crewing=crewing)


def unit_current_incident_id(*, unit: Unit) -> int | None:
    return (
        Assignment.objects.filter(unit=unit, cleared_at__isnull=True)
        .values_list("incident_id", flat=True)
        .first()
    )


def me_payload(*, user: User, post: Post) -> dict[str, Any]:
    """`GET /api/v1/me/` (api.md "Officers' own view"), plus the crew and the unit's payload."""
    unit = post.unit
    unit_part = None
    if unit is not None:
        board = unit_detail(unit=unit)
        crew = [
            {"collar_number": c.officer.collar_number, "name": c.officer.name,
             "rank": c.officer.rank}
            for c in Crewing.objects.select_related("officer")
            .filter(unit=unit, booked_off_at__isnull=True)
            .order_by("officer__collar_number")
        ]  # fmt: skip
        # The buttons the phone offers: the unit's transition graph (resources/services.py), so
        # the phone and the server cannot disagree; the server checks again on every press.
        nexts = [
            s for s in PHONE_STATUSES
            if s in ALLOWED_TRANSITIONS.get(board["status"], ())
            and (board["incident"] is not None or s not in ON_THE_WAY)
        ]  # fmt: skip
        unit_part = {
            "callsign": unit.callsign,
            "next_statuses": [str(s) for s in nexts],
            # The whole graph, so a phone without signal can offer the right buttons after a
            # press it has only queued.
            "transitions": {
                str(a): [str(b) for b in PHONE_STATUSES if b in tos]
                for a, tos in ALLOWED_TRANSITIONS.items()
            },
            "status": board["status"],
            "incident": board["incident"],
            "type": board["type"],
            "emergency": board["emergency"],
            "status_at": board["status_at"],
            "job": board["job"],
            "crew": crew,
        }
    return {
        "username": user.username,
        "roles": sorted(user.groups.values_list("name", flat=True)),
        "officer": {
            "collar_number": post.officer.collar_number,
            "name": post.officer.name,
            "bcu": post.officer.bcu.code,
        },
        "unit": unit_part,
    }


def callback_allowed(*, incident: Incident) -> bool:
    """May the crew ring the caller back? Not once the job is closed, not under a qualifier
    that makes it unsafe, and only when a caller left a number."""
    if incident.status == IncidentStatus.CLOSED:
        return False
    if incident.qualifiers.filter(code__in=NO_CALLBACK_QUALIFIERS).exists():
        return False
    return Call.objects.filter(incident=incident).exclude(caller_phone="").exists()


def callback_number(*, incident: Incident) -> str:
    """The latest caller's number (the one most likely to answer now)."""
    phone = (
        Call.objects.filter(incident=incident)
        .exclude(caller_phone="")
        .order_by("-received_at", "-id")
        .values_list("caller_phone", flat=True)
        .first()
    )
    return phone or ""


def job_payload(*, incident: Incident, unit: Unit, user: User) -> dict[str, Any]:
    """`GET /api/v1/me/job/`: the incident's shape with warnings and location history, the
    latest log lines, this unit's assignment, and whether a call-back number may be read.
    Callers' names and numbers are never in it (the number is its own audited read)."""
    detail = incident_detail(incident=incident, user=user, personal=False)
    lat, lon = detail["location"]["lat"], detail["location"]["lon"]
    detail["log"] = detail["log"][-JOB_LOG_LINES:]
    detail["warnings"] = (
        [{"text": w["text"], "address": w["address"], "distance_m": w["distance_m"]}
         for w in warnings_near(lat=lat, lon=lon)]
        if lat is not None else []
    )  # fmt: skip
    detail["location_history"] = (
        location_history(lat=lat, lon=lon, exclude_id=incident.pk) if lat is not None else []
    )
    mine = (
        Assignment.objects.filter(unit=unit, incident=incident)
        .order_by("-assigned_at")
        .values("assigned_at", "acknowledged_at", "en_route_at", "at_scene_at")
        .first()
    )
    detail["my_assignment"] = (
        {k: _iso(cast(datetime | None, v)) for k, v in mine.items()} if mine else None
    )
    detail["callback_allowed"] = callback_allowed(incident=incident)
    return detail


def shift_jobs(*, post: Post) -> list[dict[str, Any]]:
    """The unit's jobs since this crew booked on, newest first: a summary, no personal data."""
    if post.crewing is None:
        return []
    return [
        {
            "id": a["incident_id"],
            "reference": a["incident__reference"],
            "type": a["incident__type__code"],
            "type_name": a["incident__type__name"],
            "grade": a["incident__grade"],
            "status": a["incident__status"],
            "address": a["incident__address"],
            "assigned_at": _iso(a["assigned_at"]),
            "cleared_at": _iso(a["cleared_at"]),
        }
        for a in Assignment.objects.filter(
            unit=post.crewing.unit, assigned_at__gte=post.crewing.booked_on_at
        )
        .order_by("-assigned_at")
        .values(
            "incident_id",
            "incident__reference",
            "incident__type__code",
            "incident__type__name",
            "incident__grade",
            "incident__status",
            "incident__address",
            "assigned_at",
            "cleared_at",
        )  # fmt: skip
    ]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
