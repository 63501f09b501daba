"""The Duty Management System: officers, teams, shifts, who works them and who crews what."""

from django.conf import settings
from django.db import models
from django.db.models import Q


class Team(models.Model):
    bcu = models.ForeignKey(  # indexed by team_name_per_bcu (bcu, ...)
        "cad.BCU", on_delete=models.PROTECT, related_name="teams", db_index=False
    )
    name = models.CharField(max_length=50)

    class Meta:
        ordering = ["bcu__code", "name"]
        constraints = [models.UniqueConstraint(fields=["bcu", "name"], name="team_name_per_bcu")]

    def __str__(self):
        return f"{self.bcu.code} {self.name}"


class Rank(models.TextChoices):
    PC = "PC", "Police Constable"
    SGT = "PS", "Police Sergeant"
    INSP = "INSP", "Inspector"
    CI = "CI", "Chief Inspector"
    SUPT = "SUPT", "Superintendent"


class Officer(models.Model):
    collar_number = models.CharField(max_length=10, unique=True)
    first_name = models.CharField(max_length=60)
    last_name = models.CharField(max_length=60)
    rank = models.CharField(max_length=5, choices=Rank.choices, default=Rank.PC)
    bcu = models.ForeignKey(  # indexed by officer_bcu_team_idx (bcu, ...)
        "cad.BCU", on_delete=models.PROTECT, related_name="officers", db_index=False
    )
    team = models.ForeignKey(
        Team, on_delete=models.PROTECT, related_name="officers", null=True, blank=True
    )
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="officer",
    )
    skills = models.ManyToManyField(
        "resources.Skill", through="OfficerSkill", blank=True, related_name="officers"
    )
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["last_name", "first_name"]
        indexes = [models.Index(fields=["bcu", "team"], name="officer_bcu_team_idx")]

    def __str__(self):
        return f"{self.rank} {self.collar_number} {self.first_name} {self.last_name}"

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}"


class OfficerSkill(models.Model):
    """A skill an officer holds, until it expires (Taser and firearms need requalifying)."""

    officer = models.ForeignKey(  # indexed by one_skill_row_per_officer (officer, ...)
        Officer, on_delete=models.CASCADE, related_name="officer_skills", db_index=False
    )
    skill = models.ForeignKey("resources.Skill", on_delete=models.PROTECT)
    expires_on = models.DateField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["officer", "skill"], name="one_skill_row_per_officer")
        ]

    def __str__(self):
        return f"{self.officer.collar_number} {self.skill.code}"


class Shift(models.Model):
    class Kind(models.TextChoices):
        EARLY = "early"
        LATE = "late"
        NIGHT = "night"
        OTHER = "other"

    bcu = models.ForeignKey(  # indexed by shift_bcu_start_idx (bcu, ...)
        "cad.BCU", on_delete=models.PROTECT, related_name="shifts", db_index=False
    )
    team = models.ForeignKey(
        Team, on_delete=models.PROTECT, related_name="shifts", null=True, blank=True
    )
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.OTHER)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    minimum_strength = models.PositiveSmallIntegerField(default=0)
    officers = models.ManyToManyField(
        Officer, through="ShiftAssignment", blank=True, related_name="shifts"
    )
    # Marked for a planned operation: its officers are drawn for it (duties/services.py
    # shift_operation_set; the operation lists them, incidents/operations/selectors.py).
    operation = models.ForeignKey(
        "incidents.Operation", on_delete=models.PROTECT, null=True, blank=True,
        related_name="shifts",
    )  # fmt: skip

    class Meta:
        ordering = ["starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")), name="shift_ends_after_start"
            ),
            # One team has one early (late, night) shift starting at a given moment: lets the
            # roster find or create "Team 2's early on 3 Dec" without racing into duplicates.
            models.UniqueConstraint(
                fields=["bcu", "team", "kind", "starts_at"], name="one_team_shift_per_start"
            ),
        ]
        indexes = [models.Index(fields=["bcu", "starts_at"], name="shift_bcu_start_idx")]

    def __str__(self):
        return f"{self.bcu.code} {self.kind} {self.starts_at:%Y-%m-%d %H:%M}"


class ShiftSkillRequirement(models.Model):
    shift = models.ForeignKey(  # indexed by one_requirement_per_skill (shift, ...)
        Shift, on_delete=models.CASCADE, related_name="required_skills", db_index=False
    )
    skill = models.ForeignKey("resources.Skill", on_delete=models.PROTECT)
    count = models.PositiveSmallIntegerField(default=1)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["shift", "skill"], name="one_requirement_per_skill")
        ]

    def __str__(self):
        return f"{self.count} × {self.skill}"


