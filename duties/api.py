"""Duties API: officers, shifts, roster cells and patterns, booking on and off, CSV export.

Reading needs a supervisor, despatcher or admin role. A user scoped to a BCU sees that BCU's
officers and shifts in the lists (a `bcu` filter only narrows within it; docs/security.md);
one shift by id may be read anywhere, as cross-border crewing needs. Changing needs a
supervisor in scope of the BCU concerned. Rule conflicts answer 409 with the documented
`{"detail", "code"}` plus `overridable` and the full list of `breaches`.
"""

import csv
from datetime import timedelta

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from cad.accounts.roles import ADMIN, DESPATCHER, SUPERVISOR, has_role, in_scope, user_bcu_code
from cad.audit.trail import source_of
from duties.models import Officer, Shift, Team
from duties.permissions import (
    crew_book_off_refusal,
    crew_book_on_refusal,
    may_crew,
    supervisor_refusal,
)
from duties.selectors import (
    CELL_CODES,
    CELL_KINDS,
    officers_list,
    roster_grid,
    shift_detail,
    shift_facts,
    shifts_between,
    shifts_list,
    strength_summary,
    summary_payload,
)
from duties.services import (
    RosterConflict,
    crew_book_off,
    crew_book_on,
    parse_pattern,
    roster_cell_set,
    roster_pattern_apply,
    shift_officer_add,
    shift_officer_remove,
    shift_operation_set,
)
from incidents.operations.models import Operation
from resources.models import Unit

MAX_RANGE_DAYS = 62


def require_reader(request) -> None:
    if not has_role(request.user, SUPERVISOR, DESPATCHER, ADMIN):
        raise PermissionDenied("Duty rosters are for supervisors and despatchers.")


def listable_bcu(request, asked: str | None) -> tuple[str | None, bool]:
    """(BCU a list may show, whether it may show anything) for this reader and `bcu` filter."""
    mine = user_bcu_code(request.user)
    if mine is None:
        return asked, True
    return mine, asked in (None, mine)


def require_supervisor_of(request, *bcu_codes: str) -> None:
    """Supervisors change only their own BCU (central supervisors: any). With no BCU given,
    only the role is checked: do that before reading the request."""
    refusal = supervisor_refusal(request.user, *bcu_codes)
    if refusal:
        raise PermissionDenied(refusal)


def _refuse(refusal: str | None) -> None:
    if refusal:
        raise PermissionDenied(refusal)


def id_field(**kwargs) -> serializers.IntegerField:
    """A row id in a request: positive and within a 64-bit key, so a fuzzed huge number is a
    400 naming the field rather than an overflow in the database driver."""
    return serializers.IntegerField(min_value=1, max_value=2**63 - 1, **kwargs)


class DutiesApi(APIView):
    def handle_exception(self, exc):
        if isinstance(exc, RosterConflict):
            return Response(
                {
                    "detail": exc.detail,
                    "code": exc.code,
                    "overridable": exc.overridable,
                    "breaches": [b.as_dict() for b in exc.breaches[:50]],
                    "breach_count": len(exc.breaches),
                },
                status=409,
            )
        return super().handle_exception(exc)


class RangeInput(serializers.Serializer):
    bcu = serializers.CharField(required=False, allow_blank=True)
    team = id_field(required=False, allow_null=True)

    def validate(self, attrs):
        attrs = super().validate(attrs)
        lo, hi = attrs.get("from"), attrs.get("to")
        if lo and hi and hi < lo:
            raise serializers.ValidationError({"to": ["must not be before from"]})
        if lo and hi and (hi - lo).days >= MAX_RANGE_DAYS:
            raise serializers.ValidationError({"to": [f"at most {MAX_RANGE_DAYS} days at once"]})
        return attrs


# `from` is a Python keyword, so the date fields are declared this way.
RangeInput._declared_fields["from"] = serializers.DateField(required=False)
RangeInput._declared_fields["to"] = serializers.DateField(required=False)


def _range(request) -> dict:
    data = RangeInput(data=request.query_params)
    data.is_valid(raise_exception=True)
    attrs = dict(data.validated_data)
    today = timezone.localdate()
    attrs.setdefault("from", today - timedelta(days=today.weekday()))
    attrs.setdefault("to", attrs["from"] + timedelta(days=6))
    return attrs


def _override_needs_reason(attrs: dict) -> dict:
    """Roster changes may override a rule only with a reason, which is logged with them."""
    if attrs.get("override") and not attrs.get("reason", "").strip():
        raise serializers.ValidationError({"reason": ["An override needs a reason."]})
    return attrs


