"""Crime report from the call: `GET/POST/PATCH /api/v1/incidents/{id}/crime-report/` and
`POST /api/v1/incidents/{id}/crime-report/submit/` (docs/api-notes.md, issue 18).

Call handlers (anywhere) and desks (their BCU) draft, review and submit; the report holds the
victim's and suspect's descriptions, so each read is audited.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from cad.api.fields import ClosedSerializer, StrictCharField
from cad.audit.trail import audit_record, source_of
from incidents import permissions as perms
from incidents.crime import services
from incidents.crime.models import CrimeReport
from incidents.models import Incident


def _incident(request, pk: int) -> Incident:
    # Role first: without it a missing incident looks the same as a present one (403).
    if not perms.can_add_call_or_log(request.user):
        raise PermissionDenied("Your role does not allow this.")
    incident = get_object_or_404(Incident.objects.select_related("bcu"), pk=pk)
    if not perms.can_add_call_or_log(request.user, incident):
        raise PermissionDenied("Your role or BCU does not allow this change to this incident.")
    return incident


def _answer(request, report: CrimeReport, code: int = 200) -> Response:
    report.refresh_from_db()
    audit_record(user=request.user, action="read_personal", obj=report,
                 source=source_of(request) or "api",
                 changes={"fields": ["victim", "suspect"], "via": "api crime report"})  # fmt: skip
    body = services.crime_report_payload(report)
    body.update({"state": report.state, "crime_number": report.crime_number,
                 "attempts": report.attempts, "error": report.last_error,
                 "version": report.version})  # fmt: skip
    return Response(body, status=code)


class CrimeReportApi(APIView):
    """GET: the draft. POST: draft it from the call ("Create crime report"): 201, or 200 with the
    one already drafted. PATCH: the handler's corrections (drafts only)."""

    class ReviewInput(ClosedSerializer):
        classification = StrictCharField(max_length=12, required=False)
        victim_description = StrictCharField(max_length=2000, required=False, allow_blank=True,
                                             multiline=True)  # fmt: skip
        victim_contact = StrictCharField(max_length=250, required=False, allow_blank=True)
        suspect_description = StrictCharField(max_length=2000, required=False, allow_blank=True,
                                              multiline=True)  # fmt: skip
        location = StrictCharField(max_length=300, required=False, allow_blank=True)
        mo = StrictCharField(max_length=4000, required=False, allow_blank=True, multiline=True)
        occurred_from = serializers.DateTimeField(required=False)
        occurred_to = serializers.DateTimeField(required=False)

    @extend_schema(responses=dict)
    def get(self, request, pk: int):
        incident = _incident(request, pk)
        report = get_object_or_404(CrimeReport, incident=incident)
        return _answer(request, report)

    @extend_schema(request=None, responses={201: dict})
    def post(self, request, pk: int):
        incident = _incident(request, pk)
        existed = CrimeReport.objects.filter(incident=incident).exists()
        report = services.crime_report_draft(incident=incident, by=request.user,
                                             source=source_of(request) or "api")  # fmt: skip
        return _answer(request, report, 200 if existed else status.HTTP_201_CREATED)

    @extend_schema(request=ReviewInput, responses=dict)
    def patch(self, request, pk: int):
        incident = _incident(request, pk)
        data = self.ReviewInput(data=request.data)
        data.is_valid(raise_exception=True)
        report = services.crime_report_update(incident=incident, by=request.user,
                                              changes=dict(data.validated_data),
                                              source=source_of(request) or "api")  # fmt: skip
        return _answer(request, report)


class CrimeReportSubmitApi(APIView):
    """POST: reviewed; send it to the records system (202; the crime number comes back into
    the incident log)."""

    @extend_schema(request=None, responses={202: dict})
    def post(self, request, pk: int):
        incident = _incident(request, pk)
        report = services.crime_report_submit(incident=incident, by=request.user,
                                              source=source_of(request) or "api")  # fmt: skip
        return _answer(request, report, status.HTTP_202_ACCEPTED)
