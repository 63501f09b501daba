"""Reference data shared by every desk."""

from rest_framework import serializers
from rest_framework.generics import ListAPIView

from cad.models import BCU


class BCUListApi(ListAPIView):
    """`GET /api/v1/bcus/`: the 12 Basic Command Units."""

    class OutputSerializer(serializers.ModelSerializer):
        class Meta:
            model = BCU
            fields = ["code", "name"]

    serializer_class = OutputSerializer
    queryset = BCU.objects.order_by("code")
    pagination_class = None
