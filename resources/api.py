"""Unit and despatch endpoints of the public API (../shared/docs/api.md).

One view per operation; every write goes through resources/services.py. Who may do what:
- read units: every CAD role (units are not personal data; call handlers see who is free);
- status and position: the radio gateway (any unit), despatchers and supervisors (units of
  their BCU, or working one of its incidents);
- raise an emergency: the radio gateway, despatchers and supervisors;
- acknowledge an emergency: any despatcher or supervisor (it rings on every desk in London);
- assign / unassign: despatchers and supervisors whose BCU holds the incident or the unit.
"""

from __future__ import annotations

from datetime import timedelta

from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from cad.accounts.roles import (
    ADMIN,
    CALL_HANDLER,
    DESPATCHER,
    RADIO_GATEWAY,
    SUPERVISOR,
    has_role,
    user_bcu_code,
)
from cad.api.fields import StrictCharField, StrictFloatField
from cad.api.idempotency import idempotent
from cad.audit.trail import source_of
from incidents.models import Incident
from incidents.operations.models import Operation
from incidents.selectors import incident_detail
from resources import despatch, ringfence, selectors, services
from resources.models import Assignment, Unit, UnitStatus
from resources.timers import board_timers, timer_flags

READERS = (CALL_HANDLER, DESPATCHER, SUPERVISOR, ADMIN, RADIO_GATEWAY)
DESKS = (DESPATCHER, SUPERVISOR)
# A radio clock a little ahead is normal; one far ahead would freeze the unit (every later
# update would look stale), so it is refused.
MAX_CLOCK_AHEAD = timedelta(minutes=2)


def _source(request) -> str:
    return source_of(request) or "api"


def _unit(callsign: str) -> Unit:
    return get_object_or_404(Unit.objects.select_related("bcu"), callsign=callsign, active=True)


def _unit_in_desk_scope(user, unit: Unit) -> bool:
    """A BCU desk commands its own units and any unit working one of its incidents."""
    bcu = user_bcu_code(user)
    if bcu is None or unit.bcu.code == bcu:
        return True
    return Assignment.objects.filter(
        unit=unit, cleared_at__isnull=True, incident__bcu__code=bcu
    ).exists()


def _may_command(user, unit: Unit | None = None) -> None:
    """Status and position: the gateway any unit, desks their BCU's. With no unit, the role
    only: checked before the unit is looked up, so a 404 tells only those who may ask."""
    if has_role(user, RADIO_GATEWAY):
        return
    if not has_role(user, *DESKS):
        raise PermissionDenied("Only despatchers, supervisors and the radio gateway may do this.")
    if unit is not None and not _unit_in_desk_scope(user, unit):
        raise PermissionDenied(f"{unit.callsign} is outside your BCU.")


class UnitOutput(serializers.Serializer):
    """For the schema: the shape `resources.selectors.unit_payload` builds."""

    class PositionOutput(serializers.Serializer):
        lat = serializers.FloatField()
        lon = serializers.FloatField()
        at = serializers.DateTimeField(allow_null=True)

    callsign = serializers.CharField()
    type = serializers.CharField()
    status = serializers.ChoiceField(choices=UnitStatus.choices)
    status_at = serializers.DateTimeField(allow_null=True)
    deployable = serializers.BooleanField(help_text="committed but deployable (code 7)")
    position = PositionOutput(allow_null=True)
    bcu = serializers.CharField()
    issi = serializers.CharField()
    emergency = serializers.BooleanField()
    emergency_at = serializers.DateTimeField(allow_null=True)
    skills = serializers.ListField(child=serializers.CharField())
    incident = serializers.IntegerField(allow_null=True)
    job = serializers.DictField(allow_null=True, help_text="the active assignment's times")


class TimeInput(serializers.Serializer):
    at = serializers.DateTimeField(required=False, help_text="when it happened; default now")

    def validate_at(self, value):
        if value > timezone.now() + MAX_CLOCK_AHEAD:
            raise serializers.ValidationError("Is in the future; check the sender's clock.")
        return value


class UnitListApi(APIView):
    """`GET /api/v1/units/?status=available&bcu=CN`: active units, by call sign."""

    class FilterInput(serializers.Serializer):
        status = serializers.ChoiceField(choices=UnitStatus.choices, required=False)
        bcu = serializers.CharField(required=False, max_length=8)

    @extend_schema(
        parameters=[
            OpenApiParameter("status", enum=UnitStatus.values),
            OpenApiParameter("bcu", str, description="BCU code: its units and units on its jobs"),
        ],
        responses=UnitOutput(many=True),
    )
    def get(self, request):
        if not has_role(request.user, *READERS):
            raise PermissionDenied("Your role does not allow this.")
        filters = self.FilterInput(data=request.query_params)
        filters.is_valid(raise_exception=True)
        data = filters.validated_data
        return Response(
            selectors.units_for_board(
                bcu=data.get("bcu") or None,
                status=data.get("status"),
                scope=user_bcu_code(request.user),
            )
        )


