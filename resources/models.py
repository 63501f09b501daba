"""Units, their types and skills, status, position and assignments to incidents."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from cad.audit.append_only import AppendOnlyModel
from resources.grid import LAT_OFFSET, LON_OFFSET, cell_of


class UnitType(models.Model):
    code = models.CharField(max_length=10, unique=True)
    name = models.CharField(max_length=100)
    # Used by the default travel-time router; see docs/decisions on recommendation.
    urban_speed_kmh = models.FloatField(default=30.0, help_text="typical speed, no blue lights")
    blue_light_speed_kmh = models.FloatField(default=45.0, help_text="speed on an I-grade run")

    class Meta:
        ordering = ["code"]

    def __str__(self):
        return self.name


class Skill(models.Model):
    code = models.CharField(max_length=20, unique=True)
    name = models.CharField(max_length=100)

    class Meta:
        ordering = ["code"]

    def __str__(self):
        return self.name


class UnitStatus(models.TextChoices):
    AVAILABLE = "available"
    ASSIGNED = "assigned"
    EN_ROUTE = "en_route", "en route"
    AT_SCENE = "at_scene", "at scene"
    UNAVAILABLE = "unavailable"
    OFF_DUTY = "off_duty", "off duty"


class Unit(models.Model):
    callsign = models.CharField(max_length=20, unique=True)
    # No index of its own: unit_type_cell_idx (below) leads with the type and serves every
    # lookup by type, and a second one only cost writes (every move into a new grid square is
    # an update that is not HOT and writes an entry in each index).
    type = models.ForeignKey(
        UnitType, on_delete=models.PROTECT, related_name="units", db_index=False
    )
    station = models.ForeignKey("cad.Station", on_delete=models.PROTECT, related_name="units")
    bcu = models.ForeignKey("cad.BCU", on_delete=models.PROTECT, related_name="units")
    issi = models.CharField(
        "ISSI", max_length=16, unique=True, help_text="radio identity of the unit's terminal"
    )
    status = models.CharField(
        max_length=20, choices=UnitStatus.choices, default=UnitStatus.OFF_DUTY
    )
    # Time of the last applied status update: anything older changes nothing.
    status_at = models.DateTimeField(null=True, blank=True)
    deployable = models.BooleanField(
        default=False, help_text="committed but deployable (national status code 7)"
    )
    lat = models.FloatField(null=True, blank=True)
    lon = models.FloatField(null=True, blank=True)
    # The grid square of lat/lon (resources/grid.py), kept by the database: indexed for near-by
    # searches in place of the position itself, so that a GPS fix stays a HOT update.
    lat_cell = models.GeneratedField(
        expression=cell_of("lat", LAT_OFFSET), output_field=models.IntegerField(), db_persist=True
    )
    lon_cell = models.GeneratedField(
        expression=cell_of("lon", LON_OFFSET), output_field=models.IntegerField(), db_persist=True
    )
    position_at = models.DateTimeField(null=True, blank=True)
    emergency = models.BooleanField(default=False)
    emergency_at = models.DateTimeField(null=True, blank=True)
    # Skills of the crew currently booked on (filled from the duty roster when crews book on).
    skills = models.ManyToManyField(Skill, blank=True, related_name="units")
    last_cleared_at = models.DateTimeField(
        null=True, blank=True, help_text="end of its last job; ties go to the longest idle"
    )
    active = models.BooleanField(default=True)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["callsign"]
        indexes = [
            # the board's unit list and recommendation candidates: "available units in BCU X"
            models.Index(fields=["status", "bcu"], name="unit_status_bcu_idx"),
            # recommendation candidates in a box (resources/recommend/engine.py)
            models.Index(fields=["lat_cell", "lon_cell"], name="unit_cell_idx"),
            # a response-plan line's own search for a rare type (dog units, ARVs) in a wide box:
            # a prepared statement's generic plan cannot tell the box is wide, and with the cell
            # index alone it read every unit in it (docs/decisions/0028-...)
            models.Index(fields=["type", "lat_cell", "lon_cell"], name="unit_type_cell_idx"),
        ]

    def __str__(self):
        return self.callsign


class Assignment(models.Model):
    """A unit sent to an incident. Active until cleared."""

    class MessageState(models.TextChoices):
        NONE = "", "not sent"
        QUEUED = "queued"
        SENT = "sent"
        DELIVERED = "delivered"
        FAILED = "failed"

    # Indexed by assignment_incident_idx (incident, cleared_at), which serves lookups by
    # incident alone too.
    incident = models.ForeignKey(
        "incidents.Incident", on_delete=models.PROTECT, related_name="assignments",
        db_index=False,
    )  # fmt: skip
    unit = models.ForeignKey(Unit, on_delete=models.PROTECT, related_name="assignments")
    assigned_at = models.DateTimeField()
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True
    )
    en_route_at = models.DateTimeField(null=True, blank=True)
    # Where the unit was when it was sent (its GPS fix, else its station): with `at_scene_at`
    # this is one attendance the learned router trains on (resources/recommend/training.py).
    origin_lat = models.FloatField(null=True, blank=True)
    origin_lon = models.FloatField(null=True, blank=True)
    at_scene_at = models.DateTimeField(null=True, blank=True)
    cleared_at = models.DateTimeField(null=True, blank=True)
    # When the crew acknowledged the despatch on an officer's phone (duties/officer/): the
    # board shows it beside the despatch message's radio state.
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    message_state = models.CharField(
        max_length=10, choices=MessageState.choices, default=MessageState.NONE, blank=True
    )

    class Meta:
        ordering = ["-assigned_at"]
        constraints = [
            # The invariant of the whole system: a unit is never on two active jobs at once,
            # however many despatchers press the button together.
            models.UniqueConstraint(
                fields=["unit"],
                condition=Q(cleared_at__isnull=True),
                name="one_active_assignment_per_unit",
            ),
        ]
        indexes = [
            models.Index(fields=["incident", "cleared_at"], name="assignment_incident_idx"),
        ]

    def __str__(self):
        return f"{self.unit} → {self.incident}"

    @property
    def active(self) -> bool:
        return self.cleared_at is None


class UnitStatusChange(AppendOnlyModel):
    # Indexed by unit_status_change_idx (unit, at), which serves lookups by unit alone too.
    unit = models.ForeignKey(
        Unit, on_delete=models.PROTECT, related_name="status_changes", db_index=False
    )
    at = models.DateTimeField(help_text="when it happened (as reported)")
    recorded_at = models.DateTimeField(auto_now_add=True)
    from_status = models.CharField(max_length=20, choices=UnitStatus.choices)
    to_status = models.CharField(max_length=20, choices=UnitStatus.choices)
    source = models.CharField(max_length=20, help_text="api, radio, board, roster, system")
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True
    )

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["unit", "at"], name="unit_status_change_idx")]

    def __str__(self):
        return f"{self.unit} {self.from_status}→{self.to_status}"


class Recommendation(models.Model):
    """The latest recommendation computed for an incident (resources/recommend/).

    One row per incident, replaced on each run, so running the job twice leaves one row.
    `inputs` fingerprints what it was computed from (grade, type, position) so a reader can
    tell a result that no longer matches the incident.
    """

    incident = models.OneToOneField(
        "incidents.Incident", on_delete=models.CASCADE, related_name="recommendation"
    )
    computed_at = models.DateTimeField()
    inputs = models.CharField(max_length=200, help_text="grade|type|lat|lon it was computed for")
    trigger = models.CharField(max_length=30, blank=True)
    router = models.CharField(max_length=20, blank=True)
    results = models.JSONField(default=list)
    warnings = models.JSONField(default=list, blank=True)
    plan = models.JSONField(default=list, blank=True)

    def __str__(self):
        return f"recommendation for {self.incident_id} at {self.computed_at:%H:%M:%S}"


# Partner agencies (resources/partners/): their tables belong to this app.
from resources.partners.models import (  # noqa: E402, F401
    PartnerAgency,
    PartnerDelivery,
    PartnerIncident,
    PartnerShare,
)


class RingFence(models.Model):
    """A unit held for a planned operation (incidents.Operation) while it runs: not recommended
    for other incidents, and sent elsewhere only with an override reason (resources/ringfence.py).
    """

    operation = models.ForeignKey(  # indexed by one_ring_fence_per_unit (operation, ...)
        "incidents.Operation", on_delete=models.PROTECT, related_name="ring_fences",
        db_index=False,
    )  # fmt: skip
    unit = models.ForeignKey(Unit, on_delete=models.PROTECT, related_name="ring_fences")
    added_at = models.DateTimeField(auto_now_add=True)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True
    )

    class Meta:
        ordering = ["unit__callsign"]
        constraints = [
            models.UniqueConstraint(fields=["operation", "unit"], name="one_ring_fence_per_unit")
        ]

    def __str__(self):
        return f"{self.unit} for {self.operation}"


class TravelModel(models.Model):
    """One trained version of the learned router (resources/recommend/learned.py).

    Append-only in practice: training writes a new version; the engine uses the newest active
    one. Switching a bad version off (`active`) falls back to the one before it.
    """

    version = models.PositiveIntegerField(unique=True)
    trained_at = models.DateTimeField()
    window_start = models.DateTimeField(help_text="first assignment trained on")
    window_end = models.DateTimeField(help_text="last assignment trained on")
    attendances = models.PositiveIntegerField()
    parameters = models.JSONField()
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["-version"]
        indexes = [
            # The engine's "newest active version" on every recommendation.
            models.Index(fields=["active", "-version"], name="travel_model_active_idx"),
        ]

    def __str__(self):
        return f"travel model v{self.version} ({self.attendances} attendances)"
