"""The only write path for partner agencies: sharing, sending, alerting, receiving.

Sharing an incident records a PartnerShare and queues a delivery; every later change to the
incident queues one more (at most one waits per share: the document is rendered when it is
sent, so it is always the latest). Sending is a Celery task with retries (tasks.py); a delivery
not acknowledged within PARTNER_DELIVERY_ALERT_SECONDS alerts the incident's desks once, as
radio does for despatch messages.

Receiving goes through incidents.services (create, log notes) under the partner's own account,
so the log shows the partner's name; a partner's incident id maps to one Beacon incident
(PartnerIncident), so a document sent twice updates and never duplicates.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from cad.audit.trail import audit_record
from cad.enqueue import enqueue
from cad.errors import Conflict
from cad.prepared import PreparedValues
from incidents import services as incident_services
from incidents.events import incident_updated
from incidents.models import Call, Incident, IncidentLogEntry, IncidentType, MajorIncident
from resources.events import partner_undelivered

# resources.partners.tasks calls this module and this module queues its tasks after commit: the
# two import each other as modules (never `from ... import name`), as radio's do.
from resources.partners import eido, tasks, transport
from resources.partners.eido_schema import eido_errors
from resources.partners.models import PartnerAgency, PartnerDelivery, PartnerIncident, PartnerShare

logger = logging.getLogger(__name__)
State = PartnerDelivery.State
Kind = IncidentLogEntry.Kind


def _delivery_queue(share: PartnerShare, *, at: datetime) -> PartnerDelivery | None:
    """Queue a delivery for the share unless one is already waiting (it will send the latest)."""
    if PartnerDelivery.objects.filter(share=share, state=State.QUEUED).exists():
        return None
    delivery = PartnerDelivery.objects.create(share=share, state=State.QUEUED, queued_at=at)
    transaction.on_commit(lambda: enqueue(tasks.send_partner_delivery, delivery.pk))
    return delivery


def incident_share(
    *, incident: Incident, partner: PartnerAgency, by: User, source: str = ""
) -> PartnerShare:
    """Share an incident with a partner: it gets the document now and on each later change."""
    if not partner.active:
        raise ValidationError({"partner": [f"{partner.code} is not an active partner."]})
    at = timezone.now()
    with transaction.atomic():
        incident = Incident.objects.select_for_update(no_key=True, of=("self",)).get(pk=incident.pk)
        share, created = PartnerShare.objects.get_or_create(
            incident=incident, partner=partner, defaults={"shared_at": at, "shared_by": by}
        )
        if not created:
            raise Conflict(f"{incident.reference} is already shared with {partner.code}",
                           code="already_shared")  # fmt: skip
        incident_services.incident_log_record(
            incident=incident, kind=Kind.SYSTEM, by=by,
            text=f"Shared with {partner.name} ({partner.code}) by EIDO.",
        )  # fmt: skip
        audit_record(user=by, action="create", obj=share, source=source,
                     changes={"incident": incident.reference, "partner": partner.code,
                              "personal": partner.may_receive_personal})  # fmt: skip
        _delivery_queue(share, at=at)
        incident_updated(incident)
    return share


SHARED_ACTIVE = PreparedValues(
    PartnerShare,
    lambda *, incident_id: PartnerShare.objects.filter(
        incident_id=incident_id, partner__active=True
    ).values_list("id")[:1],
)


def partner_deliveries_queue(*, incident_id: int) -> int:
    """After a change to an incident: one more delivery for each partner it is shared with."""
    # Asked first, as a prepared statement: most incidents are shared with no one, and this
    # runs after every change to one, so an empty answer costs one statement and no compiling.
    if not SHARED_ACTIVE.rows("shared", incident_id=incident_id):
        return 0
    shares = list(PartnerShare.objects.filter(incident_id=incident_id, partner__active=True))
    at = timezone.now()
    queued = 0
    with transaction.atomic():
        for share in shares:
            queued += _delivery_queue(share, at=at) is not None
    return queued


def major_incident_to_partners(major_incident_id: int) -> str:
    """The CAD-to-CAD adapter for a declared major incident (incidents/operations/partners.py),
    after the declaration commits: every partner the incident is shared with gets a fresh
    document, whose notes carry the declaration and its METHANE report (the declaration's log
    entry). A partner it is not shared with gets nothing until a desk shares it, as for any
    incident: sharing decides what each partner may see."""
    incident_id = MajorIncident.objects.values_list("incident_id", flat=True).get(
        pk=major_incident_id
    )
    queued = partner_deliveries_queue(incident_id=incident_id)
    return f"queued for {queued} partner(s)"


def partner_delivery_send(*, delivery_id: int, give_up: bool = False) -> str:
    """Render the incident as EIDO, check it against the schema, send it; record the answer.

    Raises transport.PartnerUnavailable while the partner is down and `give_up` is False (the
    task retries); on the last attempt the delivery is marked failed instead. Returns the
    delivery's state.
    """
    unavailable: transport.PartnerUnavailable | None = None
    with transaction.atomic():
        delivery = (
            PartnerDelivery.objects.select_for_update(no_key=True, of=("self",))
            .select_related("share__partner", "share__incident")
            .filter(pk=delivery_id, state=State.QUEUED)
            .first()
        )
        if delivery is None:  # sent already, or gone: running twice is harmless
            return "skipped"
        partner, incident = delivery.share.partner, delivery.share.incident
        document = eido.eido_document(incident, personal=partner.may_receive_personal,
                                      include_log=partner.may_receive_log)  # fmt: skip
        delivery.attempts += 1
        delivery.document = document
        if problems := eido_errors(document):
            # Never send what the standard does not allow; a desk must pass it by phone.
            logger.error("EIDO for %s is not valid: %s", incident.reference, problems)
            return _delivery_finish(delivery, State.FAILED, error=f"invalid EIDO: {problems}")
        try:
            ack = transport.post_document(partner, document)
        except transport.PartnerRefused as exc:
            return _delivery_finish(delivery, State.FAILED, error=str(exc))
        except transport.PartnerUnavailable as exc:
            if give_up:
                return _delivery_finish(delivery, State.FAILED, error=str(exc))
            # The attempt is kept (committed below); the task's retry picks the row up again.
            delivery.last_error = str(exc)[:300]
            delivery.save(update_fields=["attempts", "document", "last_error"])
            unavailable = exc
        else:
            if partner.may_receive_personal:
                incident_services.personal_data_read_record(
                    incident=incident, by=None, source=f"partner:{partner.code}",
                    what=f"EIDO sent to {partner.code}",
                )  # fmt: skip
            delivery.ack = ack
            return _delivery_finish(delivery, State.ACKNOWLEDGED)
    raise unavailable


def _delivery_finish(delivery: PartnerDelivery, state: str, *, error: str = "") -> str:
    delivery.state = state
    delivery.state_at = timezone.now()
    delivery.last_error = error[:300]
    delivery.save(update_fields=["state", "state_at", "attempts", "document", "last_error", "ack"])
    audit_record(user=None, action="update", obj=delivery, source="partners",
                 changes={"state": state, "partner": delivery.share.partner.code,
                          "incident": delivery.share.incident.reference,
                          "attempts": delivery.attempts, "error": error[:300]})  # fmt: skip
    return state


def partner_deliveries_requeue_stale(*, now: datetime | None = None) -> int:
    """Queue again the deliveries still `queued` long after they were queued: their task was
    lost (kept by a process that died while Redis was down, or lost by the broker), and without
    this the partner would never get the incident's later changes, only the desks the alert.
    PARTNER_SWEEP_AFTER_SECONDS is longer than the send's whole retry schedule, so a delivery
    still being retried is left alone; a duplicate would be harmless anyway (the send locks the
    queued row and skips one already sent)."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.PARTNER_SWEEP_AFTER_SECONDS)
    ids = list(
        PartnerDelivery.objects.filter(
            state=State.QUEUED, queued_at__lt=cutoff, queued_at__gte=now - timedelta(days=1)
        )
        .order_by("queued_at", "id")
        .values_list("id", flat=True)[:200]
    )
    for delivery_id in ids:
        enqueue(tasks.send_partner_delivery, delivery_id)
    return len(ids)


