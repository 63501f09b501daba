"""The incident detail's "partners" part: each share with its latest delivery, read in one
statement for all the shares (it was one per share, each loading the document it sent)."""

from datetime import timedelta

from django.utils import timezone

from resources.partners.models import PartnerAgency, PartnerDelivery, PartnerShare
from resources.partners.selectors import incident_partner_shares
from tests.factories import make_incident


def _partner(code: str) -> PartnerAgency:
    return PartnerAgency.objects.create(code=code, name=f"{code} agency", kind="fire",
                                        agency_id=f"{code.lower()}.example")  # fmt: skip


def test_each_share_shows_its_latest_delivery_and_all_are_read_at_once(
    cast, django_assert_num_queries
):
    incident = make_incident(cast.handler, summary="shared three ways")
    other = make_incident(cast.handler, summary="shared elsewhere")
    now = timezone.now()
    las, lfb, nps = (
        PartnerShare.objects.create(incident=incident, partner=_partner(code), shared_at=now)
        for code in ("LAS", "LFB", "NPS")
    )
    ten_s_ago = now - timedelta(seconds=10)
    PartnerDelivery.objects.create(share=las, state="acknowledged", queued_at=now - timedelta(1),
                                   state_at=now - timedelta(1), attempts=1)  # fmt: skip
    PartnerDelivery.objects.create(share=las, state="failed", queued_at=ten_s_ago, attempts=3,
                                   last_error="timed out", alerted_at=now)  # fmt: skip
    # Two queued in the same instant: the later row is the latest.
    PartnerDelivery.objects.create(share=lfb, state="acknowledged", queued_at=now, attempts=1)
    PartnerDelivery.objects.create(share=lfb, state="queued", queued_at=now)
    elsewhere = PartnerShare.objects.create(incident=other, partner=nps.partner, shared_at=now)
    PartnerDelivery.objects.create(share=elsewhere, state="failed", queued_at=now, attempts=9)

    incident_partner_shares(incident)  # the first read prepares its statements on PostgreSQL
    with django_assert_num_queries(2):  # the shares, then every share's latest delivery
        parts = {part["partner"]: part for part in incident_partner_shares(incident)}

    assert list(parts) == ["LAS", "LFB", "NPS"]  # in the order they were shared
    assert parts["LAS"]["delivery"] == {
        "state": "failed",
        "queued_at": ten_s_ago.isoformat(),
        "state_at": None,
        "attempts": 3,
        "error": "timed out",
        "alerted": True,
    }
    assert parts["LFB"]["delivery"]["state"] == "queued"
    assert parts["LFB"]["delivery"]["attempts"] == 0
    assert parts["NPS"]["delivery"] is None  # shared, nothing sent yet; not the other incident's
    assert parts["NPS"]["name"] == "NPS agency"
    assert parts["NPS"]["shared_at"] == now.isoformat()


def test_an_incident_shared_with_no_one_reads_one_statement(cast, django_assert_num_queries):
    incident = make_incident(cast.handler, summary="not shared")
    incident_partner_shares(incident)
    with django_assert_num_queries(1):
        assert incident_partner_shares(incident) == []
