"""Radio-gateway endpoints of the public API (../shared/docs/api.md, "Radio gateway").

Only accounts in the `radio_gateway` group may call them (token auth is how a gateway signs
in); desks read radio traffic on the incident and unit views, never here.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from cad.accounts.roles import RADIO_GATEWAY, has_role
from cad.api.idempotency import idempotent
from cad.audit.trail import source_of
from radio import services
from radio.models import RadioMessage
from radio.validation import DeliveryReceiptInput, InboundBatchInput


def _require_gateway(user) -> None:
    if not has_role(user, RADIO_GATEWAY):
        raise PermissionDenied("Only the radio gateway may call this.")


class RadioInboundApi(APIView):
    """`POST /api/v1/radio/inbound/` `{"messages": [...]}` → 202 `{"accepted", "duplicates"}`.

    The messages are stored before the reply and applied asynchronously. A message whose `id`
    was seen before is counted as a duplicate and changes nothing. One malformed message
    refuses the batch (400, errors at the message's index) and nothing is stored.
    """

    class InboundResultSerializer(serializers.Serializer):
        accepted = serializers.IntegerField()
        duplicates = serializers.IntegerField()

    @extend_schema(request=InboundBatchInput, responses={202: InboundResultSerializer})
    def post(self, request):
        _require_gateway(request.user)

        def produce() -> Response:
            body = request.data
            if not isinstance(body, dict) or "messages" not in body:
                raise serializers.ValidationError({"messages": ["This field is required."]})
            accepted, duplicates = services.radio_messages_receive(
                messages=body["messages"], by=request.user, source=source_of(request) or "radio"
            )
            return Response(
                {"accepted": accepted, "duplicates": duplicates}, status=status.HTTP_202_ACCEPTED
            )

        return idempotent(request, produce)


class RadioDeliveryApi(APIView):
    """`POST /api/v1/radio/delivery/` `{"id", "state": "delivered|failed", "note"?}`.

    A delivery receipt for an outbound despatch message, by our message id (a number, as
    given to the adapter) or the gateway's own reference (text). Repeated or out-of-date
    receipts change nothing; the answer is the message's state after the receipt.
    """

    class DeliveryResultSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        state = serializers.CharField()
        assignment = serializers.IntegerField(allow_null=True)

    @extend_schema(request=DeliveryReceiptInput, responses=DeliveryResultSerializer)
    def post(self, request):
        _require_gateway(request.user)
        data = DeliveryReceiptInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            message = services.radio_message_delivery_record(
                ref=data.validated_data["id"],
                state=data.validated_data["state"],
                note=data.validated_data.get("note", ""),
                by=request.user,
                source=source_of(request) or "radio",
            )
        except RadioMessage.DoesNotExist as exc:
            raise NotFound("No outbound radio message with that id.") from exc
        return Response(
            {"id": message.pk, "state": message.state, "assignment": message.assignment_id}
        )
