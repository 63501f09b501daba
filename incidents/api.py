"""The incident endpoints of the public API (../shared/docs/api.md) and their extensions.

One view per operation; serializers check shapes and JSON types (strictly: a number is not a
string, a string is not a number), services check meaning. Every write goes through
incidents/services.py, inside one transaction with its idempotency record.
"""

from __future__ import annotations

import math
from typing import Any, cast

from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from cad.accounts.roles import user_bcu_code
from cad.api.fields import (
    ClosedSerializer,
    FieldsBuiltOnce,
    StrictBooleanField,
    StrictCharField,
    StrictChoiceField,
    StrictFloatField,
    control_characters,
)
from cad.api.idempotency import idempotent
from cad.api.throttles import GazetteerThrottle
from cad.audit.trail import source_of
from incidents import permissions as perms
from incidents import selectors, services
from incidents.events import board_incident
from incidents.models import Call, Grade, Incident, IncidentStatus, WarningMarker
from incidents.services import CallDetails


class PositionSerializer(serializers.Serializer):
    lat = StrictFloatField(min_value=-90, max_value=90)
    lon = StrictFloatField(min_value=-180, max_value=180)


class CallerSerializer(serializers.Serializer):
    name = StrictCharField(max_length=200, required=False, allow_blank=True, default="")
    phone = StrictCharField(max_length=40, required=False, allow_blank=True, default="")
    # Consent, given during the call, to texts while police are on the way (issue 15).
    updates = StrictBooleanField(required=False, default=False)


class ThriveSerializer(ClosedSerializer):
    threat = StrictCharField(max_length=1000, required=False, allow_blank=True, multiline=True)
    harm = StrictCharField(max_length=1000, required=False, allow_blank=True, multiline=True)
    risk = StrictCharField(max_length=1000, required=False, allow_blank=True, multiline=True)
    investigation = StrictCharField(
        max_length=1000, required=False, allow_blank=True, multiline=True
    )
    vulnerability = StrictCharField(
        max_length=1000, required=False, allow_blank=True, multiline=True
    )
    engagement = StrictCharField(max_length=1000, required=False, allow_blank=True, multiline=True)


def _source(request) -> str:
    return source_of(request) or "api"


def _incident_for_change(request, pk: int, check) -> Incident:
    """The incident, once the user's role (then their BCU) allows `check` on it. The role comes
    first: without it, a missing incident must look the same as a present one (403)."""
    _require(check(request.user))
    incident = get_object_or_404(Incident.objects.select_related("bcu"), pk=pk)
    if not check(request.user, incident):
        raise PermissionDenied("Your role or BCU does not allow this change to this incident.")
    return incident


def _require(allowed: bool) -> None:
    if not allowed:
        raise PermissionDenied("Your role does not allow this.")


# --- reference data ---------------------------------------------------------------------------


class IncidentTypeListApi(APIView):
    """`GET /api/v1/incident-types/`: active opening codes with their default grade."""

    class OutputSerializer(serializers.Serializer):
        code = serializers.CharField()
        name = serializers.CharField()
        default_grade = serializers.CharField()
        category = serializers.CharField()

    @extend_schema(responses=OutputSerializer(many=True))
    def get(self, request):
        rows = selectors.incident_types_active()
        return Response(self.OutputSerializer(rows, many=True).data)


class CodeNameSerializer(serializers.Serializer):
    """The `{"code", "name"}` shape of the simple reference lists (api.md)."""

    code = serializers.CharField()
    name = serializers.CharField()


class ClosingCodeListApi(APIView):
    """`GET /api/v1/closing-codes/`."""

    @extend_schema(responses=CodeNameSerializer(many=True))
    def get(self, request):
        return Response(CodeNameSerializer(selectors.closing_codes_active(), many=True).data)


