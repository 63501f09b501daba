"""The resilience snapshot: one self-contained HTML file to work from when the server can't be
reached (issue 17; docs/fallback-log.md "Resilience snapshot").

It holds what a control room needs in the first hour of an outage: the open incidents, every
unit's state, the warning markers in force, the next 24 hours of the roster, and any major
incident or planned operation running. Inline CSS and nothing else: no script, no image, no
link, so it opens from a USB stick or a laptop's disk with the network off (a file has no
Content-Security-Policy; it needs none, having no script).

`manage.py resilience_snapshot` writes it; Celery beat refreshes it every 5 minutes to
RESILIENCE_SNAPSHOT_DIR. It lives in duties, the one app that sees incidents, units and rosters.
Callers' names and numbers are left out: the incident's summary and address are enough to
work from, and the file is copied where the audit trail cannot follow.
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone

from cad.audit.trail import audit_record
from duties.models import Shift, ShiftAssignment
from incidents.models import Incident, IncidentStatus, WarningMarker
from incidents.operations.models import MajorIncident, Operation
from resources.models import Assignment, Unit

FILENAME = "beacon-resilience.html"
ROSTER_HOURS = 24


def _assigned_units() -> dict[int, list[str]]:
    units: dict[int, list[str]] = {}
    for incident_id, callsign in Assignment.objects.filter(cleared_at__isnull=True).values_list(
        "incident_id", "unit__callsign"
    ):
        units.setdefault(incident_id, []).append(callsign)
    return units


def snapshot_context(*, now: datetime) -> dict[str, Any]:
    """Everything the file shows, read in a handful of queries."""
    on_job = _assigned_units()
    incidents = [
        {**row, "units": ", ".join(sorted(on_job.get(row["id"], [])))}
        for row in Incident.objects.exclude(status=IncidentStatus.CLOSED)
        .order_by("grade", "created_at")
        .values("id", "reference", "grade", "status", "type__code", "type__name", "address",
                "resolved_address", "summary", "created_at", "bcu__code", "operation__name")
    ]  # fmt: skip
    unit_job = dict(Assignment.objects.filter(cleared_at__isnull=True)
                    .values_list("unit__callsign", "incident__reference"))  # fmt: skip
    units = [
        {**row, "job": unit_job.get(row["callsign"], "")}
        for row in Unit.objects.filter(active=True).order_by("bcu__code", "callsign")
        .values("callsign", "type__code", "status", "emergency", "bcu__code", "station__name",
                "status_at", "lat", "lon")
    ]  # fmt: skip
    warnings = list(
        WarningMarker.objects.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .order_by("address").values("address", "text", "expires_at")
    )  # fmt: skip
    shifts = list(
        Shift.objects.filter(starts_at__lt=now + timedelta(hours=ROSTER_HOURS), ends_at__gt=now)
        .select_related("bcu", "team", "operation").order_by("starts_at", "bcu__code")
    )  # fmt: skip
    crews: dict[int, list[str]] = {}
    for a in (
        ShiftAssignment.objects.filter(shift__in=shifts)
        .select_related("officer")
        .order_by("officer__last_name", "officer__first_name")
    ):
        crews.setdefault(a.shift_id, []).append(f"{a.officer.collar_number} {a.officer}")
    roster = [
        {"shift": s, "officers": crews.get(s.pk, []), "strength": len(crews.get(s.pk, []))}
        for s in shifts
    ]
    majors = list(MajorIncident.objects.filter(stood_down_at__isnull=True)
                  .select_related("incident"))  # fmt: skip
    operations = list(Operation.objects.filter(starts_at__lt=now + timedelta(hours=ROSTER_HOURS),
                                               ends_at__gt=now).select_related("bcu"))  # fmt: skip
    return {"now": now, "incidents": incidents, "units": units, "warnings": warnings,
            "roster": roster, "majors": majors, "operations": operations,
            "roster_hours": ROSTER_HOURS}  # fmt: skip


def resilience_snapshot_html(*, now: datetime | None = None) -> str:
    return render_to_string("duties/resilience_snapshot.html",
                            snapshot_context(now=now or timezone.now()))  # fmt: skip


def resilience_snapshot_write(*, directory: str | os.PathLike[str]) -> Path:
    """Write the snapshot into `directory` (made if missing) and return its path.

    Written to a temporary file and renamed over the old one, so a reader never opens half a
    file; readable by its owner and group only (it names officers and victims' addresses).
    The write is audited as a disclosure (DPA 2018 s.62: the data leaves the system's control).
    """
    now = timezone.now()
    html = resilience_snapshot_html(now=now)
    target_dir = Path(directory)
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / FILENAME
    fd, tmp = tempfile.mkstemp(dir=target_dir, prefix=".resilience-", suffix=".html")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(html)
        os.chmod(tmp, 0o640)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    audit_record(user=None, action="disclose", object_type="duties.resilience_snapshot",
                 source="resilience_snapshot",
                 changes={"path": str(target), "at": now.isoformat()})  # fmt: skip
    return target
