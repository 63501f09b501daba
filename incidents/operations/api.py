"""Planned operations and major incidents in the API (api.md "Planned operations"; extensions
in docs/api-notes.md). One view per operation; services check meaning."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from cad.accounts.roles import user_bcu_code
from cad.api.fields import StrictCharField, StrictChoiceField, StrictFloatField
from cad.api.idempotency import idempotent
from cad.audit.trail import source_of
from incidents.models import Incident
from incidents.operations import permissions as perms
from incidents.operations import selectors, services
from incidents.operations.models import MajorIncident, MobilisationItem, Operation


def _source(request) -> str:
    return source_of(request) or "api"


def _require(allowed: bool, why: str = "Your role does not allow this.") -> None:
    if not allowed:
        raise PermissionDenied(why)


def _operation(pk: int) -> Operation:
    return get_object_or_404(Operation.objects.select_related("bcu"), pk=pk)


class OperationInput(serializers.Serializer):
    class OperationLocationInput(serializers.Serializer):
        lat = StrictFloatField(min_value=-90, max_value=90, required=False)
        lon = StrictFloatField(min_value=-180, max_value=180, required=False)
        address = StrictCharField(max_length=300, required=False, allow_blank=True, default="")

    name = StrictCharField(max_length=200)
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    bcu = StrictCharField(max_length=8)
    location = OperationLocationInput()
    radius_m = serializers.IntegerField(required=False, default=500, min_value=10,
                                        max_value=services.MAX_RADIUS_M)  # fmt: skip
    polygon = serializers.JSONField(
        required=False, allow_null=True, default=None,
        help_text="GeoJSON Polygon [lon, lat]; overrides radius",
    )  # fmt: skip
    commander = StrictCharField(max_length=200, required=False, allow_blank=True, default="")
    briefing = StrictCharField(max_length=20000, required=False, allow_blank=True, default="",
                               multiline=True)  # fmt: skip


class OperationListCreateApi(APIView):
    """`GET /api/v1/operations/` (newest first; a BCU desk sees its BCU's) and `POST` (supervisors
    of the operation's BCU) → 201 with the operation."""

    @extend_schema(responses={200: dict})
    def get(self, request):
        _require(perms.can_read(request.user))
        return Response(selectors.operation_list(scope=user_bcu_code(request.user)))

    @extend_schema(request=OperationInput, responses={201: dict})
    def post(self, request):
        _require(perms.can_plan(request.user), "Only supervisors plan operations.")

        def produce():
            data = OperationInput(data=request.data)
            data.is_valid(raise_exception=True)
            v = data.validated_data
            _require(perms.can_plan(request.user, v["bcu"]),
                     "You may plan operations in your own BCU only.")  # fmt: skip
            location = v["location"]
            operation = services.operation_create(
                by=request.user, name=v["name"], starts_at=v["starts_at"], ends_at=v["ends_at"],
                bcu_code=v["bcu"], lat=location.get("lat"), lon=location.get("lon"),
                address=location["address"], radius_m=v["radius_m"], polygon=v["polygon"],
                commander=v["commander"], briefing=v["briefing"], source=_source(request),
            )  # fmt: skip
            body = selectors.operation_detail(operation=operation)
            return Response(body, status=status.HTTP_201_CREATED)

        return idempotent(request, produce)


class OperationDetailApi(APIView):
    """`GET /api/v1/operations/{id}/`: the operation, its tagged incidents, log, ring-fenced
    units and officers drawn from the roster."""

    @extend_schema(responses={200: dict})
    def get(self, request, pk: int):
        _require(perms.can_read(request.user))
        return Response(selectors.operation_detail(operation=_operation(pk)))


class OperationLogApi(APIView):
    """`POST /api/v1/operations/{id}/log/` `{"text"}` → 201 (supervisors of its BCU)."""

    class InputSerializer(serializers.Serializer):
        text = StrictCharField(max_length=4000, multiline=True)

    @extend_schema(request=InputSerializer, responses={201: dict})
    def post(self, request, pk: int):
        _require(perms.can_plan(request.user))
        operation = _operation(pk)
        _require(perms.can_plan(request.user, operation.bcu.code),
                 "This operation is outside your BCU.")  # fmt: skip
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        entry = services.operation_log_add(operation=operation, by=request.user,
                                           text=data.validated_data["text"],
                                           source=_source(request))  # fmt: skip
        return Response({"at": entry.at.isoformat(), "by": request.user.username,
                         "text": entry.text}, status=status.HTTP_201_CREATED)  # fmt: skip


class OperationEventsApi(APIView):
    """`GET /api/v1/operations/{id}/events/?since=<seq>`: the operation's own stream, in the
    board's envelope, oldest first (at most 500; `more` says there are others after them;
    `truncated` that events after `since` were pruned by the log's retention)."""

    class FilterInput(serializers.Serializer):
        since = serializers.IntegerField(required=False, default=0, min_value=0)

    @extend_schema(parameters=[OpenApiParameter("since", int)], responses={200: dict})
    def get(self, request, pk: int):
        _require(perms.can_read(request.user))
        operation = _operation(pk)
        filters = self.FilterInput(data=request.query_params)
        filters.is_valid(raise_exception=True)
        since = filters.validated_data["since"]
        return Response(selectors.operation_events(operation=operation, since=since))


# --- major incidents -----------------------------------------------------------------------------


def _incident(pk: int) -> Incident:
    return get_object_or_404(Incident.objects.select_related("bcu"), pk=pk)


def _major(incident: Incident) -> MajorIncident:
    return get_object_or_404(
        MajorIncident.objects.select_related("incident__bcu", "declared_by"), incident=incident
    )


class MajorIncidentApi(APIView):
    """`GET /api/v1/incidents/{id}/major-incident/` (the declaration, METHANE, mobilisation) and
    `POST` `{"methane": {...}}` (a supervisor declares) → 201. METHANE is checked field by field
    (400 names each fault); 409 `already_declared`, `incident_closed`."""

    class InputSerializer(serializers.Serializer):
        methane = serializers.JSONField()

    @extend_schema(responses={200: dict})
    def get(self, request, pk: int):
        _require(perms.can_read(request.user))
        return Response(selectors.major_incident_row(_major(_incident(pk))))

    @extend_schema(request=InputSerializer, responses={201: dict})
    def post(self, request, pk: int):
        _require(perms.can_declare(request.user), "Only supervisors declare major incidents.")
        incident = _incident(pk)
        _require(perms.can_declare(request.user, incident), "This incident is outside your BCU.")

        def produce():
            data = self.InputSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            major = services.major_incident_declare(
                incident=incident, by=request.user, methane=data.validated_data["methane"],
                source=_source(request),
            )  # fmt: skip
            return Response(selectors.major_incident_row(major), status=status.HTTP_201_CREATED)

        return idempotent(request, produce)


class MajorIncidentStandDownApi(APIView):
    """`POST /api/v1/incidents/{id}/major-incident/stand-down/` `{"reason"}` → 200;
    409 `already_stood_down`."""

    class InputSerializer(serializers.Serializer):
        reason = StrictCharField(max_length=1000, multiline=True)

    @extend_schema(request=InputSerializer, responses={200: dict})
    def post(self, request, pk: int):
        _require(perms.can_declare(request.user), "Only supervisors stand major incidents down.")
        incident = _incident(pk)
        _require(perms.can_declare(request.user, incident), "This incident is outside your BCU.")
        major = _major(incident)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        major = services.major_incident_stand_down(
            major=major, by=request.user, reason=data.validated_data["reason"],
            source=_source(request),
        )  # fmt: skip
        return Response(selectors.major_incident_row(major))


class MobilisationApi(APIView):
    """`POST /api/v1/incidents/{id}/major-incident/mobilisation/` `{"kind": "unit|serial",
    "name", "task"?}` → 201 with the major incident."""

    class InputSerializer(serializers.Serializer):
        kind = StrictChoiceField(choices=MobilisationItem.Kind.values)
        name = StrictCharField(max_length=50)
        task = StrictCharField(max_length=300, required=False, allow_blank=True, default="")

    @extend_schema(request=InputSerializer, responses={201: dict})
    def post(self, request, pk: int):
        _require(perms.can_mobilise(request.user))
        incident = _incident(pk)
        _require(perms.can_mobilise(request.user, incident), "This incident is outside your BCU.")
        major = _major(incident)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        services.mobilisation_add(major=major, by=request.user, kind=v["kind"], name=v["name"],
                                  task=v["task"], source=_source(request))  # fmt: skip
        return Response(selectors.major_incident_row(_major(incident)),
                        status=status.HTTP_201_CREATED)  # fmt: skip