class QualifierListApi(APIView):
    """`GET /api/v1/qualifiers/` (extension)."""

    @extend_schema(responses=CodeNameSerializer(many=True))
    def get(self, request):
        return Response(CodeNameSerializer(selectors.qualifiers_active(), many=True).data)


class GazetteerSearchApi(APIView):
    """`GET /api/v1/gazetteer/?q=` (extension): autocomplete over addresses, streets, postcodes."""

    throttle_classes = (GazetteerThrottle,)

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        kind = serializers.CharField()
        uprn = serializers.CharField()
        address = serializers.CharField()
        postcode = serializers.CharField()
        lat = serializers.FloatField()
        lon = serializers.FloatField()

    @extend_schema(
        parameters=[OpenApiParameter("q", str, required=True)],
        responses=OutputSerializer(many=True),
    )
    def get(self, request):
        q = request.query_params.get("q", "")
        if len(q) > 200 or control_characters(q, multiline=False):
            raise ValidationError({"q": ["At most 200 printable characters."]})
        return Response(self.OutputSerializer(selectors.gazetteer_search(q=q), many=True).data)


# --- incidents --------------------------------------------------------------------------------


class LocationInputSerializer(serializers.Serializer):
    lat = StrictFloatField(required=False, min_value=-90, max_value=90)
    lon = StrictFloatField(required=False, min_value=-180, max_value=180)
    address = StrictCharField(max_length=300, required=False, allow_blank=True, default="")
    resolved_address = StrictCharField(max_length=300, required=False, allow_blank=True, default="")

    def validate(self, attrs):
        has_lat, has_lon = "lat" in attrs, "lon" in attrs
        if has_lat != has_lon:
            raise ValidationError(
                "Give both lat and lon, or neither (the address is then looked up)."
            )
        if not has_lat and not attrs.get("address"):
            raise ValidationError("Give a position (lat and lon) or an address.")
        return attrs


class CallInputSerializer(serializers.Serializer):
    caller = CallerSerializer(required=False)
    channel = StrictChoiceField(choices=Call.Channel.values, required=False, default="999")
    notes = StrictCharField(
        max_length=4000, required=False, allow_blank=True, default="", multiline=True
    )


class IncidentCreateInput(FieldsBuiltOnce, CallInputSerializer):
    # The busiest request's body: its fields are built once (cad/api/fields.py).
    type = StrictCharField(max_length=10)
    grade = StrictChoiceField(choices=Grade.values, required=False, allow_null=True)
    summary = StrictCharField(
        max_length=4000, required=False, allow_blank=True, default="", multiline=True
    )
    location = LocationInputSerializer()
    thrive = ThriveSerializer(required=False)
    qualifiers = serializers.ListField(
        child=StrictCharField(max_length=20), required=False, default=list, max_length=30
    )
    # Retrospective entry after an outage (api.md): the call's real time of receipt.
    received_at = serializers.DateTimeField(required=False)
    retrospective = StrictBooleanField(required=False, default=False)

    def validate(self, attrs):
        if attrs.get("retrospective") and "received_at" not in attrs:
            raise ValidationError({"received_at": ["Give the time the call was received."]})
        if "received_at" in attrs and not attrs.get("retrospective"):
            raise ValidationError(
                {"retrospective": ['A past received_at needs "retrospective": true.']}
            )
        return attrs


def _resolve_location(location: dict[str, Any]) -> tuple[float, float, str]:
    """(lat, lon, resolved address) from a position, or from the address via the gazetteer."""
    if "lat" in location:
        return location["lat"], location["lon"], location.get("resolved_address", "")
    entry, candidates = selectors.gazetteer_resolve(location["address"])
    if entry is None:
        if candidates:
            names = "; ".join(c["address"] for c in candidates)
            message = f"The address matches several places ({names}); give lat and lon."
        else:
            message = "The address was not found in the gazetteer; give lat and lon."
        raise ValidationError({"location": {"address": [message]}})
    resolved = entry["address"] + (f", {entry['postcode']}" if entry["postcode"] else "")
    return entry["lat"], entry["lon"], location.get("resolved_address") or resolved