class ShiftAssignment(models.Model):
    shift = models.ForeignKey(  # indexed by officer_once_per_shift (shift, ...)
        Shift, on_delete=models.CASCADE, related_name="assignments", db_index=False
    )
    officer = models.ForeignKey(Officer, on_delete=models.PROTECT, related_name="assignments")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True
    )
    override_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["shift", "officer"], name="officer_once_per_shift")
        ]

    def __str__(self):
        return f"{self.officer.collar_number} on {self.shift}"


class Crewing(models.Model):
    """An officer in a unit for a shift, from booking on until booking off."""

    shift = models.ForeignKey(Shift, on_delete=models.PROTECT, related_name="crewings")
    unit = models.ForeignKey("resources.Unit", on_delete=models.PROTECT, related_name="crewings")
    officer = models.ForeignKey(Officer, on_delete=models.PROTECT, related_name="crewings")
    booked_on_at = models.DateTimeField()
    booked_off_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # An officer is in one unit at a time.
            models.UniqueConstraint(
                fields=["officer"],
                condition=Q(booked_off_at__isnull=True),
                name="officer_in_one_unit",
            ),
        ]

    def __str__(self):
        return f"{self.officer.collar_number} in {self.unit}"


class DayKind(models.TextChoices):
    """What an officer's roster day holds when it is not a shift (a shift is a ShiftAssignment)."""

    REST = "rest", "rest day"
    LEAVE = "leave"
    TRAINING = "training"
    COURT = "court"
    SICK = "sick"


# Abstractions take an officer away from duty: they never count towards a shift's strength.
ABSTRACTIONS = (DayKind.LEAVE, DayKind.TRAINING, DayKind.COURT, DayKind.SICK)


class RosterDay(models.Model):
    """A roster cell that is not a shift: a rest day or an abstraction, for one London date.

    A cell holds either this or a ShiftAssignment for a shift starting that (local) day, never
    both: the roster services keep it so.
    """

    officer = models.ForeignKey(  # indexed by one_roster_day_per_officer (officer, ...)
        Officer, on_delete=models.CASCADE, related_name="roster_days", db_index=False
    )
    date = models.DateField(help_text="London calendar date")
    kind = models.CharField(max_length=10, choices=DayKind.choices)
    note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True
    )

    class Meta:
        ordering = ["date"]
        constraints = [
            # Also the index for the roster grid's "days of these officers between d1 and d2".
            models.UniqueConstraint(fields=["officer", "date"], name="one_roster_day_per_officer")
        ]

    def __str__(self):
        return f"{self.officer.collar_number} {self.date} {self.kind}"


class RestDayCancellation(models.Model):
    """A rest day taken back from an officer, with the notice given (Police Regulations:
    under 15 days' notice earns compensation; under 8 days needs a recorded reason)."""

    officer = models.ForeignKey(  # indexed by restcancel_officer_date_idx (officer, ...)
        Officer, on_delete=models.PROTECT, related_name="cancelled_rest", db_index=False
    )
    date = models.DateField(help_text="the rest day that was cancelled (London date)")
    cancelled_at = models.DateTimeField()
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True
    )
    notice_days = models.IntegerField()
    compensation_owed = models.BooleanField()
    reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-cancelled_at"]
        indexes = [models.Index(fields=["officer", "date"], name="restcancel_officer_date_idx")]

    def __str__(self):
        return f"{self.officer.collar_number} rest day {self.date} cancelled"


class SimulationRun(models.Model):
    """One day of real demand played by the demand simulator (docs/simulation.md), with its
    response figures. Written only on a training instance (the simulator refuses elsewhere);
    a what-if variant points at the baseline it was run against, with the same seed."""

    created_at = models.DateTimeField(auto_now_add=True)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True)
    source = models.CharField(max_length=8)
    day = models.DateField(help_text="the real day played (its London date)")
    seed = models.BigIntegerField()
    change = models.CharField(max_length=60, blank=True, help_text="the what-if; empty: none")
    baseline = models.ForeignKey(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="variants"
    )
    calls = models.PositiveIntegerField()
    despatched = models.PositiveIntegerField()
    # response_figures' "grades" (docs/stats.md) over this run's incidents only.
    figures = models.JSONField()
    simulated_seconds = models.FloatField()
    wall_seconds = models.FloatField()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.source} {self.day} seed {self.seed} {self.change or 'baseline'}"
