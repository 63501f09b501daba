"""Reads for partner agencies."""

from typing import Any

from django.db.models import F, QuerySet, Window
from django.db.models.functions import RowNumber

from cad.prepared import PreparedValues
from incidents.models import Incident
from resources.partners.models import PartnerAgency, PartnerDelivery, PartnerShare


def partners_active() -> QuerySet[PartnerAgency]:
    return PartnerAgency.objects.filter(active=True).order_by("code")


def _available_queryset(*, incident_id: int) -> QuerySet:
    shared = PartnerShare.objects.filter(incident_id=incident_id).values("partner_id")
    return partners_active().exclude(pk__in=shared).values_list("code", "name")


def _shares_queryset(*, incident_id: int) -> QuerySet:
    return (
        PartnerShare.objects.filter(incident_id=incident_id)
        .order_by("id")
        .values_list("id", "partner__code", "partner__name", "shared_at")
    )


# Both are read for every incident detail (the assign's and the close's answer too): compiled
# once and prepared on the server (cad/prepared.py, decision 0036).
AVAILABLE = PreparedValues(PartnerAgency, _available_queryset)
SHARES = PreparedValues(PartnerShare, _shares_queryset)


def partner_agencies_available(incident: Incident) -> list[dict[str, str]]:
    """The incident's "partner_agencies" detail part: active partners it is not yet shared
    with, for the page's share form."""
    rows = AVAILABLE.rows("available", incident_id=incident.pk)
    return [{"code": code, "name": name} for code, name in rows]


def incident_partner_shares(incident: Incident) -> list[dict[str, Any]]:
    """The incident's "partners" part of its detail: who it is shared with and the state of the
    latest delivery to each (queued, acknowledged, failed), with its attempts and error."""
    # Most incidents are shared with no one: then this is the only statement.
    rows = SHARES.rows("shares", incident_id=incident.pk)
    latest = _latest_deliveries([share_id for share_id, *_ in rows]) if rows else {}
    return [
        {
            "partner": code,
            "name": name,
            "shared_at": shared_at.isoformat(),
            "delivery": latest.get(share_id),
        }
        for share_id, code, name, shared_at in rows
    ]


def _latest_deliveries(share_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Each share's latest delivery, in one statement for all of them (not one per share, and
    without the document each delivery keeps of what it sent)."""
    newest_first = [F("queued_at").desc(), F("id").desc()]
    rows = (
        PartnerDelivery.objects.filter(share_id__in=share_ids)
        .annotate(rank=Window(RowNumber(), partition_by=[F("share_id")], order_by=newest_first))
        .filter(rank=1)
        .values_list("share_id", "state", "queued_at", "state_at", "attempts", "last_error",
                     "alerted_at")
    )  # fmt: skip
    return {
        share_id: {
            "state": state,
            "queued_at": queued_at.isoformat(),
            "state_at": state_at.isoformat() if state_at else None,
            "attempts": attempts,
            "error": error,
            "alerted": alerted_at is not None,
        }
        for share_id, state, queued_at, state_at, attempts, error, alerted_at in rows
    }