class OfficerOutput(serializers.Serializer):
    """Schema of an officer in the API (api.md)."""

    id = serializers.IntegerField()
    collar_number = serializers.CharField()
    name = serializers.CharField()
    rank = serializers.CharField()
    bcu = serializers.CharField()
    team = serializers.CharField(allow_null=True)
    skills = serializers.ListField(child=serializers.CharField())


class ShiftOutput(serializers.Serializer):
    """Schema of a shift in the API (api.md); more keys may follow."""

    id = serializers.IntegerField()
    bcu = serializers.CharField()
    team = serializers.CharField(allow_null=True)
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    minimum_strength = serializers.IntegerField()
    officers = serializers.ListField(child=serializers.IntegerField())
    warnings = serializers.ListField(child=serializers.CharField())


class OfficerListApi(DutiesApi):
    """`GET /api/v1/officers/?bcu=CN`: officers with their unexpired skills."""

    class FilterSerializer(serializers.Serializer):
        # Read by hand, a NUL in `bcu` reached PostgreSQL as a 500 (issue 23).
        bcu = serializers.CharField(required=False, allow_blank=True, max_length=8)

    @extend_schema(parameters=[FilterSerializer], responses=OfficerOutput(many=True))
    def get(self, request):
        require_reader(request)
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        asked = filters.validated_data.get("bcu", "").upper() or None
        bcu, visible = listable_bcu(request, asked)
        if not visible:
            return Response([])
        return Response(
            [{k: v for k, v in o.items() if k != "team_id"} for o in officers_list(bcu=bcu)]
        )


class ShiftListApi(DutiesApi):
    """`GET /api/v1/shifts/?bcu=CN&from=2026-11-23&to=2026-11-29` (London dates, inclusive)."""

    @extend_schema(responses=ShiftOutput(many=True))
    def get(self, request):
        require_reader(request)
        attrs = _range(request)
        bcu, visible = listable_bcu(request, (attrs.get("bcu") or "").upper() or None)
        if not visible:
            return Response([])
        return Response(shifts_list(bcu=bcu, date_from=attrs["from"], date_to=attrs["to"]))


class ShiftDetailApi(DutiesApi):
    @extend_schema(responses=ShiftOutput)
    def get(self, request, shift_id: int):
        require_reader(request)
        get_object_or_404(Shift, pk=shift_id)
        return Response(shift_detail(shift_id))


class ShiftOfficerAddApi(DutiesApi):
    """`POST /api/v1/shifts/{id}/officers/`: a `reason` overrides a rule that allows it."""

    class InputSerializer(serializers.Serializer):
        officer = id_field()
        reason = serializers.CharField(required=False, allow_blank=True, max_length=500)

    @extend_schema(request=InputSerializer, responses=ShiftOutput)
    def post(self, request, shift_id: int):
        require_supervisor_of(request)
        shift = get_object_or_404(Shift.objects.select_related("bcu"), pk=shift_id)
        require_supervisor_of(request, shift.bcu.code)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        officer = Officer.objects.filter(pk=data.validated_data["officer"]).first()
        if officer is None:
            raise serializers.ValidationError({"officer": ["No such officer."]})
        require_supervisor_of(request, officer.bcu.code)
        reason = data.validated_data.get("reason", "")
        shift_officer_add(shift=shift, officer=officer, by=request.user, reason=reason,
                          override=bool(reason.strip()), source=source_of(request))  # fmt: skip
        return Response(shift_detail(shift.pk))


class ShiftOperationApi(DutiesApi):
    """`POST /api/v1/shifts/{id}/operation/` `{"operation": id | null}`: mark the shift for a
    planned operation (or clear the mark). Supervisors of the shift's BCU; 409
    `outside_operation` when the shift does not overlap it."""

    class InputSerializer(serializers.Serializer):
        operation = id_field(allow_null=True)

    @extend_schema(request=InputSerializer, responses=ShiftOutput)
    def post(self, request, shift_id: int):
        require_supervisor_of(request)
        shift = get_object_or_404(Shift.objects.select_related("bcu"), pk=shift_id)
        require_supervisor_of(request, shift.bcu.code)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        operation = None
        if (wanted := data.validated_data["operation"]) is not None:
            operation = Operation.objects.filter(pk=wanted).first()
            if operation is None:
                raise serializers.ValidationError({"operation": ["No such operation."]})
        shift_operation_set(shift=shift, operation=operation, by=request.user,
                            source=source_of(request))  # fmt: skip
        return Response(shift_detail(shift.pk))


