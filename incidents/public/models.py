"""The public's side (issue 15): online reports, their triage, investigation cases, and the
texts and emails that keep callers and reporters informed.

Imported by incidents/models.py so Django finds them under the `incidents` app.
"""

from django.conf import settings
from django.core.validators import MaxLengthValidator
from django.db import models


class OnlineReportStatus(models.TextChoices):
    NEW = "new"
    INCIDENT = "incident", "made an incident"
    INVESTIGATION = "investigation", "allocated to investigation"
    REFERRED = "referred", "referred to another agency"
    CLOSED = "closed"


class UpdatesBy(models.TextChoices):
    SMS = "sms", "text message"
    EMAIL = "email"
    NONE = "none"


class OnlineReport(models.Model):
    """A report made by a member of the public at /report/ or through the public API.

    The reporter's name, email and phone are personal data: every read by staff is audited,
    and retention blanks them (incidents/retention.py). The status token is kept only as a
    SHA-256 digest: the status link is the reporter's only credential.
    """

    reference = models.CharField(max_length=24, unique=True, help_text="WEB nnnn/ddMonyy")
    reference_date = models.DateField()
    reference_number = models.PositiveIntegerField()
    status_token_digest = models.CharField(max_length=64)
    category = models.CharField(max_length=20)
    answers = models.JSONField(default=dict, blank=True)
    description = models.TextField(validators=[MaxLengthValidator(4000)])
    occurred_at = models.DateTimeField(null=True, blank=True)
    address = models.CharField(max_length=300, blank=True, help_text="as the reporter gave it")
    resolved_address = models.CharField(max_length=300, blank=True)
    lat = models.FloatField(null=True, blank=True)
    lon = models.FloatField(null=True, blank=True)
    bcu = models.ForeignKey("cad.BCU", on_delete=models.PROTECT, null=True, blank=True)
    reporter_name = models.CharField(max_length=200, blank=True)
    reporter_email = models.CharField(max_length=254, blank=True)
    reporter_phone = models.CharField(max_length=20, blank=True)
    updates_by = models.CharField(max_length=5, choices=UpdatesBy.choices, default="none")
    risk_flags = models.JSONField(default=list, blank=True)
    status = models.CharField(
        max_length=14, choices=OnlineReportStatus.choices, default=OnlineReportStatus.NEW
    )
    received_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)
    # The triage decision: once, by one call handler (a second gets 409).
    triaged_at = models.DateTimeField(null=True, blank=True)
    triaged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decision_reason = models.TextField(blank=True, validators=[MaxLengthValidator(1000)])
    referred_to = models.CharField(max_length=200, blank=True)
    incident = models.ForeignKey(
        "incidents.Incident",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="online_reports",
    )
    # The untriaged alert fires once per report (incidents/public/services.py).
    overdue_alerted_at = models.DateTimeField(null=True, blank=True)
    personal_erased_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["received_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["reference_date", "reference_number"], name="one_web_reference_per_day"
            ),
        ]
        indexes = [
            # the triage queue: status, oldest first (selectors.triage_queue); the overdue alert
            models.Index(fields=["status", "received_at"], name="online_report_queue_idx"),
            # retention: triaged reports by triage time
            models.Index(fields=["triaged_at"], name="online_report_retention_idx"),
        ]

    def __str__(self):
        return self.reference


class WebDailySequence(models.Model):
    """Last WEB number issued for a London date (as incidents.DailySequence for CAD numbers)."""

    date = models.DateField(primary_key=True)
    last_number = models.PositiveIntegerField(default=0)

    def __str__(self):
        return f"{self.date}: {self.last_number}"


class InvestigationCase(models.Model):
    """A report allocated to the Telephone and Digital Investigation Unit: investigated without
    attendance, with an owner and a status."""

    class Status(models.TextChoices):
        UNALLOCATED = "unallocated"
        IN_PROGRESS = "in_progress", "in progress"
        FINISHED = "finished"

    report = models.OneToOneField(
        OnlineReport, on_delete=models.PROTECT, related_name="investigation"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.UNALLOCATED)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["status", "created_at"], name="investigation_queue_idx")]

    def __str__(self):
        return f"Investigation of {self.report}"


class MessageKind(models.TextChoices):
    ACKNOWLEDGED = "acknowledged"
    DESPATCHED = "despatched"
    AT_SCENE = "at_scene", "at scene"
    CLOSED = "closed"
    TRIAGED = "triaged"


class MessageStatus(models.TextChoices):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"


class MessageTemplate(models.Model):
    """The words of one kind of text or email, editable in the admin.

    Only `$reference` and `$status` may be used: a text never carries an officer's name or a
    unit's position because the template cannot name them (incidents/public/texts.py).
    """

    class Channel(models.TextChoices):
        SMS = "sms", "text message"
        EMAIL = "email"

    kind = models.CharField(max_length=12, choices=MessageKind.choices)
    channel = models.CharField(max_length=5, choices=Channel.choices)
    subject = models.CharField(max_length=150, blank=True, help_text="emails only")
    body = models.TextField(validators=[MaxLengthValidator(600)])

    class Meta:
        ordering = ["kind", "channel"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "channel"], name="one_template_per_kind")
        ]

    def __str__(self):
        return f"{self.get_kind_display()} ({self.channel})"


class CallerMessage(models.Model):
    """One text or email to a caller or reporter: what was (or would have been) sent, its state.

    The recipient's number or address is not stored here, only its masked form: the task reads
    it from the call or the report at the moment of sending, so there is one copy to erase.
    """

    kind = models.CharField(max_length=12, choices=MessageKind.choices)
    channel = models.CharField(max_length=5, choices=MessageTemplate.Channel.choices)
    incident = models.ForeignKey(
        "incidents.Incident",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="caller_messages",
    )
    call = models.ForeignKey(
        "incidents.Call", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    report = models.ForeignKey(
        OnlineReport, on_delete=models.PROTECT, null=True, blank=True, related_name="messages"
    )
    to_masked = models.CharField(max_length=60)
    subject = models.CharField(max_length=150, blank=True)
    body = models.TextField()
    status = models.CharField(
        max_length=10, choices=MessageStatus.choices, default=MessageStatus.QUEUED
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    provider_id = models.CharField(max_length=64, blank=True, help_text="Notify's notification id")
    note = models.CharField(max_length=300, blank=True)
    queued_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    status_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["queued_at", "id"]
        constraints = [
            # One text of each kind per call (despatch, arrival, close): a second unit sent, or
            # a reaction that runs twice, does not text the caller again.
            models.UniqueConstraint(
                fields=["call", "kind"],
                condition=models.Q(call__isnull=False),
                name="one_message_per_call_and_kind",
            ),
        ]
        indexes = [
            # the sweeper: messages still queued after a while
            models.Index(fields=["status", "queued_at"], name="caller_message_state_idx"),
            models.Index(fields=["provider_id"], name="caller_message_provider_idx"),
        ]

    def __str__(self):
        return f"{self.kind} to {self.to_masked} ({self.status})"


class TextOptOut(models.Model):
    """A number that replied with the opt-out word: no more texts to it.

    Kept as a keyed digest of the normalised number, so the list holds no phone numbers.
    """

    number_digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"opt-out {self.number_digest[:8]}…"
