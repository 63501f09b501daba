"""Partner agencies (ambulance, fire, a neighbouring force), what we share with them and what
they share with us. Imported by resources/models.py, so the tables belong to `resources`."""

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

AGENCY_ID = RegexValidator(r"^[a-z0-9][a-z0-9.-]{1,99}$", "A domain-like id, e.g. las.nhs.uk.")


class PartnerAgency(models.Model):
    """Another service's CAD. Managed in the admin (credentials stored encrypted)."""

    class Kind(models.TextChoices):
        AMBULANCE = "ambulance"
        FIRE = "fire"
        POLICE = "police", "police (neighbouring force)"
        OTHER = "other"

    code = models.SlugField(max_length=20, unique=True, help_text="short name desks pick, e.g. LAS")
    name = models.CharField(max_length=100, help_text="shown in the incident log")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    agency_id = models.CharField(
        max_length=100, unique=True, validators=[AGENCY_ID],
        help_text="the agency's EIDO identifier (updatedByAgencyReference in its documents)",
    )  # fmt: skip
    endpoint = models.URLField(
        max_length=300, blank=True, help_text="https URL that receives our EIDO documents"
    )
    # Inbound: the account the partner's system signs in with (role partner_agency).
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
        related_name="partner_agency",
    )  # fmt: skip
    # Outbound credentials: a bearer token, Fernet-encrypted under TOTP_ENCRYPTION_KEYS, or the
    # name of an environment variable holding it. Never stored in the clear.
    secret_encrypted = models.TextField(blank=True)
    secret_env = models.CharField(
        max_length=100, blank=True, help_text="or: environment variable holding the token"
    )
    may_receive_personal = models.BooleanField(
        default=False, help_text="callers' names and numbers go in the documents we send"
    )
    may_receive_log = models.BooleanField(default=True, help_text="the incident log as notes")
    active = models.BooleanField(default=True)

    class Meta:
        verbose_name_plural = "partner agencies"
        ordering = ["code"]

    def __str__(self):
        return f"{self.code} {self.name}"


class PartnerShare(models.Model):
    """An incident shared with a partner: it gets the document now and on every change."""

    incident = models.ForeignKey(  # indexed by one_share_per_partner (incident, ...)
        "incidents.Incident", on_delete=models.PROTECT, related_name="partner_shares",
        db_index=False,
    )  # fmt: skip
    partner = models.ForeignKey(PartnerAgency, on_delete=models.PROTECT, related_name="shares")
    shared_at = models.DateTimeField()
    shared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["incident", "partner"], name="one_share_per_partner")
        ]

    def __str__(self):
        return f"{self.incident} → {self.partner.code}"


class PartnerDelivery(models.Model):
    """One sending of the incident's document to a partner (rendered when it is sent)."""

    class State(models.TextChoices):
        QUEUED = "queued"
        ACKNOWLEDGED = "acknowledged"
        FAILED = "failed"

    share = models.ForeignKey(PartnerShare, on_delete=models.PROTECT, related_name="deliveries")
    state = models.CharField(max_length=12, choices=State.choices, default=State.QUEUED)
    queued_at = models.DateTimeField()
    state_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)
    ack = models.CharField(max_length=100, blank=True, help_text="the partner's acknowledgement")
    document = models.JSONField(null=True, blank=True, help_text="what was sent")
    alerted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-queued_at", "-id"]
        verbose_name_plural = "partner deliveries"
        indexes = [models.Index(fields=["state", "queued_at"], name="partner_delivery_state_idx")]

    def __str__(self):
        return f"{self.share} {self.state}"


class PartnerIncident(models.Model):
    """A partner's incident as we hold it: their id → our incident (imports are idempotent)."""

    partner = models.ForeignKey(  # indexed by one_incident_per_partner_id (partner, ...)
        PartnerAgency, on_delete=models.PROTECT, related_name="incidents", db_index=False
    )
    partner_incident_id = models.CharField(max_length=200)
    incident = models.ForeignKey(
        "incidents.Incident", on_delete=models.PROTECT, related_name="partner_links"
    )
    received_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    notes_seen = models.JSONField(default=list, help_text="partner note ids already logged")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "partner_incident_id"], name="one_incident_per_partner_id"
            )
        ]

    def __str__(self):
        return f"{self.partner.code} {self.partner_incident_id}"