def alert_after() -> timedelta:
    return timedelta(seconds=settings.PARTNER_DELIVERY_ALERT_SECONDS)


def partner_deliveries_alert_unacknowledged(*, older_than: timedelta | None = None) -> int:
    """Alert the desks to deliveries a partner has not acknowledged in time (once each)."""
    cutoff = timezone.now() - (older_than if older_than is not None else alert_after())
    ids = list(
        PartnerDelivery.objects.filter(
            state__in=(State.QUEUED, State.FAILED), alerted_at__isnull=True, queued_at__lt=cutoff
        )
        .order_by("queued_at", "id")
        .values_list("id", flat=True)[:100]
    )
    alerted = 0
    for delivery_id in ids:
        try:
            alerted += partner_delivery_alert(delivery_id=delivery_id)
        except Exception:  # noqa: BLE001  (one bad row must not silence the others)
            logger.exception("partner delivery %s could not be alerted", delivery_id)
    return alerted


def partner_delivery_alert(*, delivery_id: int) -> bool:
    """Claim the alert (conditional UPDATE, so two sweeps never alert twice), log it on the
    incident, audit, and tell the incident's desks (`partner.undelivered`)."""
    now = timezone.now()
    with transaction.atomic():
        claimed = PartnerDelivery.objects.filter(
            pk=delivery_id, state__in=(State.QUEUED, State.FAILED), alerted_at__isnull=True
        ).update(alerted_at=now)
        if not claimed:
            return False
        delivery = PartnerDelivery.objects.select_related(
            "share__partner", "share__incident__bcu"
        ).get(pk=delivery_id)
        partner, incident = delivery.share.partner, delivery.share.incident
        age = int((now - delivery.queued_at).total_seconds())
        incident_services.incident_log_record(
            incident=incident, kind=Kind.SYSTEM, by=None,
            text=(f"{partner.name} ({partner.code}) has not acknowledged the shared incident "
                  f"after {age} s ({delivery.attempts} attempts"
                  + (f"; last error: {delivery.last_error}" if delivery.last_error else "")
                  + "). Pass it by phone."),
        )  # fmt: skip
        audit_record(user=None, action="alert", obj=delivery, source="partners",
                     changes={"partner": partner.code, "incident": incident.reference,
                              "age_s": age})  # fmt: skip
        partner_undelivered(delivery, age_s=age)
    return True


