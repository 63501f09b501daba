"""The seam through which a METHANE report reaches partner agencies (CAD-to-CAD).

The CAD-to-CAD (EIDO) adapter lives above this app (resources/partners/) and registers a sender
here from its AppConfig.ready (`partner_sender_register`); a declaration then hands the report
to it after commit. With none registered, the declaration records in the incident's log that
METHANE was not sent electronically, so the supervisor passes it by phone.
"""

import logging
from collections.abc import Callable

logger = logging.getLogger(__name__)

# sender(major_incident_id) -> a short description of what it did ("sent to LAS, LFB")
PartnerSender = Callable[[int], str]
_senders: list[PartnerSender] = []

NOT_CONNECTED = "logged: no CAD-to-CAD adapter configured; pass METHANE to partners by phone"


def partner_sender_register(sender: PartnerSender) -> None:
    if sender not in _senders:
        _senders.append(sender)


def partner_senders() -> list[PartnerSender]:
    return list(_senders)


def partner_send(major_incident_id: int) -> None:
    """After commit: hand the report to every registered adapter; a failure is logged."""
    for sender in partner_senders():
        try:
            sender(major_incident_id)
        except Exception:  # noqa: BLE001  (the declaration stands; the log says it failed)
            logger.exception("METHANE for major incident %s not sent", major_incident_id)
