"""`/audit/`: the audit trail, searched by incident, person, time and action (supervisors, admins).

The same filter, scope and access record as the API (cad/audit/api.py); the page adds a table
and a link to the CSV export of the same search.
"""

import json
from typing import Any
from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from cad.audit.api import AuditFilterSerializer
from cad.audit.search import AuditScopeError, audit_row, audit_search, can_search_audit
from cad.audit.trail import audit_trail_access_record, source_of
from cad.models import AuditEvent

PAGE_SIZE = 50
FILTER_NAMES = ("incident", "user", "from", "to", "action")


@require_GET
def audit_search_page(request):
    if not can_search_audit(request.user):
        raise PermissionDenied
    given = {name: request.GET.get(name, "") for name in FILTER_NAMES}
    form = AuditFilterSerializer(data={k: v for k, v in given.items() if v})
    context: dict[str, Any] = {
        "given": given,
        "actions": AuditEvent.Action.choices,
        "errors": {},
        "page": None,
        "rows": [],
    }
    if not form.is_valid():
        context["errors"] = {k: [str(m) for m in v] for k, v in form.errors.items()}
        return render(request, "audit/search.html", context, status=400)
    filters = form.audit_filter()
    try:
        rows = audit_search(user=request.user, filters=filters)
    except AuditScopeError as exc:
        raise PermissionDenied(str(exc)) from exc
    access = audit_trail_access_record(
        user=request.user, action=AuditEvent.Action.READ_PERSONAL, via="audit page",
        filters=filters.as_record(), source=source_of(request),
    )  # fmt: skip
    page = Paginator(rows.filter(pk__lt=access.pk), PAGE_SIZE).get_page(request.GET.get("page"))
    query = urlencode({k: v for k, v in given.items() if v})
    context.update(
        {
            "page": page,
            "rows": [
                # `when` shown on London's clock with its zone (GMT or BST), as the filter reads
                # times typed here; `at` (UTC, ISO) stays in the cell's datetime attribute.
                {
                    **audit_row(e),
                    "when": e.at,
                    "changes_text": json.dumps(e.changes, sort_keys=True),
                }
                for e in page
            ],
            "query": query,
            "csv_url": reverse("api-audit-csv") + (f"?{query}" if query else ""),
        }
    )
    return render(request, "audit/search.html", context)
