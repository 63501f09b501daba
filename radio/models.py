"""Messages to and from the radio gateway, and how radio status codes map to unit statuses."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from resources.models import UnitStatus


class RadioMessage(models.Model):
    """Stored before the gateway gets its reply; applied afterwards, at most once."""

    class Direction(models.TextChoices):
        INBOUND = "in", "inbound"
        OUTBOUND = "out", "outbound"

    class Kind(models.TextChoices):
        STATUS = "status"
        POSITION = "position"
        TEXT = "text"
        DESPATCH = "despatch"

    class State(models.TextChoices):
        RECEIVED = "received"
        APPLIED = "applied"
        IGNORED = "ignored", "ignored (stale or unknown)"
        QUEUED = "queued"
        SENT = "sent"
        DELIVERED = "delivered"
        FAILED = "failed"

    direction = models.CharField(max_length=3, choices=Direction.choices)
    gateway_id = models.CharField(
        max_length=100, null=True, blank=True, help_text="the gateway's own id; repeats are dropped"
    )
    # Not indexed: nothing looks a message up by ISSI (the admin's search is a substring
    # search, which a b-tree cannot serve), and every GPS fix would write two entries for it.
    issi = models.CharField("ISSI", max_length=16)
    unit = models.ForeignKey(
        "resources.Unit", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    assignment = models.ForeignKey(
        "resources.Assignment",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="radio_messages",
        db_index=False,  # radio_assignment_idx below, without the rows that have none
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    code = models.SmallIntegerField(null=True, blank=True)
    lat = models.FloatField(null=True, blank=True)
    lon = models.FloatField(null=True, blank=True)
    text = models.CharField(max_length=500, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    raw = models.JSONField(default=dict)
    state = models.CharField(max_length=10, choices=State.choices)
    state_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(max_length=200, blank=True)
    # Who it is attributable to (DPA s.62): the gateway account that posted it, or the
    # despatcher whose assignment queued it. Applying a message acts as this user.
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # The inbound request that stored it. Rows inserted by one request carry its token, so the
    # request can tell its own new rows from duplicates another request stored a moment before.
    batch = models.UUIDField(null=True, blank=True, editable=False)
    # When despatchers were told an outbound message had not been delivered in time
    # (RADIO_DELIVERY_ALERT_SECONDS). Set by a conditional UPDATE, so each message alerts once.
    alerted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["gateway_id"],
                condition=Q(gateway_id__isnull=False),
                name="gateway_id_unique",
            )
        ]
        indexes = [
            models.Index(fields=["state", "received_at"], name="radio_state_idx"),
            # An incident's or an assignment's messages. Most GPS fixes come from units not on
            # a job: leaving those rows out spares each of them an index entry.
            models.Index(
                fields=["assignment"],
                condition=Q(assignment__isnull=False),
                name="radio_assignment_idx",
            ),
        ]

    def __str__(self):
        return f"{self.direction} {self.kind} {self.issi}"


class StatusCodeMapping(models.Model):
    """Radio status code → what it means for the unit. Forces differ, so this is data."""

    code = models.PositiveSmallIntegerField(unique=True)
    description = models.CharField(max_length=100)
    status = models.CharField(
        max_length=20,
        choices=UnitStatus.choices,
        blank=True,
        help_text="unit status it sets; empty for messaging codes",
    )
    deployable = models.BooleanField(default=False, help_text="committed but deployable")
    emergency = models.BooleanField(default=False, help_text="raises the emergency alarm")

    class Meta:
        ordering = ["code"]

    def __str__(self):
        return f"{self.code} {self.description}"


# National police status codes (domain.md); the data migration loads these as defaults.
NATIONAL_STATUS_CODES = [
    (0, "Emergency: officer needs urgent assistance", "", False, True),
    (1, "On duty", UnitStatus.AVAILABLE, False, False),
    (2, "Available on patrol", UnitStatus.AVAILABLE, False, False),
    (3, "Available at station", UnitStatus.AVAILABLE, False, False),
    (4, "Refreshments", UnitStatus.UNAVAILABLE, False, False),
    (5, "En route to incident", UnitStatus.EN_ROUTE, False, False),
    (6, "At scene", UnitStatus.AT_SCENE, False, False),
    (7, "Committed but deployable", UnitStatus.UNAVAILABLE, True, False),
    (8, "Committed not deployable", UnitStatus.UNAVAILABLE, False, False),
    (9, "Prisoner escort", UnitStatus.UNAVAILABLE, False, False),
    (10, "At court", UnitStatus.UNAVAILABLE, False, False),
    (11, "Off duty", UnitStatus.OFF_DUTY, False, False),
    (12, "Request to speak", "", False, False),
    (13, "Urgent request to speak", "", False, False),
    (14, "Message received", "", False, False),
    (15, "Message acknowledged", "", False, False),
    (16, "Message for control", "", False, False),
]
