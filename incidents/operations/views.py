"""Pages: planned operations (list, the operation page, its printable briefing) and the
printable fallback log sheet. Read-only: changes go through the API."""

from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from cad.accounts.roles import user_bcu_code
from incidents.operations import permissions as perms
from incidents.operations import selectors
from incidents.operations.models import Operation

# Blank lines on one printed sheet: a busy desk fills one in under an hour.
FALLBACK_ROWS = 18


def _readable(request) -> None:
    if not perms.can_read(request.user):
        raise PermissionDenied


@require_GET
def operation_list(request):
    _readable(request)
    rows = selectors.operation_list(scope=user_bcu_code(request.user))
    return render(request, "incidents/operation_list.html", {"operations": rows})


@require_GET
def operation_page(request, pk: int):
    """The operation: area, times, commander, briefing, ring-fenced units, officers drawn from
    the roster, tagged incidents and its log."""
    _readable(request)
    operation = get_object_or_404(Operation.objects.select_related("bcu"), pk=pk)
    detail = selectors.operation_detail(operation=operation)
    return render(request, "incidents/operation.html", {"op": operation, "detail": detail})


@require_GET
def operation_briefing(request, pk: int):
    """The briefing for paper: what a serial needs at parade, nothing to click."""
    _readable(request)
    operation = get_object_or_404(Operation.objects.select_related("bcu"), pk=pk)
    detail = selectors.operation_detail(operation=operation)
    return render(request, "incidents/operation_briefing.html", {"op": operation, "detail": detail})


@require_GET
def fallback_sheet(request):
    """The fallback log sheet, to print before an outage: its columns are import_fallback's."""
    _readable(request)
    return render(request, "incidents/fallback_sheet.html", {"rows": range(1, FALLBACK_ROWS + 1)})
