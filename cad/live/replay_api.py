"""`GET /api/v1/board/at/` and `GET /api/v1/board/timeline/`: the board at any moment.

Supervisors and admins only (a replay shows every incident and unit of the scope, and who was
where). A BCU supervisor sees their BCU's board, a central supervisor or an admin all London
(or one BCU with `bcu=`). Every read is on the audit trail with the moment asked for.
"""

from datetime import timedelta
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from cad.accounts.roles import ADMIN, SUPERVISOR, has_role, user_bcu_code
from cad.audit.api import MomentField
from cad.audit.trail import audit_record, source_of
from cad.live.replay import (
    ReplayRangeError,
    board_at,
    neighbour_seqs,
    seq_at,
    seq_exists,
    stream_events,
)
from cad.models import BCU, AuditEvent

TIMELINE_LIMIT = 2000
TIMELINE_SPAN = timedelta(hours=24)


def replay_reader_check(user) -> None:
    """Before anything else, so those without the role learn nothing from the answer."""
    if not has_role(user, SUPERVISOR, ADMIN):
        raise PermissionDenied("Only supervisors and admins may replay the board.")


def replay_scope(user, asked: str) -> str | None:
    """The BCU whose board the reader sees (None: all London); refuses a BCU outside scope."""
    replay_reader_check(user)
    own = None if has_role(user, ADMIN) else user_bcu_code(user)
    if asked and own is not None and asked != own:
        raise PermissionDenied("That BCU is outside your scope.")
    return asked or own


class BoardAtQuery(serializers.Serializer):
    t = MomentField(required=False)
    seq = serializers.IntegerField(required=False, min_value=0, max_value=2**62)
    bcu = serializers.CharField(required=False, allow_blank=True, max_length=8)

    def validate_bcu(self, value: str) -> str:
        if value and not BCU.objects.filter(code=value).exists():
            raise serializers.ValidationError("No BCU with that code.")
        return value

    def validate(self, attrs):
        if ("t" in attrs) == ("seq" in attrs):
            raise serializers.ValidationError({"t": ["Give a moment `t` (or an event `seq`)."]})
        return attrs


class BoardAtApi(APIView):
    """`GET /api/v1/board/at/?t=<ISO time>`: the board as it stood then (docs/replay.md)."""

    @extend_schema(
        parameters=[
            OpenApiParameter("t", str, description="ISO 8601 date-time"),
            OpenApiParameter("seq", int, description="instead of t: just after this event"),
            OpenApiParameter("bcu", str, description="one BCU's board (central readers)"),
        ],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request):
        replay_reader_check(request.user)
        query = BoardAtQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        values = query.validated_data
        bcu = replay_scope(request.user, values.get("bcu", ""))
        if "seq" in values:
            seq = values["seq"]
            if not seq_exists(seq):
                raise serializers.ValidationError({"seq": ["No event with that number."]})
        else:
            try:
                seq = seq_at(values["t"])
            except ReplayRangeError as exc:
                raise serializers.ValidationError({"t": [str(exc)]}) from exc
        board = board_at(seq=seq, bcu=bcu)
        moment = values.get("t")
        body: dict[str, Any] = {
            "t": moment.isoformat() if moment else board["at"],
            **board,
            **neighbour_seqs(seq=seq, bcu=bcu),
        }
        audit_record(
            user=request.user, action=AuditEvent.Action.READ_PERSONAL,
            object_type="cad.event", object_id=str(seq), object_repr="board replay",
            changes={"t": body["t"], "seq": seq, "bcu": bcu}, source=source_of(request),
        )  # fmt: skip
        return Response(body)


class TimelineQuery(serializers.Serializer):
    bcu = serializers.CharField(required=False, allow_blank=True, max_length=8)

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = MomentField()
        fields["to"] = MomentField()
        return fields

    def validate(self, attrs):
        if attrs["from"] >= attrs["to"]:
            raise serializers.ValidationError({"to": ["Must be after `from`."]})
        if attrs["to"] - attrs["from"] > TIMELINE_SPAN:
            raise serializers.ValidationError({"to": ["At most 24 hours at a time."]})
        return attrs


class BoardTimelineApi(APIView):
    """`GET /api/v1/board/timeline/?from=&to=`: the board events in a window, oldest first
    (at most 2000), for the replay page's slider and its event-by-event steps."""

    @extend_schema(
        parameters=[
            OpenApiParameter("from", str, required=True),
            OpenApiParameter("to", str, required=True),
            OpenApiParameter("bcu", str),
        ],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request):
        replay_reader_check(request.user)
        query = TimelineQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        values = query.validated_data
        bcu = replay_scope(request.user, values.get("bcu", ""))
        events = stream_events(
            start=values["from"], end=values["to"], bcu=bcu, limit=TIMELINE_LIMIT
        )
        return Response({"bcu": bcu, "events": events, "truncated": len(events) >= TIMELINE_LIMIT})