def location_findings(*, lat: float, lon: float, at=None) -> dict[str, Any]:
    """Duplicates, history and warnings for a position about to become an incident.

    Read before the incident is created, so the new one is naturally not among them and the
    reads happen before the day's sequence row is locked (see services.reference_next).
    """
    return {
        "possible_duplicates": selectors.possible_duplicates(lat=lat, lon=lon, at=at),
        "location_history": selectors.location_history(lat=lat, lon=lon, at=at),
        "warnings": selectors.warnings_near(lat=lat, lon=lon, at=at),
    }


def created_payload(incident: Incident, findings: dict[str, Any]) -> dict[str, Any]:
    """The 201 body of api.md: the incident, its possible duplicates and location history.

    Built from the incident in hand rather than re-read: creation is the hot path.
    """
    lat, lon, at = incident.lat, incident.lon, incident.created_at
    return {
        "id": incident.id,
        "reference": incident.reference,
        "status": incident.status,
        "type": incident.type.code,
        "type_name": incident.type.name,
        "grade": incident.grade,
        "target_minutes": selectors.grade_targets().get(incident.grade),
        "summary": incident.summary,
        "location": {
            "lat": lat,
            "lon": lon,
            "address": incident.address,
            "bcu": incident.bcu.code if incident.bcu is not None else None,
            "resolved_address": incident.resolved_address,
        },
        "created_at": at.isoformat(),
        "due_at": incident.due_at.isoformat() if incident.due_at else None,
        "version": incident.version,
        **findings,
    }


class IncidentListCreateApi(APIView):
    """`GET /api/v1/incidents/` (newest first, paginated) and `POST` (create from a call)."""

    class ListFilter(serializers.Serializer):
        status = serializers.CharField(required=False)
        bcu = serializers.CharField(required=False, max_length=8)
        grade = serializers.CharField(required=False)

        def _many(self, value: str, allowed: list[str], field: str) -> list[str]:
            items = [v.strip() for v in value.split(",") if v.strip()]
            bad = [v for v in items if v not in allowed]
            if bad:
                raise ValidationError(f"Unknown {field}: {', '.join(bad)[:50]}.")
            return items

        def validate_status(self, value):
            return self._many(value, IncidentStatus.values, "status")

        def validate_grade(self, value):
            return self._many(value, Grade.values, "grade")

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, description="open,assigned,at_scene,closed"),
            OpenApiParameter("bcu", str),
            OpenApiParameter("grade", str, description="I, S, E, R; comma list"),
        ],
        responses=inline_serializer("IncidentPage", {"count": serializers.IntegerField(),
                                                     "results": serializers.ListField()}),
    )  # fmt: skip
    def get(self, request):
        _require(perms.can_read(request.user))
        filters = self.ListFilter(data=request.query_params)
        filters.is_valid(raise_exception=True)
        rows = selectors.incident_list(**filters.validated_data, scope=user_bcu_code(request.user))
        paginator = PageNumberPagination()
        # A page, never None: PAGE_SIZE is set (REST_FRAMEWORK in cad/settings.py).
        page = cast(list[Any], paginator.paginate_queryset(rows, request, view=self))
        return paginator.get_paginated_response([board_incident(r) for r in page])

    @extend_schema(request=IncidentCreateInput, responses={201: dict})
    def post(self, request):
        _require(perms.can_create(request.user))

        def produce():
            data = IncidentCreateInput(data=request.data)
            data.is_valid(raise_exception=True)
            v = data.validated_data
            lat, lon, resolved = _resolve_location(v["location"])
            caller = v.get("caller") or {}
            retrospective = v["retrospective"]
            at = v["received_at"] if retrospective else timezone.now()
            if retrospective and (
                problems := services.retrospective_errors(at, now=timezone.now())
            ):
                raise ValidationError(problems)
            findings = location_findings(lat=lat, lon=lon, at=at)
            incident = services.incident_create(
                by=request.user,
                type_code=v["type"],
                grade=v.get("grade"),
                summary=v["summary"],
                lat=lat,
                lon=lon,
                address=v["location"].get("address", ""),
                resolved_address=resolved,
                call=CallDetails(
                    caller_name=caller.get("name", ""),
                    caller_phone=caller.get("phone", ""),
                    channel=v["channel"],
                    address=v["location"].get("address", ""),
                    notes=v["notes"],
                    updates=caller.get("updates", False),
                ),
                thrive=v.get("thrive"),
                qualifier_codes=v["qualifiers"],
                source=_source(request),
                at=at,
                retrospective=retrospective,
            )
            services.personal_data_combination_record(
                by=request.user, source=_source(request), what="incident created",
                findings=findings, incident=incident,
            )  # fmt: skip
            return Response(created_payload(incident, findings), status=status.HTTP_201_CREATED)

        return idempotent(request, produce)


