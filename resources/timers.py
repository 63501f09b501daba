"""Job timers: a unit slow to go, or long at scene, is flagged on the board.

Thresholds are minutes per incident grade, overridable with `settings.BOARD_TIMERS`
(same shape; a grade or key left out keeps its default, `None` switches a timer off).
The flags are computed from the assignment's own times, so they need no background job:
the board recomputes them every second from the `job` block of each unit, and
`timer_flags` gives the same answer on the server (for tests, reports and the API).
"""

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, cast

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from resources.models import Assignment

# assigned but not en route after N minutes; at scene longer than M minutes.
DEFAULT_TIMERS: dict[str, dict[str, int | None]] = {
    "I": {"not_en_route": 2, "at_scene": 60},
    "S": {"not_en_route": 10, "at_scene": 90},
    "E": {"not_en_route": 30, "at_scene": 120},
    "R": {"not_en_route": 30, "at_scene": 120},
}
KINDS = ("not_en_route", "at_scene")


def board_timers() -> dict[str, dict[str, int | None]]:
    """The thresholds in force: defaults overlaid with settings.BOARD_TIMERS."""
    configured = getattr(settings, "BOARD_TIMERS", None) or {}
    merged: dict[str, dict[str, int | None]] = {}
    for grade, defaults in DEFAULT_TIMERS.items():
        merged[grade] = {**defaults, **(configured.get(grade) or {})}
    return merged


def job_flag(job: Mapping[str, Any], *, now: datetime, timers: dict | None = None) -> str | None:
    """'not_en_route', 'at_scene' or None for one active job (times as datetimes)."""
    limits = (timers or board_timers()).get(job["grade"], {})
    if job["at_scene_at"] is not None:
        limit = limits.get("at_scene")
        if limit is not None and now - job["at_scene_at"] > timedelta(minutes=limit):
            return "at_scene"
        return None
    if job["en_route_at"] is None:
        limit = limits.get("not_en_route")
        if limit is not None and now - job["assigned_at"] > timedelta(minutes=limit):
            return "not_en_route"
    return None


def timer_flags(*, bcu: str | None = None, now: datetime | None = None) -> list[dict[str, Any]]:
    """Active jobs past a threshold: [{"unit", "incident", "flag", "since"}], oldest first."""
    now = now or timezone.now()
    timers = board_timers()
    jobs = Assignment.objects.filter(cleared_at__isnull=True)
    if bcu:
        jobs = jobs.filter(incident__bcu__code=bcu) | jobs.filter(unit__bcu__code=bcu)
    flagged = []
    for job in jobs.values(
        "unit__callsign", "incident_id", "assigned_at", "en_route_at", "at_scene_at",
        grade=F("incident__grade"),
    ).order_by("assigned_at"):  # fmt: skip
        flag = job_flag(job, now=now, timers=timers)
        if flag:
            since = job["at_scene_at"] if flag == "at_scene" else job["assigned_at"]
            since = cast(datetime, since)  # "at_scene" is flagged only once at_scene_at is set
            flagged.append(
                {"unit": job["unit__callsign"], "incident": job["incident_id"], "flag": flag,
                 "since": since.isoformat()}
            )  # fmt: skip
    return flagged
