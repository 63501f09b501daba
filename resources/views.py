"""The despatch board page and the JSON it polls when the live socket is down."""

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from cad.accounts.preferences import SHORTCUTS
from cad.accounts.roles import CALL_HANDLER, DESPATCHER, SUPERVISOR, has_role, user_bcu_code
from cad.live.snapshot import board_snapshot
from cad.models import BCU, Borough
from incidents.models import GRADE_TARGETS, ClosingCode
from incidents.operations.models import Operation
from resources.models import UnitStatus
from resources.ringfence import operation_callsigns
from resources.timers import board_timers


def _require_desk(request) -> None:
    if not has_role(request.user, DESPATCHER, SUPERVISOR):
        raise PermissionDenied("The board is for despatchers and supervisors.")


@require_GET
def board(request):
    """The despatcher's screen: queue, units, map and incident panel, kept live over ws/board/."""
    _require_desk(request)
    config = {
        "bcu": user_bcu_code(request.user),
        "user": request.user.username,
        "ws_path": "/ws/board/",
        "snapshot_url": "/board/snapshot/",
        "boundaries_url": "/board/boundaries/",
        "tile_url": settings.MAP_TILE_URL,
        "tile_attribution": settings.MAP_TILE_ATTRIBUTION,
        "timers": board_timers(),
        "grade_targets": {
            g: int(t.total_seconds() // 60) if t else None for g, t in GRADE_TARGETS.items()
        },
        "bcus": list(BCU.objects.order_by("code").values("code", "name")),
        "statuses": [{"value": v, "label": str(label)} for v, label in UnitStatus.choices],
        "closing_codes": list(
            ClosingCode.objects.filter(active=True).order_by("code").values("code", "name")
        ),
        # What each shortcut does; the keys themselves are the user's (#user-prefs).
        "shortcuts": [{"action": s.action, "does": s.does} for s in SHORTCUTS],
        "operation": _operation_filter(request),
    }
    return render(request, "resources/board.html", {"config": config})


def _operation_filter(request) -> dict | None:
    """`?operation=<id>`: the board of one planned operation (its tagged incidents and its
    ring-fenced units; the live events carry the incident's `operation`)."""
    raw = request.GET.get("operation", "")
    if not raw.isdigit() or len(raw) > 12:
        return None
    operation = Operation.objects.filter(pk=int(raw)).first()
    if operation is None:
        return None
    return {"id": operation.pk, "name": operation.name,
            "units": operation_callsigns(operation)}  # fmt: skip


@require_GET
@never_cache
def board_snapshot_json(request):
    """The whole board for this desk: what the page polls while live updates are down."""
    _require_desk(request)
    return JsonResponse(board_snapshot(bcu=user_bcu_code(request.user)))


@require_GET
def boundaries(request):
    """Borough boundaries as GeoJSON, each tagged with its BCU, for the board's and the
    call-taker's maps (public geography: the whole control room may have it)."""
    if not has_role(request.user, CALL_HANDLER, DESPATCHER, SUPERVISOR):
        raise PermissionDenied("Borough boundaries are for the control room's maps.")
    features = [
        {
            "type": "Feature",
            "geometry": b["boundary"],
            "properties": {"name": b["name"], "bcu": b["bcu__code"]},
        }
        for b in Borough.objects.values("name", "bcu__code", "boundary").order_by("name")
    ]
    response = JsonResponse({"type": "FeatureCollection", "features": features})
    response["Cache-Control"] = "private, max-age=3600"
    return response
