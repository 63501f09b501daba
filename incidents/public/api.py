"""The public contact endpoints (../shared/docs/api.md, "Public contact"; docs/api-notes.md).

The public ones need no sign-in and carry no session: no authentication class runs, so no
CSRF applies and nobody's account is touched; each is throttled per client address. The staff
ones (triage, investigations, an incident's messages) need the roles in permissions.py.
"""

from __future__ import annotations

import hmac
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from cad.api.fields import StrictBooleanField, StrictCharField, StrictChoiceField, StrictFloatField
from cad.api.throttles import PublicAddressThrottle, PublicStatusThrottle
from cad.audit.trail import source_of
from incidents import permissions as incident_perms
from incidents import selectors as incident_selectors
from incidents.models import Grade, Incident
from incidents.public import permissions as perms
from incidents.public import selectors, services, texts
from incidents.public.categories import CATEGORIES
from incidents.public.models import InvestigationCase, OnlineReport, OnlineReportStatus, UpdatesBy

HONEYPOT = "website"


def nested_errors(errors: dict[str, list[str]]) -> dict[str, Any]:
    """`{"reporter.email": [...]}` → `{"reporter": {"email": [...]}}`: the body's own shape."""
    out: dict[str, Any] = {}
    for key, messages in errors.items():
        head, _, rest = key.partition(".")
        if rest:
            out.setdefault(head, {})
            if isinstance(out[head], dict):
                out[head][rest] = messages
        else:
            out[head] = messages
    return out


def _source(request) -> str:
    return source_of(request) or "api"


class PublicApi(APIView):
    authentication_classes: tuple = ()
    permission_classes = (AllowAny,)


class ReportCategoryListApi(PublicApi):
    """`GET /api/v1/public/report-categories/` → `[{"code", "name", "questions"}]`."""

    @extend_schema(responses=dict)
    def get(self, request):
        return Response([
            {"code": c.code, "name": c.name, "summary": c.summary,
             "questions": [{"key": q.key, "label": q.label, "required": q.required,
                            "choices": [k for k, _ in q.choices]} for q in c.questions]}
            for c in CATEGORIES
        ])  # fmt: skip


class PublicReportCreateApi(PublicApi):
    """`POST /api/v1/public/reports/` → 201 `{"reference", "status_token", "status_url"}`."""

    throttle_classes = (PublicAddressThrottle,)

    class LocationSerializer(serializers.Serializer):
        address = StrictCharField(max_length=300, required=False, allow_blank=True, default="")
        lat = StrictFloatField(required=False, min_value=-90, max_value=90)
        lon = StrictFloatField(required=False, min_value=-180, max_value=180)

    class ReporterSerializer(serializers.Serializer):
        name = StrictCharField(max_length=200)
        email = StrictCharField(max_length=254, required=False, allow_blank=True, default="")
        phone = StrictCharField(max_length=30, required=False, allow_blank=True, default="")

    class InputSerializer(serializers.Serializer):
        category = StrictChoiceField(choices=[c.code for c in CATEGORIES])
        description = StrictCharField(max_length=services.DESCRIPTION_MAX, multiline=True)
        occurred_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
        location = serializers.DictField()  # checked by LocationSerializer (strict)
        reporter = serializers.DictField()
        updates_by = StrictChoiceField(choices=UpdatesBy.values, required=False, default="none")
        answers = serializers.DictField(required=False, default=dict)
        danger_now = StrictBooleanField(required=False, default=False)
        website = serializers.CharField(required=False, allow_blank=True, default="")

    @extend_schema(request=InputSerializer, responses={201: dict})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        if v["danger_now"]:
            raise ValidationError({"danger_now": [
                "If anyone is in danger now, call 999. Do not report it online."]})  # fmt: skip
        if v[HONEYPOT]:
            # A field people never see: only a script fills it. Nothing is stored.
            raise ValidationError({"non_field_errors": ["This report could not be accepted."]})
        location = self.LocationSerializer(data=v["location"])
        reporter = self.ReporterSerializer(data=v["reporter"])
        errors = {}
        if not location.is_valid():
            errors["location"] = location.errors
        if not reporter.is_valid():
            errors["reporter"] = reporter.errors
        if errors:
            raise ValidationError(errors)
        place, who = location.validated_data, reporter.validated_data
        lat, lon, resolved = place.get("lat"), place.get("lon"), ""
        if (lat is None) != (lon is None):
            raise ValidationError({"location": ["Give both lat and lon, or neither."]})
        if lat is None and place["address"]:
            lat, lon, resolved = report_place_from_address(place["address"])
        try:
            report, token = services.online_report_create(
                data=services.ReportInput(
                    category=v["category"], description=v["description"],
                    address=place["address"], lat=lat, lon=lon, resolved_address=resolved,
                    occurred_at=v["occurred_at"], reporter_name=who["name"],
                    reporter_email=who["email"], reporter_phone=who["phone"],
                    updates_by=v["updates_by"], answers=v["answers"]),
                source=_source(request),
            )  # fmt: skip
        except DjangoValidationError as exc:
            raise ValidationError(nested_errors(exc.message_dict)) from exc
        return Response(
            {"reference": report.reference, "status_token": token,
             "status_url": status_path(report.reference, token)},
            status=status.HTTP_201_CREATED,
        )  # fmt: skip