class UnitDetailApi(APIView):
    """`GET /api/v1/units/{callsign}/`."""

    @extend_schema(responses=UnitOutput)
    def get(self, request, callsign: str):
        if not has_role(request.user, *READERS):
            raise PermissionDenied("Your role does not allow this.")
        return Response(selectors.unit_detail(unit=_unit(callsign)))


class UnitStatusApi(APIView):
    """`POST /api/v1/units/{callsign}/status/` `{"status", "at"?}`.

    409 `invalid_transition` when the unit's state forbids it; an update timed before the last
    one applied changes nothing and answers 200 with the unit as it is.
    """

    class InputSerializer(TimeInput):
        status = serializers.ChoiceField(choices=UnitStatus.choices)
        deployable = serializers.BooleanField(
            required=False, default=False, help_text="with `unavailable`: committed, deployable"
        )

    @extend_schema(request=InputSerializer, responses=UnitOutput)
    def post(self, request, callsign: str):
        _may_command(request.user)
        unit = _unit(callsign)
        _may_command(request.user, unit)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        source = "radio" if has_role(request.user, RADIO_GATEWAY) else _source(request)
        unit = services.unit_set_status(
            unit=unit, status=data.validated_data["status"], at=data.validated_data.get("at"),
            deployable=data.validated_data["deployable"], source=source, by=request.user,
        )  # fmt: skip
        # A change answers with the payload its event carried; a stale or repeated report
        # changed nothing and answers with the unit as it is.
        payload = getattr(unit, "board_payload", None)
        return Response(payload if payload is not None else selectors.unit_detail(unit=unit))


class UnitPositionApi(APIView):
    """`POST /api/v1/units/{callsign}/position/` `{"lat", "lon", "at"?}`; older fixes ignored."""

    class InputSerializer(TimeInput):
        lat = StrictFloatField(min_value=-90, max_value=90)
        lon = StrictFloatField(min_value=-180, max_value=180)

    @extend_schema(request=InputSerializer, responses=UnitOutput)
    def post(self, request, callsign: str):
        _may_command(request.user)
        unit = _unit(callsign)
        _may_command(request.user, unit)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.unit_set_position(
            unit=unit, lat=data.validated_data["lat"], lon=data.validated_data["lon"],
            at=data.validated_data.get("at"), source=_source(request), by=request.user,
        )  # fmt: skip
        return Response(selectors.unit_detail(unit=unit))


class UnitEmergencyApi(APIView):
    """`POST /api/v1/units/{callsign}/emergency/`: raise the alarm on every desk (code 0)."""

    class InputSerializer(TimeInput):
        pass

    @extend_schema(request=InputSerializer, responses=UnitOutput)
    def post(self, request, callsign: str):
        if not has_role(request.user, RADIO_GATEWAY, *DESKS):
            raise PermissionDenied("Only desks and the radio gateway raise emergencies.")
        unit = _unit(callsign)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        unit = services.unit_raise_emergency(
            unit=unit, at=data.validated_data.get("at"), source=_source(request), by=request.user
        )
        return Response(selectors.unit_detail(unit=unit))


class UnitEmergencyAcknowledgeApi(APIView):
    """`POST /api/v1/units/{callsign}/emergency/acknowledge/`: stop the alarm; logged.

    Any despatcher or supervisor may take it, whatever their BCU: the alarm rings everywhere.
    409 `no_emergency` when there is none (someone else took it first).
    """

    @extend_schema(request=None, responses=UnitOutput)
    def post(self, request, callsign: str):
        if not has_role(request.user, *DESKS):
            raise PermissionDenied("Only despatchers and supervisors acknowledge emergencies.")
        unit = _unit(callsign)
        unit = services.unit_acknowledge_emergency(
            unit=unit, by=request.user, source=_source(request)
        )
        return Response(selectors.unit_detail(unit=unit))


class AssignInput(serializers.Serializer):
    unit = serializers.CharField(max_length=20, help_text="call sign")
    override_reason = StrictCharField(
        max_length=1000, required=False, allow_blank=True, default="", multiline=True,
        help_text="needed to send a unit ring-fenced for a planned operation elsewhere",
    )  # fmt: skip


