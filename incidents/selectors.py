"""Reads of incidents, shaped for the screens and the API."""

from django.db.models import Q

from incidents.events import BOARD_FIELDS, board_incident
from incidents.models import Incident, IncidentStatus


def incidents_for_board(*, bcu: str | None) -> list[dict]:
    """Open incidents for the board, in one query however many there are."""
    rows = Incident.objects.exclude(status=IncidentStatus.CLOSED)
    if bcu:
        # A local desk also sees incidents its own units are working across the border.
        rows = rows.filter(
            Q(bcu__code=bcu)
            | Q(assignments__cleared_at__isnull=True, assignments__unit__bcu__code=bcu)
        ).distinct()
    return [board_incident(r) for r in rows.values(*BOARD_FIELDS).order_by("created_at")]
