"""Reads of incidents, shaped for the screens and the API."""

from django.db.models import Q

from incidents.models import Incident, IncidentStatus


def incidents_for_board(*, bcu: str | None) -> list[dict]:
    """Open incidents for the board, in one query (plus none per row)."""
    rows = Incident.objects.exclude(status=IncidentStatus.CLOSED)
    if bcu:
        # A local desk also sees incidents its own units are working across the border.
        rows = rows.filter(
            Q(bcu__code=bcu)
            | Q(assignments__cleared_at__isnull=True, assignments__unit__bcu__code=bcu)
        ).distinct()
    return [
        {
            "id": r["id"],
            "reference": r["reference"],
            "type": r["type__code"],
            "type_name": r["type__name"],
            "grade": r["grade"],
            "status": r["status"],
            "summary": r["summary"],
            "location": {"lat": r["lat"], "lon": r["lon"], "address": r["address"],
                         "bcu": r["bcu__code"]},
            "created_at": r["created_at"].isoformat(),
            "due_at": r["due_at"].isoformat() if r["due_at"] else None,
            "version": r["version"],
        }
        for r in rows.values(
            "id", "reference", "type__code", "type__name", "grade", "status", "summary",
            "lat", "lon", "address", "bcu__code", "created_at", "due_at", "version",
        ).order_by("created_at")
    ]  # fmt: skip
