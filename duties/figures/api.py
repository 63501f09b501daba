"""`GET /api/v1/stats/response-times/` (api.md "Performance figures"; docs/stats.md)."""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from duties.figures.access import FiguresRange, figures_refusal, figures_scope
from duties.figures.selectors import response_figures


class GradeFigures(serializers.Serializer):
    incidents = serializers.IntegerField()
    attended = serializers.IntegerField()
    within_target = serializers.IntegerField()
    pct_within_target = serializers.FloatField(allow_null=True)
    target_seconds = serializers.IntegerField()
    p50_seconds = serializers.FloatField(allow_null=True)
    p90_seconds = serializers.FloatField(allow_null=True)


class DayFigures(serializers.Serializer):
    date = serializers.DateField()
    grade = serializers.CharField()
    incidents = serializers.IntegerField()
    pct_within_target = serializers.FloatField(allow_null=True)


class GradesOutput(serializers.Serializer):
    I = GradeFigures()  # noqa: E741  (the grade's name)
    S = GradeFigures()


class ResponseTimesOutput(serializers.Serializer):
    bcu = serializers.CharField(allow_null=True)
    grades = GradesOutput()
    by_day = DayFigures(many=True)


ResponseTimesOutput._declared_fields["from"] = serializers.DateField()
ResponseTimesOutput._declared_fields["to"] = serializers.DateField()


class ResponseTimesApi(APIView):
    """Response times against the grade targets for a range of London dates and a BCU."""

    @extend_schema(parameters=[FiguresRange], responses=ResponseTimesOutput)
    def get(self, request):
        refusal = figures_refusal(request.user)
        if refusal:
            raise PermissionDenied(refusal)
        try:
            bcu, date_from, date_to = figures_scope(request.user, request.query_params)
        except DjangoPermissionDenied as refused:
            raise PermissionDenied(str(refused)) from refused
        return Response(
            response_figures(bcu=bcu, date_from=date_from, date_to=date_to, now=timezone.now())
        )