def report_place_from_address(address: str) -> tuple[float, float, str]:
    """(lat, lon, resolved address) from the gazetteer, or a 400 on `location.address`."""
    entry, candidates = incident_selectors.gazetteer_resolve(address)
    if entry is None:
        if candidates:
            names = "; ".join(c["address"] for c in candidates)
            message = f"That matches several places ({names}). Give more of the address."
        else:
            message = "We could not find that address. Check it, or pick the place on the map."
        raise ValidationError({"location": {"address": [message]}})
    resolved = entry["address"] + (f", {entry['postcode']}" if entry["postcode"] else "")
    return entry["lat"], entry["lon"], resolved


def status_path(reference: str, token: str) -> str:
    return f"/report/status/{reference_slug(reference)}/?token={token}"


def reference_slug(reference: str) -> str:
    """`WEB 0017/30Nov26` → `WEB-0017-30Nov26`, for URLs."""
    return reference.replace(" ", "-").replace("/", "-")


def reference_from_slug(value: str) -> str:
    """Either form back to `WEB 0017/30Nov26`."""
    value = value.strip().strip("/")
    if value.count("-") == 2 and " " not in value:
        head, number, day = value.split("-")
        return f"{head} {number}/{day}"
    return value


def report_for_status(reference: str, token: str) -> OnlineReport:
    """The report, if the token is its own; otherwise 404, the same as no such report."""
    report = OnlineReport.objects.filter(reference=reference_from_slug(reference)[:30]).first()
    if report is None or not services.status_token_matches(report, token or ""):
        raise NotFound("No report matches that reference and link.")
    return report


class PublicReportStatusApi(PublicApi):
    """`GET /api/v1/public/reports/{reference}/?token=` → reference, status, updated_at."""

    throttle_classes = (PublicStatusThrottle,)

    @extend_schema(parameters=[OpenApiParameter("token", str, required=True)], responses=dict)
    def get(self, request, reference: str):
        report = report_for_status(reference, request.query_params.get("token", ""))
        return Response({"reference": report.reference, "status": report.status,
                         "updated_at": report.updated_at.isoformat()})  # fmt: skip


# --- staff: triage ------------------------------------------------------------------------


def _require(allowed: bool) -> None:
    if not allowed:
        raise PermissionDenied("Your role does not allow this.")


class OnlineReportListApi(APIView):
    """`GET /api/v1/online-reports/?status=new` → the queue, oldest first, no personal data;
    `queue_age_minutes` is how long the oldest has waited."""

    @extend_schema(parameters=[OpenApiParameter("status", str)], responses=dict)
    def get(self, request):
        _require(perms.can_triage(request.user))
        wanted = request.query_params.get("status", OnlineReportStatus.NEW)
        if wanted not in OnlineReportStatus.values:
            raise ValidationError({"status": [f"One of {', '.join(OnlineReportStatus.values)}."]})
        rows = selectors.triage_queue(user=request.user, status=wanted)[:500]
        return Response([selectors.report_row(r) for r in rows])


def _report_for_triage(request, pk: int) -> OnlineReport:
    _require(perms.can_triage(request.user))
    report = get_object_or_404(OnlineReport.objects.select_related("bcu", "incident"), pk=pk)
    if not perms.can_triage(request.user, report):
        raise PermissionDenied("This report is outside your BCU.")
    return report


class OnlineReportDetailApi(APIView):
    """`GET /api/v1/online-reports/{id}/`: the report with the reporter's details (audited)."""

    @extend_schema(responses=dict)
    def get(self, request, pk: int):
        report = _report_for_triage(request, pk)
        services.personal_report_read_record(
            report=report, by=request.user, source=_source(request), what="api detail"
        )
        return Response(selectors.report_detail(report))


