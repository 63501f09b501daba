"""Planned operations and major incidents (issue 17; docs/planned-operations.md).

Imported by incidents/models.py so Django registers them with the incidents app. An operation
sits in `incidents` because incidents are tagged with it, and everything above (resources'
ring-fenced units, duties' marked shifts) points down to it.
"""

from django.conf import settings
from django.core.validators import MaxLengthValidator
from django.db import models

from cad.audit.append_only import AppendOnlyModel


class Operation(models.Model):
    """A planned operation: a football match, a march, New Year's Eve.

    The area is a point and radius, or a drawn GeoJSON polygon (then the point is its centre,
    kept for the map and the box search).
    """

    name = models.CharField(max_length=200)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    bcu = models.ForeignKey("cad.BCU", on_delete=models.PROTECT, related_name="operations")
    lat = models.FloatField()
    lon = models.FloatField()
    address = models.CharField(max_length=300, blank=True)
    radius_m = models.PositiveIntegerField(default=500)
    polygon = models.JSONField(null=True, blank=True, help_text="GeoJSON Polygon, lon/lat")
    # Box of the area, so "which operations cover this point" is a range query.
    min_lat = models.FloatField()
    max_lat = models.FloatField()
    min_lon = models.FloatField()
    max_lon = models.FloatField()
    commander = models.CharField(max_length=200, blank=True, help_text="Gold/Silver, by name")
    briefing = models.TextField(blank=True, validators=[MaxLengthValidator(20000)])
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["-starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")),
                name="operation_ends_after_start",
            )
        ]
        indexes = [
            # operations_covering: running at a moment (ends after it), then the box
            models.Index(fields=["ends_at", "starts_at"], name="operation_window_idx"),
        ]

    def __str__(self):
        return self.name


class OperationLogEntry(AppendOnlyModel):
    """The operation's own log: decisions, units ring-fenced, overrides. Never edited."""

    operation = models.ForeignKey(Operation, on_delete=models.PROTECT, related_name="log")
    at = models.DateTimeField(auto_now_add=True)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True
    )
    text = models.TextField(validators=[MaxLengthValidator(4000)])

    class Meta:
        ordering = ["at", "id"]
        verbose_name_plural = "operation log entries"

    def __str__(self):
        return f"{self.operation} {self.at:%H:%M:%S}"


class MajorIncident(models.Model):
    """A major incident declared on an incident, with its METHANE report. One per incident."""

    incident = models.OneToOneField(
        "incidents.Incident", on_delete=models.PROTECT, related_name="major_incident"
    )
    declared_at = models.DateTimeField()
    declared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    methane = models.JSONField(
        help_text="the validated METHANE report (incidents/operations/methane.py)"
    )
    partner_delivery = models.CharField(
        max_length=200, blank=True, help_text="how METHANE went to partners (adapter or logged)"
    )
    stood_down_at = models.DateTimeField(null=True, blank=True)
    stood_down_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    stand_down_reason = models.TextField(blank=True, validators=[MaxLengthValidator(1000)])

    class Meta:
        ordering = ["-declared_at"]
        indexes = [
            # the banner: declarations not stood down (major_incidents_active)
            models.Index(fields=["stood_down_at"], name="major_incident_active_idx"),
        ]

    def __str__(self):
        return f"Major incident on {self.incident}"

    @property
    def active(self) -> bool:
        return self.stood_down_at is None


class MobilisationItem(AppendOnlyModel):
    """One line of a major incident's mobilisation list: a unit or a serial, and what for."""

    class Kind(models.TextChoices):
        UNIT = "unit"
        SERIAL = "serial"

    major_incident = models.ForeignKey(
        MajorIncident, on_delete=models.PROTECT, related_name="mobilisation"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    name = models.CharField(max_length=50, help_text="call sign or serial number")
    task = models.CharField(max_length=300, blank=True)
    at = models.DateTimeField(auto_now_add=True)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True
    )

    class Meta:
        ordering = ["at", "id"]

    def __str__(self):
        return f"{self.kind} {self.name}"


class FallbackRecord(models.Model):
    """An incident imported from the paper/spreadsheet fallback log (`import_fallback`).

    `key` is the row's natural key (the sheet's serial): importing the same file twice finds
    it here and creates nothing.
    """

    key = models.CharField(max_length=64, unique=True)
    incident = models.OneToOneField(
        "incidents.Incident", on_delete=models.PROTECT, related_name="fallback_record"
    )
    imported_at = models.DateTimeField(auto_now_add=True)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True
    )
    source_file = models.CharField(max_length=300, blank=True)
    line = models.PositiveIntegerField()

    def __str__(self):
        return self.key
