"""Reads for partner agencies."""

from typing import Any

from django.db.models import QuerySet

from incidents.models import Incident
from resources.partners.models import PartnerAgency, PartnerDelivery, PartnerShare


def partners_active() -> QuerySet[PartnerAgency]:
    return PartnerAgency.objects.filter(active=True).order_by("code")


def partner_agencies_available(incident: Incident) -> list[dict[str, str]]:
    """The incident's "partner_agencies" detail part: active partners it is not yet shared
    with, for the page's share form."""
    shared = PartnerShare.objects.filter(incident=incident).values("partner_id")
    rows = partners_active().exclude(pk__in=shared).values_list("code", "name")
    return [{"code": code, "name": name} for code, name in rows]


def incident_partner_shares(incident: Incident) -> list[dict[str, Any]]:
    """The incident's "partners" part of its detail: who it is shared with and the state of the
    latest delivery to each (queued, acknowledged, failed), with its attempts and error."""
    shares = []
    for share in PartnerShare.objects.filter(incident=incident).select_related("partner"):
        latest = PartnerDelivery.objects.filter(share=share).order_by("-queued_at", "-id").first()
        shares.append({
            "partner": share.partner.code,
            "name": share.partner.name,
            "shared_at": share.shared_at.isoformat(),
            "delivery": None if latest is None else {
                "state": latest.state,
                "queued_at": latest.queued_at.isoformat(),
                "state_at": latest.state_at.isoformat() if latest.state_at else None,
                "attempts": latest.attempts,
                "error": latest.last_error,
                "alerted": latest.alerted_at is not None,
            },
        })  # fmt: skip
    return shares
