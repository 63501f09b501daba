"""The officers' own view of the public API (api.md "Officers' own view"): `/api/v1/me/…`.

Only the `officer` role, linked to a roster officer, gets in; everything is about the unit they
are booked on to now and its current job. Another incident is 403 whatever its id. Writes go
through resources' services (status, emergency, request to speak) and despatch (the
acknowledgement), with the same rules as the radio and the desks: the transition graph, 409 for
what the unit's state forbids, and an `at` older than the unit's last update changing nothing.
"""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from cad.api.fields import StrictCharField, StrictChoiceField
from cad.api.idempotency import idempotent
from cad.audit.trail import source_of
from cad.errors import Conflict
from duties.officer import selectors
from duties.officer.permissions import post_or_refuse
from duties.officer.selectors import Post
from incidents.models import Incident
from incidents.services import personal_data_read_record
from resources import despatch, services
from resources.api import MAX_CLOCK_AHEAD, UnitOutput
from resources.models import Unit, UnitStatus
from resources.selectors import unit_detail


def _source(request) -> str:
    return source_of(request) or "phone"


def _unit_or_conflict(post: Post) -> Unit:
    if post.unit is None:
        raise Conflict("You are not booked on to a unit.", code="not_booked_on")
    return post.unit


def _my_incident(post: Post, pk: int) -> Incident:
    """The unit's current job, if `pk` is it; 403 for any other id, existing or not."""
    unit = post.unit
    current = selectors.unit_current_incident_id(unit=unit) if unit else None
    if current is None or current != pk:
        raise PermissionDenied("That incident is not your unit's current job.")
    return Incident.objects.select_related("bcu").get(pk=pk)


class AtInput(serializers.Serializer):
    at = serializers.DateTimeField(
        required=False, help_text="when it was pressed (a queued offline press); default now"
    )

    def validate_at(self, value):
        if value > timezone.now() + MAX_CLOCK_AHEAD:
            raise serializers.ValidationError("Is in the future; check the phone's clock.")
        return value


class MeApi(APIView):
    """`GET /api/v1/me/`: who I am and the unit I am booked on to now (with its crew)."""

    @extend_schema(responses=dict)
    def get(self, request):
        post = post_or_refuse(request.user)
        return Response(selectors.me_payload(user=request.user, post=post))


class MeJobApi(APIView):
    """`GET /api/v1/me/job/`: my unit's current incident with its warnings and the address's
    history; 204 when there is none."""

    @extend_schema(responses={200: dict, 204: None})
    def get(self, request):
        post = post_or_refuse(request.user)
        unit = post.unit
        pk = selectors.unit_current_incident_id(unit=unit) if unit else None
        if unit is None or pk is None:
            return Response(status=204)
        incident = Incident.objects.get(pk=pk)
        return Response(selectors.job_payload(incident=incident, unit=unit, user=request.user))


class MeShiftJobsApi(APIView):
    """`GET /api/v1/me/jobs/`: my unit's jobs since I booked on, newest first."""

    @extend_schema(responses=dict)
    def get(self, request):
        post = post_or_refuse(request.user)
        return Response({"results": selectors.shift_jobs(post=post)})


class MeStatusApi(APIView):
    """`POST /api/v1/me/status/` `{"status", "at"?, "reason"?}` → 200 with the unit.

    `unavailable` needs a `reason` (it goes in the unit's audit row for the desk to read).
    A press queued offline carries its own `at` and an `Idempotency-Key`: a replay answers
    what the first one did, and an `at` older than the unit's last update changes nothing.
    """

    class InputSerializer(AtInput):
        status = StrictChoiceField(choices=selectors.PHONE_STATUS_CHOICES)
        reason = StrictCharField(required=False, allow_blank=True, max_length=200)

        def validate(self, attrs):
            if attrs["status"] == UnitStatus.UNAVAILABLE and not attrs.get("reason"):
                raise serializers.ValidationError({"reason": ["Say why the unit is unavailable."]})
            return attrs

    @extend_schema(request=InputSerializer, responses=UnitOutput)
    def post(self, request):
        post = post_or_refuse(request.user)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        unit = _unit_or_conflict(post)
        v = data.validated_data

        def produce() -> Response:
            changed = services.unit_set_status(
                unit=unit, status=v["status"], at=v.get("at"), source=_source(request),
                by=request.user, note=v.get("reason", ""),
            )  # fmt: skip
            payload = getattr(changed, "board_payload", None)
            return Response(payload if payload is not None else unit_detail(unit=changed))

        return idempotent(request, produce)


class MeEmergencyApi(APIView):
    """`POST /api/v1/me/emergency/` `{"at"?}`: the held red button; rings on every desk."""

    class InputSerializer(AtInput):
        pass

    @extend_schema(request=InputSerializer, responses=UnitOutput)
    def post(self, request):
        post = post_or_refuse(request.user)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        unit = _unit_or_conflict(post)

        def produce() -> Response:
            raised = services.unit_raise_emergency(
                unit=unit, at=data.validated_data.get("at"), source=_source(request),
                by=request.user,
            )  # fmt: skip
            return Response(unit_detail(unit=raised))

        return idempotent(request, produce)


class MeRequestToSpeakApi(APIView):
    """`POST /api/v1/me/request-to-speak/`: ask the despatcher to call (radio code 12's twin);
    logged on the current job, if any."""

    @extend_schema(request=None, responses=dict)
    def post(self, request):
        post = post_or_refuse(request.user)
        unit = _unit_or_conflict(post)

        def produce() -> Response:
            reference = services.unit_request_to_speak(
                unit=unit, by=request.user, source=_source(request)
            )
            return Response({"callsign": unit.callsign, "logged_on": reference})

        return idempotent(request, produce)


class MeAcknowledgeApi(APIView):
    """`POST /api/v1/me/incidents/{id}/acknowledge/`: the crew has the despatch; recorded on
    the assignment and shown on the board. 403 unless it is the unit's current job."""

    @extend_schema(request=None, responses=dict)
    def post(self, request, pk: int):
        post = post_or_refuse(request.user)
        incident = _my_incident(post, pk)
        unit = _unit_or_conflict(post)

        def produce() -> Response:
            assignment = despatch.assignment_acknowledge(
                unit=unit, incident_id=incident.pk, by=request.user, source=_source(request)
            )
            acknowledged = assignment.acknowledged_at
            return Response(
                {"incident": incident.pk, "unit": unit.callsign,
                 "acknowledged_at": acknowledged.isoformat() if acknowledged else None}
            )  # fmt: skip

        return idempotent(request, produce)


class MeCallbackApi(APIView):
    """`GET /api/v1/me/incidents/{id}/callback/`: the caller's call-back number, when the job
    allows it (409 `callback_not_allowed` otherwise). Each read is audited."""

    @extend_schema(responses=dict)
    def get(self, request, pk: int):
        post = post_or_refuse(request.user)
        incident = _my_incident(post, pk)
        if not selectors.callback_allowed(incident=incident):
            raise Conflict("This job does not allow a call-back.", code="callback_not_allowed")
        personal_data_read_record(
            incident=incident, by=request.user, source=_source(request), what="officer phone"
        )
        return Response({"incident": incident.pk, "phone": selectors.callback_number(
            incident=incident)})  # fmt: skip
