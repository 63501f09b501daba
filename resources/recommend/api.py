"""`GET /api/v1/incidents/{id}/recommendations/` and `GET /api/v1/coverage/` (api.md)."""

from django.contrib.auth.models import AnonymousUser, User
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cad.accounts.roles import DESPATCHER, SUPERVISOR, has_role, in_scope, user_bcu_code
from cad.errors import Conflict
from incidents.models import Incident
from resources.recommend.coverage import coverage_report
from resources.recommend.services import recommendation_current

READERS = (DESPATCHER, SUPERVISOR)


def _check_reader(user: User | AnonymousUser) -> None:
    if not has_role(user, *READERS):
        raise PermissionDenied("Recommendations are for despatchers and supervisors.")


class IncidentRecommendationsApi(APIView):
    """Units to send, best first, each with its ETA, distance and reasons.

    Served from the stored result when it is fresh (computed for the incident's current grade,
    type and place, recently, and every listed unit still free); otherwise computed now.
    `score` is the ranking time in seconds (ETA plus penalties): lower is better.
    """

    @extend_schema_serializer(component_name="IncidentRecommendations")
    class OutputSerializer(serializers.Serializer):
        @extend_schema_serializer(component_name="RecommendedUnit")
        class ResultSerializer(serializers.Serializer):
            unit = serializers.CharField()
            eta_seconds = serializers.IntegerField()
            distance_m = serializers.IntegerField(help_text="straight line")
            score = serializers.FloatField(help_text="ranking seconds; lower is better")
            reasons = serializers.ListField(child=serializers.CharField())
            suggested = serializers.BooleanField(help_text="false: lacks the response plan")
            type = serializers.CharField()
            bcu = serializers.CharField()
            status = serializers.CharField()
            deployable = serializers.BooleanField(help_text="committed but deployable")
            position = serializers.DictField()

        incident = serializers.IntegerField()
        computed_at = serializers.DateTimeField()
        router = serializers.CharField()
        trigger = serializers.CharField()
        results = ResultSerializer(many=True)
        warnings = serializers.ListField(child=serializers.CharField())
        plan = serializers.ListField(child=serializers.DictField())

    @extend_schema(responses=OutputSerializer)
    def get(self, request: Request, pk: int) -> Response:
        _check_reader(request.user)
        incident = get_object_or_404(Incident.objects.select_related("bcu"), pk=pk)
        if not in_scope(request.user, incident.bcu.code if incident.bcu is not None else None):
            raise PermissionDenied("This incident is outside your BCU.")
        rec = recommendation_current(incident=incident)
        if rec is None:
            raise Conflict(f"{incident.reference} is closed", code="incident_closed")
        data = {
            "incident": incident.pk,
            "computed_at": rec.computed_at,
            "router": rec.router,
            "trigger": rec.trigger,
            "results": rec.results,
            "warnings": rec.warnings,
            "plan": rec.plan,
        }
        return Response(self.OutputSerializer(data).data)


class CoverageApi(APIView):
    """Per BCU: available units and the estimated time to its worst-covered point; I-grade gaps.

    A user scoped to a BCU sees that BCU only.
    """

    @extend_schema_serializer(component_name="Coverage")
    class OutputSerializer(serializers.Serializer):
        @extend_schema_serializer(component_name="BcuCoverage")
        class BcuSerializer(serializers.Serializer):
            bcu = serializers.CharField()
            name = serializers.CharField()
            available_units = serializers.IntegerField()
            furthest_point = serializers.DictField(allow_null=True)
            eta_to_furthest_seconds = serializers.IntegerField(allow_null=True)
            warning = serializers.CharField(allow_null=True)

        computed_at = serializers.DateTimeField()
        bcus = BcuSerializer(many=True)
        i_grade_warnings = serializers.ListField(child=serializers.DictField())

    @extend_schema(responses=OutputSerializer)
    def get(self, request: Request) -> Response:
        _check_reader(request.user)
        return Response(coverage_report(bcu=user_bcu_code(request.user)))