class ShiftOfficerRemoveApi(DutiesApi):
    """`DELETE /api/v1/shifts/{id}/officers/{officer_id}/`."""

    class FilterSerializer(serializers.Serializer):
        # Read by hand, a NUL in `reason` went into the audit row's JSON: PostgreSQL refused it.
        reason = serializers.CharField(required=False, allow_blank=True, max_length=500)

    @extend_schema(parameters=[FilterSerializer], responses=ShiftOutput)
    def delete(self, request, shift_id: int, officer_id: int):
        require_supervisor_of(request)
        shift = get_object_or_404(Shift.objects.select_related("bcu"), pk=shift_id)
        require_supervisor_of(request, shift.bcu.code)
        officer = get_object_or_404(Officer, pk=officer_id)
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        shift_officer_remove(shift=shift, officer=officer, by=request.user,
                             reason=filters.validated_data.get("reason", ""),
                             source=source_of(request))  # fmt: skip
        return Response(shift_detail(shift.pk))


class RosterCellApi(DutiesApi):
    """`POST /api/v1/roster/cells/` `{"officer", "date", "kind", "reason"?, "override"?}`.

    Unlike the shifts endpoint, a reason alone does not override: the supervisor gives a reason
    for every change they like, and overrides only after seeing the rule's message.
    """

    class InputSerializer(serializers.Serializer):
        officer = id_field()
        date = serializers.DateField()
        kind = serializers.ChoiceField(choices=[k for k in CELL_KINDS if k != "other"] + [""])
        reason = serializers.CharField(required=False, allow_blank=True, max_length=500)
        override = serializers.BooleanField(required=False, default=False)

        validate = staticmethod(_override_needs_reason)

    @extend_schema(request=InputSerializer, responses=OpenApiTypes.OBJECT)
    def post(self, request):
        require_supervisor_of(request)  # the role before the body: see require_supervisor_of
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        officer = Officer.objects.select_related("bcu").filter(pk=v["officer"]).first()
        if officer is None:
            raise serializers.ValidationError({"officer": ["No such officer."]})
        require_supervisor_of(request, officer.bcu.code)
        result = roster_cell_set(officer=officer, day=v["date"], kind=v["kind"], by=request.user,
                                 reason=v.get("reason", ""), override=v["override"],
                                 source=source_of(request))  # fmt: skip
        body = result.as_dict()
        body["code"] = CELL_CODES[result.kind]
        return Response(body)


class RosterPatternApi(DutiesApi):
    """`POST /api/v1/roster/patterns/` apply a repeating pattern to a team, all or nothing."""

    class InputSerializer(serializers.Serializer):
        team = id_field()
        start = serializers.DateField()
        days = serializers.IntegerField(min_value=1, max_value=MAX_RANGE_DAYS, default=28)
        pattern = serializers.CharField(max_length=200)
        offset = serializers.IntegerField(min_value=0, max_value=365, default=0)
        reason = serializers.CharField(required=False, allow_blank=True, max_length=500)
        override = serializers.BooleanField(required=False, default=False)

        validate = staticmethod(_override_needs_reason)

        def validate_pattern(self, value):
            try:
                return parse_pattern(value)
            except ValueError as exc:
                raise serializers.ValidationError(str(exc)) from exc

    @extend_schema(request=InputSerializer, responses=OpenApiTypes.OBJECT)
    def post(self, request):
        require_supervisor_of(request)  # the role before the body: see require_supervisor_of
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        team = Team.objects.select_related("bcu").filter(pk=v["team"]).first()
        if team is None:
            raise serializers.ValidationError({"team": ["No such team."]})
        require_supervisor_of(request, team.bcu.code)
        result = roster_pattern_apply(
            team=team, start=v["start"], days=v["days"], pattern=v["pattern"], by=request.user,
            offset=v["offset"], reason=v.get("reason", ""), override=v["override"],
            source=source_of(request),
        )  # fmt: skip
        return Response(result.as_dict())


class RosterSummaryApi(DutiesApi):
    """`GET /api/v1/roster/summary/?bcu=CN&team=3&from=&to=`: strength per day and shift kind."""

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request):
        require_reader(request)
        attrs = _range(request)
        bcu, visible = listable_bcu(request, (attrs.get("bcu") or "").upper() or None)
        shifts = shifts_between(bcu=bcu, date_from=attrs["from"], date_to=attrs["to"],
                                team_id=attrs.get("team"))  # fmt: skip
        facts = shift_facts(shifts if visible else shifts.none())
        days = [attrs["from"] + timedelta(days=i) for i in range((attrs["to"] - attrs["from"]).days
                                                                 + 1)]  # fmt: skip
        return Response(summary_payload(strength_summary(facts, days)))