# --- inbound --------------------------------------------------------------------------------

# Beacon's field names in incidents.services' errors → where the fault is in an EIDO document.
_EIDO_FIELD = {
    "type": "incidentComponent/incidentTypeInternalCode",
    "grade": "incidentComponent/incidentCommonPriorityNumber",
    "location": "locationComponent/locationByValue",
    "address": "locationComponent/locationDescriptionText",
    "summary": "notesComponent",
    "text": "notesComponent",
}


def _eido_errors_of(exc: ValidationError) -> dict[str, list[str]]:
    fields = exc.message_dict if hasattr(exc, "error_dict") else {"document": exc.messages}
    return {_EIDO_FIELD.get(k, k): v for k, v in fields.items()}


def partner_for(*, user: User, agency: Any) -> PartnerAgency:
    """The active partner this account signs in for, if the document says it is from them."""
    partner = PartnerAgency.objects.filter(user=user, active=True).first()
    if partner is None or partner.agency_id != agency:
        raise ValidationError({"updatedByAgencyReference": [
            f"Unknown partner agency {str(agency)[:100]!r} for this account."
        ]})  # fmt: skip
    return partner


def eido_receive(*, user: User, document: Any, source: str = "") -> tuple[Incident, bool]:
    """Create or update a Beacon incident from a partner's EIDO document: (incident, created).

    Raises ValidationError({where: [what]}) for a document that is not valid EIDO, comes from
    an unknown partner, or lacks what Beacon needs; nothing is saved then.
    """
    if problems := eido_errors(document):
        raise ValidationError(problems)
    partner = partner_for(user=user, agency=eido.reference(document["updatedByAgencyReference"]))
    known = set(IncidentType.objects.filter(active=True).values_list("code", flat=True))
    try:
        facts = eido.eido_facts(document, known_type_codes=known)
    except ValueError as exc:
        raise ValidationError(exc.args[0]) from None
    now = timezone.now()
    try:
        with transaction.atomic():
            # The partner's row serialises its documents: the same incident sent twice at once
            # is created once.
            PartnerAgency.objects.select_for_update(no_key=True).get(pk=partner.pk)
            ours = eido.our_incident_pk(facts.partner_incident_id)
            link = PartnerIncident.objects.filter(
                partner=partner, partner_incident_id=facts.partner_incident_id
            ).first()
            created = False
            if ours is not None:
                # Our own incident, sent back with the partner's updates.
                incident = Incident.objects.filter(pk=ours, partner_shares__partner=partner).first()
                if incident is None:
                    raise ValidationError({"incidentComponent/$id": [
                        "That incident was never shared with your agency."
                    ]})  # fmt: skip
                if link is None:
                    link = PartnerIncident.objects.create(
                        partner=partner, partner_incident_id=facts.partner_incident_id,
                        incident=incident, received_at=now, updated_at=now,
                    )  # fmt: skip
            elif link is None:
                incident = incident_services.incident_create(
                    by=user, type_code=facts.type_code, grade=facts.grade, lat=facts.lat,
                    lon=facts.lon, address=facts.address,
                    summary=facts.summary or f"Incident shared by {partner.name}.",
                    call=incident_services.CallDetails(channel=Call.Channel.PARTNER,
                                                       address=facts.address),
                    source=source or f"partner:{partner.code}",
                )  # fmt: skip
                link = PartnerIncident.objects.create(
                    partner=partner, partner_incident_id=facts.partner_incident_id,
                    incident=incident, received_at=now, updated_at=now,
                )  # fmt: skip
                audit_record(user=user, action="create", obj=link, source=source,
                             changes={"partner": partner.code, "incident": incident.reference,
                                      "partner_incident": facts.partner_incident_id})  # fmt: skip
                created = True
            else:
                incident = link.incident
            seen = set(link.notes_seen)
            ours_prefix = f":{eido.agency_id()}"
            for note_id, text in facts.notes:
                if note_id in seen or note_id.endswith(ours_prefix):
                    continue  # logged before, or our own note echoed back
                incident_services.incident_log_add(
                    incident=incident, by=user, text=f"{partner.name}: {text}", source=source
                )
                seen.add(note_id)
            link.notes_seen = sorted(seen)
            link.updated_at = now
            link.save(update_fields=["notes_seen", "updated_at"])
    except ValidationError as exc:
        raise ValidationError(_eido_errors_of(exc)) from None
    return incident, created
