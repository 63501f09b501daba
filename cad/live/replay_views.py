"""`/replay/`: the board at any moment, for supervisors and admins (docs/replay.md).

The page is a shell: `static/js/replay.js` asks `GET /api/v1/board/at/` for each moment (every
read audited there), `GET /api/v1/board/timeline/` for the events to step through, and
`GET /api/v1/audit/` for who did what around the moment.
"""

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from cad.accounts.roles import ADMIN, SUPERVISOR, has_role, user_bcu_code
from cad.live.replay import log_begins

PLAYBACK_SPEEDS = [1, 2, 5, 10, 30, 60]


@require_GET
def replay_page(request):
    if not has_role(request.user, SUPERVISOR, ADMIN):
        raise PermissionDenied("Replay is for supervisors and admins.")
    now = timezone.now()
    begins = log_begins()
    # The slider spans the last 24 hours (or the whole log when it is younger); any other
    # moment is one `?t=` away.
    start = max(begins, now - timedelta(hours=24)) if begins else now
    config = {
        "bcu": None if has_role(request.user, ADMIN) else user_bcu_code(request.user),
        "board_at_url": reverse("api-board-at"),
        "timeline_url": reverse("api-board-timeline"),
        "audit_url": reverse("api-audit"),
        "start": start.isoformat(),
        "end": now.isoformat(),
        "moment": request.GET.get("t", ""),
        "speeds": PLAYBACK_SPEEDS,
        "tile_url": settings.MAP_TILE_URL,
        "tile_attribution": settings.MAP_TILE_ATTRIBUTION,
    }
    return render(request, "live/replay.html", {"config": config, "empty": begins is None})