class IncidentCheckApi(APIView):
    """`GET /api/v1/incidents/check/?lat=&lon=`: duplicates, history and warnings before saving."""

    class InputSerializer(serializers.Serializer):
        lat = serializers.FloatField(min_value=-90, max_value=90)
        lon = serializers.FloatField(min_value=-180, max_value=180)

    @extend_schema(
        parameters=[OpenApiParameter("lat", float, required=True),
                    OpenApiParameter("lon", float, required=True)],
        responses=dict,
    )  # fmt: skip
    def get(self, request):
        _require(perms.can_read(request.user))
        data = self.InputSerializer(data=request.query_params)
        data.is_valid(raise_exception=True)
        lat, lon = data.validated_data["lat"], data.validated_data["lon"]
        if not (math.isfinite(lat) and math.isfinite(lon)):
            raise ValidationError({"lat": ["A number is required."]})
        result = selectors.location_check(lat=lat, lon=lon)
        services.personal_data_combination_record(
            by=request.user, source=_source(request), what="location check", findings=result
        )
        return Response(result)


class IncidentDetailApi(APIView):
    """`GET /api/v1/incidents/{id}/`: the incident with its log, calls and assignments.

    Caller names and numbers are in `calls[].caller` for roles that may see them, and each such
    read is written to the audit trail.
    """

    @extend_schema(responses=dict)
    def get(self, request, pk: int):
        _require(perms.can_read(request.user))
        incident = get_object_or_404(Incident, pk=pk)
        detail = selectors.incident_detail(incident=incident, user=request.user, personal=True)
        if detail["caller_details_included"]:
            services.personal_data_read_record(
                incident=incident, by=request.user, source=_source(request), what="api detail"
            )
        return Response(detail)


class IncidentCallsApi(APIView):
    """`GET /api/v1/incidents/{id}/calls/` (audited) and `POST`: attach a further call."""

    class InputSerializer(CallInputSerializer):
        address = StrictCharField(max_length=300, required=False, allow_blank=True, default="")

    @extend_schema(responses=dict)
    def get(self, request, pk: int):
        _require(perms.can_read_personal(request.user))
        incident = get_object_or_404(Incident, pk=pk)
        services.personal_data_read_record(
            incident=incident, by=request.user, source=_source(request), what="calls"
        )
        return Response(selectors.incident_calls(incident=incident, personal=True))

    @extend_schema(request=InputSerializer, responses={201: dict})
    def post(self, request, pk: int):
        incident = _incident_for_change(request, pk, perms.can_add_call_or_log)

        def produce():
            data = self.InputSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            v = data.validated_data
            caller = v.get("caller") or {}
            call = services.incident_attach_call(
                incident=incident,
                by=request.user,
                call=CallDetails(
                    caller_name=caller.get("name", ""),
                    caller_phone=caller.get("phone", ""),
                    channel=v["channel"],
                    address=v["address"],
                    notes=v["notes"],
                    updates=caller.get("updates", False),
                ),
                source=_source(request),
            )
            incident.refresh_from_db()
            return Response(
                {"id": call.id, "incident": incident.id, "reference": incident.reference,
                 "received_at": call.received_at.isoformat()},
                status=status.HTTP_201_CREATED,
            )  # fmt: skip

        return idempotent(request, produce)


