"""Other services (CAD-to-CAD): EIDO out and in (../shared/docs/api.md "Other services";
docs/api-notes.md, issue 18).

- `GET /api/v1/incidents/{id}/eido/[?partner=CODE]`: the incident as EIDO. Without `partner`
  no personal data; with it, exactly what that partner is sent (callers only if it may have
  them, and then the read is audited).
- `POST /api/v1/incidents/{id}/partners/` `{"partner": CODE}`: share it (desks, their BCU).
- `POST /api/v1/eido/inbound/` (role partner_agency): a partner's document → 202
  `{"incident", "created"}`; 400 naming the fault, nothing saved.
"""

from __future__ import annotations

from django.conf import settings
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from cad.accounts.roles import PARTNER_AGENCY, has_role
from cad.api.fields import StrictCharField
from cad.api.idempotency import idempotent
from cad.audit.trail import source_of
from incidents import permissions as perms
from incidents.models import Incident
from incidents.services import personal_data_read_record
from resources.partners import eido, services
from resources.partners.models import PartnerAgency
from resources.partners.selectors import incident_partner_shares


class IncidentEidoApi(APIView):
    """`GET /api/v1/incidents/{id}/eido/`: the incident as an EIDO document (NENA-STA-021)."""

    class FilterSerializer(serializers.Serializer):
        # Validated like any field: a NUL in the code reached PostgreSQL as a 500 (issue 23).
        partner = StrictCharField(
            max_length=20, required=False, allow_blank=True,
            help_text="render as sent to this partner",
        )  # fmt: skip

    @extend_schema(parameters=[FilterSerializer], responses=dict)
    def get(self, request, pk: int):
        if not perms.can_read(request.user):
            raise PermissionDenied("Your role does not allow this.")
        incident = get_object_or_404(Incident, pk=pk)
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        personal, include_log = False, True
        if code := filters.validated_data.get("partner"):
            partner = PartnerAgency.objects.filter(code=code).first()
            if partner is None:
                raise ValidationError({"partner": [f"Unknown partner {code!r}."]})
            personal = partner.may_receive_personal and perms.can_read_personal(request.user)
            include_log = partner.may_receive_log
        document = eido.eido_document(incident, personal=personal, include_log=include_log)
        if personal and "personComponent" in document:
            personal_data_read_record(
                incident=incident, by=request.user, source=source_of(request) or "api",
                what="api eido",
            )  # fmt: skip
        return Response(document)


class IncidentShareApi(APIView):
    """`POST /api/v1/incidents/{id}/partners/` `{"partner": CODE}` → 201 with the incident's
    shares and their delivery state; 409 `already_shared`."""

    class InputSerializer(serializers.Serializer):
        partner = StrictCharField(max_length=20)

    @extend_schema(request=InputSerializer, responses={201: dict})
    def post(self, request, pk: int):
        if not perms.can_manage(request.user):
            raise PermissionDenied("Your role does not allow this.")
        incident = get_object_or_404(Incident.objects.select_related("bcu"), pk=pk)
        if not perms.can_manage(request.user, incident):
            raise PermissionDenied("Your role or BCU does not allow this change to this incident.")

        def produce() -> Response:
            data = self.InputSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            partner = PartnerAgency.objects.filter(code=data.validated_data["partner"]).first()
            if partner is None:
                raise ValidationError({"partner": ["Unknown partner agency."]})
            services.incident_share(incident=incident, partner=partner, by=request.user,
                                    source=source_of(request) or "api")  # fmt: skip
            shares = incident_partner_shares(incident)
            return Response({"incident": incident.pk, "partners": shares},
                            status=status.HTTP_201_CREATED)  # fmt: skip

        return idempotent(request, produce)


class EidoInboundApi(APIView):
    """`POST /api/v1/eido/inbound/` (partner agencies) with an EIDO document → 202
    `{"incident": id, "created": bool}`. The same partner incident again updates it."""

    class ResultSerializer(serializers.Serializer):
        incident = serializers.IntegerField()
        created = serializers.BooleanField()

    @extend_schema(request=dict, responses={202: ResultSerializer})
    def post(self, request):
        if not has_role(request.user, PARTNER_AGENCY):
            raise PermissionDenied("Only partner agencies may send EIDO documents.")
        limit = settings.EIDO_MAX_BYTES
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > limit or len(request.body) > limit:
            raise ValidationError({"document": [f"Too large: at most {limit} bytes."]})
        document = request.data
        if not isinstance(document, dict):
            raise ValidationError({"document": ["An EIDO document is a JSON object."]})
        incident, created = services.eido_receive(
            user=request.user, document=document, source=source_of(request) or "partner"
        )
        return Response({"incident": incident.pk, "created": created},
                        status=status.HTTP_202_ACCEPTED)  # fmt: skip