def _incident_and_unit(request, pk: int) -> tuple[Incident, Unit]:
    if not has_role(request.user, *DESKS):
        raise PermissionDenied("Only despatchers and supervisors send units.")
    incident = get_object_or_404(Incident.objects.select_related("bcu"), pk=pk)
    data = AssignInput(data=request.data)
    data.is_valid(raise_exception=True)
    unit = Unit.objects.select_related("bcu").filter(callsign=data.validated_data["unit"]).first()
    if unit is None or not unit.active:
        raise serializers.ValidationError({"unit": ["No such unit."]})
    bcu = user_bcu_code(request.user)
    if bcu is not None and bcu not in {
        unit.bcu.code,
        incident.bcu.code if incident.bcu is not None else "",
    }:
        raise PermissionDenied("Neither the incident nor the unit is in your BCU.")
    return incident, unit


class IncidentAssignApi(APIView):
    """`POST /api/v1/incidents/{id}/assign/` `{"unit"}` → 200 with the incident.

    409 `unit_unavailable` when the unit is not free to go; of many despatchers sending the
    same unit at once exactly one succeeds. Sending a unit already on this incident is a no-op.
    Accepts `Idempotency-Key`.
    """

    @extend_schema(request=AssignInput, responses={200: dict})
    def post(self, request, pk: int):
        incident, unit = _incident_and_unit(request, pk)
        reason = request.data.get("override_reason", "") if isinstance(request.data, dict) else ""

        def produce():
            despatch.assignment_create(
                incident=incident, unit=unit, by=request.user, source=_source(request),
                override_reason=reason,
            )  # fmt: skip
            return Response(incident_detail(incident=incident, user=request.user))

        return idempotent(request, produce)


class IncidentUnassignApi(APIView):
    """`POST /api/v1/incidents/{id}/unassign/` `{"unit"}` → 200 with the incident.

    409 `not_assigned` when the unit is not on it.
    """

    @extend_schema(request=AssignInput, responses={200: dict})
    def post(self, request, pk: int):
        incident, unit = _incident_and_unit(request, pk)
        despatch.assignment_clear(
            incident=incident, unit=unit, by=request.user, source=_source(request)
        )
        return Response(incident_detail(incident=incident, user=request.user))


class TimerFlagsApi(APIView):
    """`GET /api/v1/board/timers/`: thresholds per grade and the jobs past one now."""

    @extend_schema(responses={200: dict})
    def get(self, request):
        if not has_role(request.user, *DESKS):
            raise PermissionDenied("Your role does not allow this.")
        bcu = user_bcu_code(request.user)
        return Response({"timers": board_timers(), "flags": timer_flags(bcu=bcu)})


class OperationUnitsApi(APIView):
    """`POST /api/v1/operations/{id}/units/` `{"unit": "<call sign>"}` → 200 with the operation's
    ring-fenced units: between its start and end the unit is not recommended for other
    incidents, and sending it to one needs `override_reason`. Supervisors whose scope holds the
    operation's BCU; 409 `operation_over` once it has ended."""

    @extend_schema(request=AssignInput, responses={200: dict})
    def post(self, request, pk: int):
        operation = _operation_for_supervisor(request, pk)
        data = AssignInput(data=request.data)
        data.is_valid(raise_exception=True)
        unit = Unit.objects.filter(callsign=data.validated_data["unit"], active=True).first()
        if unit is None:
            raise serializers.ValidationError({"unit": ["No such unit."]})
        ringfence.ring_fence_add(operation=operation, unit=unit, by=request.user,
                                 source=_source(request))  # fmt: skip
        return Response({"operation": operation.pk, "units": ringfence.operation_units(operation)})


class OperationUnitReleaseApi(APIView):
    """`DELETE /api/v1/operations/{id}/units/{callsign}/` → 200: the unit is released."""

    @extend_schema(responses={200: dict})
    def delete(self, request, pk: int, callsign: str):
        operation = _operation_for_supervisor(request, pk)
        ringfence.ring_fence_remove(operation=operation, unit=_unit(callsign), by=request.user,
                                    source=_source(request))  # fmt: skip
        return Response({"operation": operation.pk, "units": ringfence.operation_units(operation)})


def _operation_for_supervisor(request, pk: int) -> Operation:
    if not has_role(request.user, SUPERVISOR):
        raise PermissionDenied("Only supervisors ring-fence units.")
    operation = get_object_or_404(Operation.objects.select_related("bcu"), pk=pk)
    bcu = user_bcu_code(request.user)
    if bcu is not None and bcu != operation.bcu.code:
        raise PermissionDenied("This operation is outside your BCU.")
    return operation