class IncidentLogApi(APIView):
    """`POST /api/v1/incidents/{id}/log/` `{"text"}` → 201."""

    class InputSerializer(serializers.Serializer):
        text = StrictCharField(max_length=4000, multiline=True)

    @extend_schema(request=InputSerializer, responses={201: dict})
    def post(self, request, pk: int):
        incident = _incident_for_change(request, pk, perms.can_add_call_or_log)

        def produce():
            data = self.InputSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            entry = services.incident_log_add(
                incident=incident, by=request.user, text=data.validated_data["text"],
                source=_source(request),
            )  # fmt: skip
            return Response(
                {"at": entry.at.isoformat(), "by": request.user.username, "text": entry.text,
                 "kind": entry.kind},
                status=status.HTTP_201_CREATED,
            )  # fmt: skip

        return idempotent(request, produce)


def _detail_response(request, incident: Incident) -> Response:
    # No refresh first: the detail reads every field afresh by the incident's id.
    return Response(selectors.incident_detail(incident=incident, user=request.user))


class IncidentGradeApi(APIView):
    """`POST /api/v1/incidents/{id}/grade/` `{"grade", "reason"}` → 200 with the incident."""

    class InputSerializer(serializers.Serializer):
        grade = StrictChoiceField(choices=Grade.values)
        reason = StrictCharField(max_length=1000, multiline=True)

    @extend_schema(request=InputSerializer, responses=dict)
    def post(self, request, pk: int):
        incident = _incident_for_change(request, pk, perms.can_manage)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.incident_regrade(incident=incident, by=request.user, source=_source(request),
                                  **data.validated_data)  # fmt: skip
        return _detail_response(request, incident)


class IncidentCloseApi(APIView):
    """`POST /api/v1/incidents/{id}/close/` `{"closing_code", "note"?}` → 200; units freed."""

    class InputSerializer(serializers.Serializer):
        closing_code = StrictCharField(max_length=10)
        note = StrictCharField(
            max_length=4000, required=False, allow_blank=True, default="", multiline=True
        )

    @extend_schema(request=InputSerializer, responses=dict)
    def post(self, request, pk: int):
        incident = _incident_for_change(request, pk, perms.can_manage)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.incident_close(incident=incident, by=request.user, source=_source(request),
                                **data.validated_data)  # fmt: skip
        return _detail_response(request, incident)


class IncidentReopenApi(APIView):
    """`POST /api/v1/incidents/{id}/reopen/` `{"reason"}` (supervisors) → 200."""

    class InputSerializer(serializers.Serializer):
        reason = StrictCharField(max_length=1000, multiline=True)

    @extend_schema(request=InputSerializer, responses=dict)
    def post(self, request, pk: int):
        incident = _incident_for_change(request, pk, perms.can_reopen)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.incident_reopen(incident=incident, by=request.user, source=_source(request),
                                 **data.validated_data)  # fmt: skip
        return _detail_response(request, incident)


class IncidentQualifiersApi(APIView):
    """`POST /api/v1/incidents/{id}/qualifiers/` `{"qualifiers": [codes]}`: replaces the set."""

    class InputSerializer(serializers.Serializer):
        qualifiers = serializers.ListField(
            child=StrictCharField(max_length=20), allow_empty=True, max_length=30
        )

    @extend_schema(request=InputSerializer, responses=dict)
    def post(self, request, pk: int):
        incident = _incident_for_change(request, pk, perms.can_manage)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.incident_set_qualifiers(
            incident=incident, by=request.user, codes=data.validated_data["qualifiers"],
            source=_source(request),
        )  # fmt: skip
        return _detail_response(request, incident)