class RosterCsvApi(DutiesApi):
    """`GET /api/v1/roster/csv/?bcu=CN&team=3&from=2026-11-23&days=28`: one row per officer."""

    class InputSerializer(serializers.Serializer):
        # A code, not free text: it ends up in the Content-Disposition header.
        bcu = serializers.RegexField(
            r"^[A-Za-z0-9_-]{1,8}$", error_messages={"invalid": "Not a BCU code."}
        )
        team = id_field(required=False, allow_null=True)
        days = serializers.IntegerField(min_value=1, max_value=MAX_RANGE_DAYS, default=28)

    @extend_schema(parameters=[InputSerializer], responses={(200, "text/csv"): OpenApiTypes.STR})
    def get(self, request):
        require_reader(request)
        data = self.InputSerializer(data=request.query_params)
        data.is_valid(raise_exception=True)
        start = _range(request)["from"]
        v = data.validated_data
        if not in_scope(request.user, v["bcu"].upper()):
            raise PermissionDenied(f"You may export rosters of {user_bcu_code(request.user)} only.")
        grid = roster_grid(bcu=v["bcu"].upper(), team_id=v.get("team"), start=start,
                           days=v["days"])  # fmt: skip
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        name = f"roster-{grid['bcu']}-{start.isoformat()}.csv"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        writer = csv.writer(response)
        writer.writerow(["collar_number", "name", "rank", "team", "skills",
                         *(d.isoformat() for d in grid["dates"])])  # fmt: skip
        for o in grid["officers"]:
            who = [_safe(o["collar_number"]), _safe(o["name"]), o["rank"], _safe(o["team"] or "")]
            writer.writerow([*who, " ".join(o["skills"]), *o["cells"]])
        return response


def _safe(text: str) -> str:
    """Keep spreadsheet programs from running a cell as a formula (CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


class CrewBookOnApi(DutiesApi):
    """`POST /api/v1/crewing/book-on/` `{"unit": callsign, "shift": id, "officers": [ids]}`.

    A supervisor of the BCU books anyone on the shift; an officer may book only themselves.
    """

    class InputSerializer(serializers.Serializer):
        unit = serializers.CharField()
        shift = id_field()
        officers = serializers.ListField(child=id_field(), min_length=1,
                                         max_length=12)  # fmt: skip

    @extend_schema(request=InputSerializer, responses=OpenApiTypes.OBJECT)
    def post(self, request):
        _refuse(None if may_crew(request.user) else "Booking on is for supervisors and officers.")
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        unit = Unit.objects.select_related("bcu").filter(callsign=v["unit"]).first()
        shift = Shift.objects.select_related("bcu").filter(pk=v["shift"]).first()
        errors = {}
        if unit is None:
            errors["unit"] = ["No such unit."]
        if shift is None:
            errors["shift"] = ["No such shift."]
        officers = list(Officer.objects.filter(pk__in=v["officers"]))
        if len(officers) != len(set(v["officers"])):
            errors["officers"] = ["No such officer."]
        if errors or unit is None or shift is None:  # (no unit or shift is an error already)
            raise serializers.ValidationError(errors)
        _refuse(crew_book_on_refusal(request.user, unit=unit, shift=shift, officers=officers))
        crew_book_on(unit=unit, shift=shift, officers=officers, by=request.user,
                     source=source_of(request))  # fmt: skip
        return Response(unit_crew_payload(unit))


class CrewBookOffApi(DutiesApi):
    """`POST /api/v1/crewing/book-off/` `{"unit": callsign, "officers"?: [ids]}`."""

    class InputSerializer(serializers.Serializer):
        unit = serializers.CharField()
        officers = serializers.ListField(child=id_field(), required=False)

    @extend_schema(request=InputSerializer, responses=OpenApiTypes.OBJECT)
    def post(self, request):
        _refuse(None if may_crew(request.user) else "Booking off is for supervisors and officers.")
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        unit = Unit.objects.select_related("bcu").filter(callsign=v["unit"]).first()
        if unit is None:
            raise serializers.ValidationError({"unit": ["No such unit."]})
        officers = None
        if "officers" in v:
            officers = list(Officer.objects.filter(pk__in=v["officers"]))
        _refuse(crew_book_off_refusal(request.user, unit=unit, officers=officers or []))
        crew_book_off(unit=unit, by=request.user, officers=officers, source=source_of(request))
        return Response(unit_crew_payload(unit))


def unit_crew_payload(unit: Unit) -> dict:
    unit.refresh_from_db()
    crew = list(
        unit.crewings.filter(booked_off_at__isnull=True)
        .select_related("officer")
        .order_by("officer__collar_number")
    )
    return {
        "unit": unit.callsign,
        "status": unit.status,
        "skills": sorted(unit.skills.values_list("code", flat=True)),
        "crew": [
            {
                "id": c.officer_id,
                "collar_number": c.officer.collar_number,
                "name": c.officer.name,
                "shift": c.shift_id,
            }
            for c in crew
        ],  # fmt: skip
    }