class OnlineReportTriageApi(APIView):
    """`POST /api/v1/online-reports/{id}/triage/` `{"decision", "grade"?, "reason", "type"?,
    "agency"?}` → 200; 409 `already_triaged` the second time."""

    class InputSerializer(serializers.Serializer):
        decision = StrictChoiceField(choices=services.DECISIONS)
        reason = StrictCharField(max_length=1000, multiline=True)
        grade = StrictChoiceField(choices=Grade.values, required=False, allow_null=True)
        type = StrictCharField(max_length=10, required=False, allow_blank=True, default="")
        agency = StrictCharField(max_length=200, required=False, allow_blank=True, default="")

    @extend_schema(request=InputSerializer, responses=dict)
    def post(self, request, pk: int):
        report = _report_for_triage(request, pk)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        report = services.online_report_triage(
            report=report, by=request.user, decision=v["decision"], reason=v["reason"],
            grade=v.get("grade"), type_code=v["type"] or None, agency=v["agency"],
            source=_source(request),
        )  # fmt: skip
        body = selectors.report_row(report)
        body["incident_reference"] = report.incident.reference if report.incident else None
        return Response(body)


class InvestigationListApi(APIView):
    """`GET /api/v1/investigations/?status=` → the Telephone and Digital Investigation queue."""

    @extend_schema(parameters=[OpenApiParameter("status", str)], responses=dict)
    def get(self, request):
        _require(perms.can_work_investigations(request.user))
        wanted = request.query_params.get("status") or None
        if wanted is not None and wanted not in InvestigationCase.Status.values:
            raise ValidationError(
                {"status": [f"One of {', '.join(InvestigationCase.Status.values)}."]}
            )
        rows = selectors.investigation_queue(status=wanted)[:500]
        return Response([selectors.investigation_row(c) for c in rows])


class InvestigationUpdateApi(APIView):
    """`POST /api/v1/investigations/{id}/` `{"owner": username|null, "status"}` → 200."""

    class InputSerializer(serializers.Serializer):
        owner = StrictCharField(max_length=150, required=False, allow_null=True, default=None)
        status = StrictCharField(max_length=20, help_text="unallocated, in_progress or finished")

        def validate_owner(self, value):
            if value is None:
                return None
            user = User.objects.filter(username=value, is_active=True).first()
            if user is None or not perms.can_work_investigations(user):
                raise ValidationError("No such investigator.")
            return user

    @extend_schema(request=InputSerializer, responses=dict)
    def post(self, request, pk: int):
        _require(perms.can_work_investigations(request.user))
        case = get_object_or_404(InvestigationCase.objects.select_related("report"), pk=pk)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        case = services.investigation_update(case=case, by=request.user, source=_source(request),
                                             **data.validated_data)  # fmt: skip
        return Response(selectors.investigation_row(case))


class IncidentMessagesApi(APIView):
    """`GET /api/v1/incidents/{id}/messages/` → `[{"to_masked", "kind", "status", "queued_at",
    "sent_at"}]`: the texts to its callers, numbers masked."""

    @extend_schema(responses=dict)
    def get(self, request, pk: int):
        _require(incident_perms.can_read(request.user))
        incident = get_object_or_404(Incident, pk=pk)
        return Response(texts.incident_messages(incident=incident))


# --- GOV.UK Notify's callbacks ----------------------------------------------------------------


def _notify_signed(request) -> bool:
    """Notify signs its callbacks with the bearer token set on the service's callback."""
    expected = settings.NOTIFY_CALLBACK_TOKEN
    given = request.headers.get("Authorization", "")
    return bool(expected) and hmac.compare_digest(given.encode(), f"Bearer {expected}".encode())


class NotifyStatusCallbackApi(PublicApi):
    """`POST /api/v1/public/notify/status/`: a delivery receipt (Notify's callback body)."""

    class InputSerializer(serializers.Serializer):
        id = serializers.CharField(max_length=64)
        reference = serializers.CharField(max_length=64, required=False, allow_blank=True,
                                          allow_null=True, default="")  # fmt: skip
        status = serializers.CharField(max_length=40)

    @extend_schema(request=InputSerializer, responses=dict)
    def post(self, request):
        if not _notify_signed(request):
            raise PermissionDenied("Not signed by GOV.UK Notify.")
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        found = texts.caller_message_status_record(
            reference=v["reference"] or "", provider_id=v["id"], status=v["status"]
        )
        return Response({"recorded": found})


class NotifyInboundCallbackApi(PublicApi):
    """`POST /api/v1/public/notify/inbound/`: a text from the public; the opt-out word stops
    texts to that number. Anything else is not kept (nobody reads this inbox)."""

    class InputSerializer(serializers.Serializer):
        source_number = serializers.CharField(max_length=30)
        message = serializers.CharField(max_length=2000, allow_blank=True)

    @extend_schema(request=InputSerializer, responses=dict)
    def post(self, request):
        if not _notify_signed(request):
            raise PermissionDenied("Not signed by GOV.UK Notify.")
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        stopped = texts.is_opt_out_word(v["message"]) and texts.text_opt_out_record(
            number=v["source_number"]
        )
        return Response({"opted_out": bool(stopped)})