class IncidentThriveApi(APIView):
    """`POST /api/v1/incidents/{id}/thrive/`: a repeated THRIVE assessment."""

    @extend_schema(request=ThriveSerializer, responses=dict)
    def post(self, request, pk: int):
        incident = _incident_for_change(request, pk, perms.can_add_call_or_log)
        data = ThriveSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.incident_set_thrive(
            incident=incident, by=request.user, thrive=dict(data.validated_data),
            source=_source(request),
        )  # fmt: skip
        return _detail_response(request, incident)


class IncidentLinkApi(APIView):
    """`POST /api/v1/incidents/{id}/links/` `{"incident": id or "CAD nnnn/ddMonyy", "reason"?}`."""

    class InputSerializer(serializers.Serializer):
        incident = serializers.JSONField()
        reason = StrictCharField(max_length=1000, required=False, allow_blank=True, default="")

        def validate_incident(self, value):
            if isinstance(value, int) and not isinstance(value, bool):
                other = Incident.objects.filter(pk=value).first()
            elif isinstance(value, str) and len(value) <= 30:
                other = Incident.objects.filter(reference__iexact=value.strip()).first()
            else:
                raise ValidationError("Give an incident id or its CAD reference.")
            if other is None:
                raise ValidationError("No such incident.")
            return other

    @extend_schema(request=InputSerializer, responses=dict)
    def post(self, request, pk: int):
        incident = _incident_for_change(request, pk, perms.can_manage)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        other = data.validated_data["incident"]
        if not perms.can_link(request.user, incident, other):
            raise PermissionDenied(f"{other.reference} is outside your BCU: it cannot be linked.")
        services.incident_link(
            incident=incident, other=other, by=request.user,
            reason=data.validated_data["reason"], source=_source(request),
        )  # fmt: skip
        return _detail_response(request, incident)


# --- warning markers ---------------------------------------------------------------------------


class WarningMarkerListCreateApi(APIView):
    """`GET /api/v1/warning-markers/?lat=&lon=` (in force near a point) and `POST` (add one)."""

    class InputSerializer(serializers.Serializer):
        address = StrictCharField(max_length=300)
        lat = StrictFloatField(min_value=-90, max_value=90)
        lon = StrictFloatField(min_value=-180, max_value=180)
        text = StrictCharField(max_length=500)
        expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)

    class NearSerializer(serializers.Serializer):
        lat = serializers.FloatField(min_value=-90, max_value=90)
        lon = serializers.FloatField(min_value=-180, max_value=180)

    @extend_schema(responses=dict)
    def get(self, request):
        _require(perms.can_read(request.user))
        near = self.NearSerializer(data=request.query_params)
        near.is_valid(raise_exception=True)
        return Response(selectors.warnings_near(**near.validated_data))

    @extend_schema(request=InputSerializer, responses={201: dict})
    def post(self, request):
        _require(perms.can_manage_warnings(request.user))

        def produce():
            data = self.InputSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            marker = services.warning_marker_create(
                by=request.user, source=_source(request), **data.validated_data
            )
            return Response(
                selectors.warning_marker_payload(marker), status=status.HTTP_201_CREATED
            )

        return idempotent(request, produce)


class WarningMarkerExpireApi(APIView):
    """`POST /api/v1/warning-markers/{id}/expire/`: the warning ends now."""

    @extend_schema(request=None, responses=dict)
    def post(self, request, pk: int):
        _require(perms.can_expire_warnings(request.user))
        marker = get_object_or_404(WarningMarker, pk=pk)
        marker = services.warning_marker_expire(
            marker=marker, by=request.user, source=_source(request)
        )
        return Response(selectors.warning_marker_payload(marker))
