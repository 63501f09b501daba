"""`GET /api/v1/audit/` and `GET /api/v1/audit/csv/`: search and export the audit trail.

Supervisors and admins only; BCU scope as cad/audit/search.py describes. Each search is recorded
as a consultation and each export as a disclosure, with the filter used.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import datetime, time, timedelta
from itertools import islice
from typing import cast

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.pagination import PageNumberPagination
from rest_framework.views import APIView

from cad.audit.search import (
    AuditFilter,
    AuditScopeError,
    audit_csv_lines,
    audit_incident_find,
    audit_row,
    audit_search,
    can_search_audit,
)
from cad.audit.trail import audit_trail_access_record, source_of
from cad.models import AuditEvent


class MomentField(serializers.Field):
    """An ISO 8601 date-time, or a date meaning the start of that day, in the force's time.

    A bare date is a London day (TIME_ZONE), as the CAD's references, the figures and the
    rosters count days: "1 July" in summer starts at 23:00 UTC on 30 June. A date-time without
    an offset is London's wall clock too; one with an offset or `Z` is taken as given.
    `end_of_day` makes a bare date in `to` include that whole day (23 or 25 hours when the
    clocks change).
    """

    default_error_messages = {"invalid": "Give a date (2026-11-30) or an ISO 8601 date-time."}

    def __init__(self, *, end_of_day: bool = False, **kwargs):
        self.end_of_day = end_of_day
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str) or len(data) > 40:
            self.fail("invalid")
        # A bare date first: Python 3.11's fromisoformat, behind parse_datetime, reads
        # "2026-11-30" as midnight, and `to` would lose the day it names.
        try:
            day = parse_date(data)
            moment = None if day else parse_datetime(data)
        except ValueError:
            self.fail("invalid")
        if day is not None:
            if not 1900 <= day.year <= 9000:
                self.fail("invalid")
            if self.end_of_day:
                day += timedelta(days=1)
            return datetime.combine(day, time.min, tzinfo=timezone.get_default_timezone())
        if moment is None:
            self.fail("invalid")
        if not timezone.is_aware(moment):
            moment = moment.replace(tzinfo=timezone.get_default_timezone())
        if not 1900 <= moment.year <= 9000:  # and no overflow adding a day or an offset
            self.fail("invalid")
        return moment

    def to_representation(self, value):
        return value.isoformat()


class AuditFilterSerializer(serializers.Serializer):
    incident = serializers.CharField(required=False, allow_blank=True, max_length=40)
    user = serializers.CharField(required=False, allow_blank=True, max_length=150)
    # `from` is a Python keyword, so the fields are declared by name below.
    action = serializers.ChoiceField(
        choices=AuditEvent.Action.values, required=False, allow_blank=True
    )

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = MomentField(required=False)
        fields["to"] = MomentField(required=False, end_of_day=True)
        return fields

    def validate_incident(self, value: str):
        value = value.strip()
        if not value:
            return None
        incident = audit_incident_find(value)
        if incident is None:
            raise serializers.ValidationError("No incident with that id or reference.")
        return incident

    def validate(self, attrs):
        start, end = attrs.get("from"), attrs.get("to")
        if start and end and start >= end:
            raise serializers.ValidationError({"to": ["Must be after `from`."]})
        return attrs

    def audit_filter(self) -> AuditFilter:
        v = self.validated_data
        return AuditFilter(
            incident=v.get("incident"),
            username=(v.get("user") or "").strip(),
            start=v.get("from"),
            end=v.get("to"),
            action=v.get("action") or "",
        )


FILTER_PARAMETERS = [
    OpenApiParameter("incident", str, description="incident id or reference (CAD nnnn/ddMonyy)"),
    OpenApiParameter("user", str, description="username as recorded"),
    OpenApiParameter(
        "from",
        str,
        description="London date or ISO 8601 date-time (no offset: London's clock), inclusive",
    ),
    OpenApiParameter("to", str, description="London date (whole day) or date-time, exclusive"),
    OpenApiParameter("action", str, enum=AuditEvent.Action.values),
]


def searched_rows(request, *, action: str, via: str):
    """Check role, filter and scope; record the access; the matching rows."""
    if not can_search_audit(request.user):
        raise PermissionDenied("Only supervisors and admins may search the audit trail.")
    form = AuditFilterSerializer(data=request.query_params)
    form.is_valid(raise_exception=True)
    filters = form.audit_filter()
    try:
        rows = audit_search(user=request.user, filters=filters)
    except AuditScopeError as exc:
        raise PermissionDenied(str(exc)) from exc
    access = audit_trail_access_record(
        user=request.user, action=action, via=via, filters=filters.as_record(),
        source=source_of(request) or "api",
    )  # fmt: skip
    # The trail as it stood when asked: the row recording this search is not among its results.
    return rows.filter(pk__lt=access.pk)


async def lines_async(lines: Iterator[str], *, batch: int = 500) -> AsyncIterator[str]:
    """Hand a generator's lines to the ASGI server in batches, reading them in the thread
    (and so on the database connection) the view used."""
    take = sync_to_async(lambda: "".join(islice(lines, batch)), thread_sensitive=True)
    while chunk := await take():
        yield chunk


class AuditSearchApi(APIView):
    """`GET /api/v1/audit/?incident=&user=&from=&to=&action=`: audit rows, newest first, paged."""

    @extend_schema(
        parameters=FILTER_PARAMETERS,
        responses=inline_serializer("AuditPage", {"count": serializers.IntegerField(),
                                                  "results": serializers.ListField()}),
    )  # fmt: skip
    def get(self, request):
        rows = searched_rows(request, action=AuditEvent.Action.READ_PERSONAL, via="audit api")
        paginator = PageNumberPagination()
        # A page, never None: PAGE_SIZE is set (REST_FRAMEWORK in cad/settings.py).
        page = cast(list[AuditEvent], paginator.paginate_queryset(rows, request, view=self))
        return paginator.get_paginated_response([audit_row(e) for e in page])


class AuditCsvApi(APIView):
    """`GET /api/v1/audit/csv/?…`: every matching row as CSV, streamed (the export is audited)."""

    @extend_schema(parameters=FILTER_PARAMETERS, responses={(200, "text/csv"): OpenApiTypes.STR})
    def get(self, request):
        rows = searched_rows(request, action=AuditEvent.Action.DISCLOSE, via="audit csv")
        csv_lines = audit_csv_lines(rows)
        lines: Iterator[str] | AsyncIterator[str] = csv_lines
        if isinstance(request._request, ASGIRequest):
            # Under daphne a plain generator would be read whole into memory before sending.
            lines = lines_async(csv_lines)
        response = StreamingHttpResponse(lines, content_type="text/csv")
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.csv"'
        return response
