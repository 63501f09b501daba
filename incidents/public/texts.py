"""Texts and emails to callers and reporters: queue, send, delivery state, opt-out.

Queued after a change has committed (a reaction to despatch, arrival or close; an online
report; a triage decision), each in its own short transaction, and sent by a Celery task on
the `texts` queue: nothing here ever runs inside a despatch, so a Notify outage can delay a
text, never a unit. A message whose task was lost stays `queued` and the sweeper queues it again.

What a text may say is fixed by its template's placeholders: `$reference` and `$status`. There
is no placeholder for an officer, a call sign or a position, so no template can leak them.
Numbers and addresses are read from the call or report only at the moment of sending; the
message row and everything shown keep the masked form.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import string
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from cad.audit.trail import audit_record
from cad.prepared import PreparedValues
from incidents.models import Call, Incident
from incidents.public.models import (
    CallerMessage,
    MessageKind,
    MessageStatus,
    MessageTemplate,
    OnlineReport,
    TextOptOut,
)
from incidents.public.notify import SendFailed, backend
from incidents.public.validation import mask_email, mask_phone, uk_mobile

logger = logging.getLogger(__name__)
SOURCE = "caller-texts"
PLACEHOLDERS = ("reference", "status")

# The words used until an admin edits them (MessageTemplate rows override these).
DEFAULT_TEMPLATES: dict[str, str] = {
    MessageKind.ACKNOWLEDGED: "Police: we have your report $reference. We will update you. "
    "Reply STOP to stop these messages.",
    MessageKind.DESPATCHED: "Police: officers are on their way about $reference. "
    "If anything changes or anyone is in danger, call 999. Reply STOP to stop these messages.",
    MessageKind.AT_SCENE: "Police: officers have arrived for $reference.",
    MessageKind.CLOSED: "Police: we have finished dealing with $reference. Thank you.",
    MessageKind.TRIAGED: "Police: your report $reference has been looked at: $status.",
}
DEFAULT_SUBJECT = "Your police report $reference"


def template_errors(text: str) -> list[str]:
    """Why a template cannot be used: a placeholder other than $reference and $status."""
    try:
        names = {
            m.group("named") or m.group("braced")
            for m in string.Template.pattern.finditer(text)
            if m.group("named") or m.group("braced")
        }
    except (ValueError, TypeError):
        return ["The template could not be read."]
    unknown = sorted(names - set(PLACEHOLDERS))
    if unknown:
        return [
            f"Unknown placeholder(s): {', '.join('$' + n for n in unknown)}. Only $reference "
            "and $status may be used: a message never names an officer or gives a position."
        ]
    return []


def render(kind: str, channel: str, *, reference: str, status: str = "") -> tuple[str, str]:
    """(subject, body) of a message from its template."""
    row = MessageTemplate.objects.filter(kind=kind, channel=channel).first()
    body = row.body if row is not None else DEFAULT_TEMPLATES[kind]
    subject = (row.subject if row is not None else "") or DEFAULT_SUBJECT
    values = {"reference": reference, "status": status}
    return (
        string.Template(subject).safe_substitute(values) if channel == "email" else "",
        string.Template(body).safe_substitute(values),
    )


def _digest(number: str) -> str:
    return hmac.new(settings.SECRET_KEY.encode(), number.encode(), hashlib.sha256).hexdigest()


def opted_out(number: str) -> bool:
    normal = uk_mobile(number)
    return normal is not None and TextOptOut.objects.filter(number_digest=_digest(normal)).exists()


def _after_commit_send(message: CallerMessage) -> None:
    report = message.report_id is not None
    transaction.on_commit(lambda: _enqueue(message.pk, report=report), robust=True)


def _not_registered(message_id: int) -> None:
    logger.warning("caller message %s queued with no sender registered", message_id)


# How a message id reaches its sending task (incidents.tasks), set from IncidentsConfig.ready:
# the task module imports this one, so this one cannot import it. Two: a caller's text while
# police are on the way, and a message about an online report, each on its own queue.
_senders: list[Callable[[int], object]] = [_not_registered, _not_registered]


def sender_register(
    send: Callable[[int], object], *, report_send: Callable[[int], object] | None = None
) -> None:
    """`send(message_id)` queues the sending task of a caller's text; `report_send(message_id)`
    that of a message about an online report (`send` too, when not given)."""
    _senders[:] = [send, report_send or send]


def _enqueue(message_id: int, *, report: bool) -> None:
    _senders[1 if report else 0](message_id)


def _create(**fields) -> CallerMessage | None:
    try:
        with transaction.atomic():
            return CallerMessage.objects.create(**fields)
    except IntegrityError:  # this call already has its message of this kind
        return None


CONSENTING = PreparedValues(
    Call,
    lambda *, incident_id: (
        Call.objects.filter(incident_id=incident_id, updates_consent=True)
        .exclude(caller_phone="")
        .values_list("id")[:1]
    ),
)


def caller_texts_queue(*, incident_id: int, kind: str, at: datetime | None = None) -> int:
    """Queue a text of `kind` to every caller on the incident who agreed and has not opted out.

    Safe to run twice (one message per call and kind). Returns how many were queued.
    """
    # Asked first, as a prepared statement: this runs after every despatch, arrival and close,
    # and most callers asked for no texts.
    if not CONSENTING.rows("consenting", incident_id=incident_id):
        return 0
    at = at or timezone.now()
    queued = 0
    calls = list(
        Call.objects.filter(incident_id=incident_id, updates_consent=True)
        .exclude(caller_phone="")
        .select_related("incident")
    )
    for call in calls:
        number = uk_mobile(call.caller_phone)
        if number is None or opted_out(number):
            continue
        if CallerMessage.objects.filter(call=call, kind=kind).exists():
            continue
        _, body = render(kind, "sms", reference=call.incident.reference)
        with transaction.atomic():
            message = _create(kind=kind, channel="sms", incident=call.incident, call=call,
                              to_masked=mask_phone(number), body=body, queued_at=at)  # fmt: skip
            if message is None:
                continue
            audit_record(user=None, action="create", obj=message, source=SOURCE,
                         changes={"kind": kind, "incident": call.incident.reference,
                                  "to": message.to_masked})  # fmt: skip
            _after_commit_send(message)
            queued += 1
    return queued


def report_message_queue(
    *, report: OnlineReport, kind: str, status: str = "", at: datetime | None = None
) -> CallerMessage | None:
    """Queue the text or email a reporter asked for (`updates_by`), inside the caller's
    transaction (sent after it commits). None when they asked for none or opted out."""
    at = at or timezone.now()
    if report.updates_by == "sms" and report.reporter_phone:
        if opted_out(report.reporter_phone):
            return None
        channel, masked = "sms", mask_phone(report.reporter_phone)
    elif report.updates_by == "email" and report.reporter_email:
        channel, masked = "email", mask_email(report.reporter_email)
    else:
        return None
    subject, body = render(kind, channel, reference=report.reference, status=status)
    message = CallerMessage.objects.create(
        kind=kind, channel=channel, report=report, incident=report.incident, to_masked=masked,
        subject=subject, body=body, queued_at=at,
    )  # fmt: skip
    audit_record(user=None, action="create", obj=message, source=SOURCE,
                 changes={"kind": kind, "report": report.reference, "to": masked})  # fmt: skip
    _after_commit_send(message)
    return message


@dataclass(frozen=True)
class Recipient:
    channel: str
    address: str


def _recipient(message: CallerMessage) -> Recipient | None:
    if message.call_id is not None:
        phone = Call.objects.filter(pk=message.call_id).values_list("caller_phone", flat=True)
        number = uk_mobile(phone.first() or "")
        return Recipient("sms", number) if number else None
    report = OnlineReport.objects.filter(pk=message.report_id or 0).first()
    if report is None:
        return None
    if message.channel == "sms":
        number = uk_mobile(report.reporter_phone)
        return Recipient("sms", number) if number else None
    return Recipient("email", report.reporter_email) if report.reporter_email else None


def _finish(message_id: int, **fields) -> None:
    CallerMessage.objects.filter(pk=message_id).update(status_at=timezone.now(), **fields)


def caller_message_send(*, message_id: int) -> str:
    """Send one queued message (the task's work). Returns its state afterwards.

    Claimed with a conditional update, so two workers given the same message send it once.
    A transient failure puts it back to `queued` and raises SendFailed for the task to retry;
    a permanent one marks it failed.
    """
    claimed = CallerMessage.objects.filter(pk=message_id, status=MessageStatus.QUEUED).update(
        status=MessageStatus.SENDING, status_at=timezone.now()
    )
    if not claimed:
        return (
            CallerMessage.objects.filter(pk=message_id).values_list("status", flat=True).first()
            or ""
        )
    message = CallerMessage.objects.get(pk=message_id)
    recipient = _recipient(message)
    if recipient is None:
        _finish(message_id, status=MessageStatus.FAILED, note="no number or address on record")
        return MessageStatus.FAILED
    if recipient.channel == "sms" and opted_out(recipient.address):
        _finish(message_id, status=MessageStatus.FAILED, note="opted out")
        return MessageStatus.FAILED
    attempts = message.attempts + 1
    try:
        if recipient.channel == "sms":
            provider_id = backend().send_sms(to=recipient.address, body=message.body,
                                             reference=str(message.pk))  # fmt: skip
        else:
            provider_id = backend().send_email(
                to=recipient.address, subject=message.subject, body=message.body,
                reference=str(message.pk),
            )  # fmt: skip
    except SendFailed as exc:
        if exc.permanent:
            _finish(message_id, status=MessageStatus.FAILED, attempts=attempts, note=str(exc)[:300])
            return MessageStatus.FAILED
        _finish(message_id, status=MessageStatus.QUEUED, attempts=attempts, note=str(exc)[:300])
        raise
    _finish(message_id, status=MessageStatus.SENT, attempts=attempts, sent_at=timezone.now(),
            provider_id=provider_id[:64], note="")  # fmt: skip
    return MessageStatus.SENT


def caller_message_fail(*, message_id: int, note: str) -> None:
    """The task gave up after its retries: failed, with the last error."""
    CallerMessage.objects.filter(pk=message_id, status=MessageStatus.QUEUED).update(
        status=MessageStatus.FAILED, status_at=timezone.now(), note=f"gave up: {note}"[:300]
    )


# GOV.UK Notify's callback statuses.
NOTIFY_STATUSES = {
    "delivered": MessageStatus.DELIVERED,
    "permanent-failure": MessageStatus.FAILED,
    "temporary-failure": MessageStatus.FAILED,
    "technical-failure": MessageStatus.FAILED,
}


def caller_message_status_record(*, reference: str, provider_id: str, status: str) -> bool:
    """A delivery receipt from Notify's callback. False when no message matches."""
    state = NOTIFY_STATUSES.get(status)
    if state is None:
        return False
    rows = CallerMessage.objects.filter(provider_id=provider_id) if provider_id else None
    if (rows is None or not rows.exists()) and reference.isdigit():
        rows = CallerMessage.objects.filter(pk=int(reference))
    if rows is None:
        return False
    # A receipt never takes a message back to an earlier state.
    return (
        bool(
            rows.filter(status__in=[MessageStatus.SENDING, MessageStatus.SENT]).update(
                status=state, status_at=timezone.now(), note=f"Notify: {status}"
            )
        )
        or rows.exists()
    )


def text_opt_out_record(*, number: str, source: str = "notify-inbound") -> bool:
    """The caller replied with the opt-out word: no more texts to that number, from now."""
    normal = uk_mobile(number)
    if normal is None:
        return False
    with transaction.atomic():
        row, created = TextOptOut.objects.get_or_create(number_digest=_digest(normal))
        if created:
            audit_record(user=None, action="create", obj=row, source=source,
                         changes={"number": mask_phone(normal)})  # fmt: skip
    return True


def is_opt_out_word(text: str) -> bool:
    return (text or "").strip().strip(".!").upper() in settings.TEXT_OPT_OUT_WORDS


def caller_messages_requeue_stale(*, now: datetime | None = None) -> int:
    """Queue again the messages still `queued` a while after they were made (their task was
    lost: broker down, worker killed). Sending claims each once, so a duplicate task is harmless."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.CALLER_TEXT_SWEEP_AFTER_SECONDS)
    stale = list(
        CallerMessage.objects.filter(
            status=MessageStatus.QUEUED, queued_at__lt=cutoff,
            queued_at__gte=now - timedelta(hours=6),
        ).values_list("pk", "report_id")[:500]
    )  # fmt: skip
    for message_id, report_id in stale:
        _enqueue(message_id, report=report_id is not None)
    return len(stale)


def incident_messages(*, incident: Incident) -> list[dict]:
    """The texts to an incident's callers, masked: the API and the incident page."""
    return [
        {
            "to_masked": m.to_masked,
            "kind": m.kind,
            "channel": m.channel,
            "status": m.status,
            "queued_at": m.queued_at.isoformat(),
            "sent_at": m.sent_at.isoformat() if m.sent_at else None,
            "note": m.note,
        }
        for m in CallerMessage.objects.filter(incident=incident).order_by("queued_at", "id")
    ]
