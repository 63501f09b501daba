"""Incidents and everything a call handler and despatcher record about them."""

from datetime import timedelta

from django.conf import settings
from django.core.validators import MaxLengthValidator
from django.db import models

from cad.audit.append_only import AppendOnlyModel


class Grade(models.TextChoices):
    IMMEDIATE = "I", "Immediate"
    SIGNIFICANT = "S", "Significant"
    EXTENDED = "E", "Extended"
    REFERRED = "R", "Referred"


# National call handling standard attendance targets; E is by appointment, R never attended.
GRADE_TARGETS: dict[str, timedelta | None] = {
    Grade.IMMEDIATE: timedelta(minutes=15),
    Grade.SIGNIFICANT: timedelta(minutes=60),
    Grade.EXTENDED: None,
    Grade.REFERRED: None,
}


class IncidentType(models.Model):
    """An opening code from the National Standard for Incident Recording."""

    class Category(models.TextChoices):
        PUBLIC_SAFETY = "public_safety", "Public safety and welfare"
        CRIME = "crime", "Crime"
        ASB = "asb", "Anti-social behaviour"
        TRANSPORT = "transport", "Transport"
        ADMIN = "admin", "Administration"

    code = models.CharField(max_length=10, unique=True)
    name = models.CharField(max_length=100)
    category = models.CharField(max_length=20, choices=Category.choices)
    default_grade = models.CharField(max_length=1, choices=Grade.choices)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["code"]

    def __str__(self):
        return f"{self.code} {self.name}"


class ResponsePlanItem(models.Model):
    """One line of an incident type's response plan: a unit type and/or a crew skill it needs.

    `grades` limits the line to some grades ("I" for "I-grade violence needs a Taser crew");
    empty means every grade.
    """

    incident_type = models.ForeignKey(
        IncidentType, on_delete=models.CASCADE, related_name="response_plan"
    )
    unit_type = models.ForeignKey(
        "resources.UnitType", on_delete=models.PROTECT, null=True, blank=True
    )
    skill = models.ForeignKey("resources.Skill", on_delete=models.PROTECT, null=True, blank=True)
    grades = models.CharField(max_length=4, blank=True, help_text="e.g. 'I' or 'IS'; empty = all")
    count = models.PositiveSmallIntegerField(default=1)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(unit_type__isnull=False) | models.Q(skill__isnull=False),
                name="plan_item_names_something",
            )
        ]

    def __str__(self):
        what = " + ".join(str(x) for x in (self.unit_type, self.skill) if x)
        return f"{self.count} × {what}" + (f" (grade {self.grades})" if self.grades else "")

    def applies_to(self, grade: str) -> bool:
        return not self.grades or grade in self.grades


class ClosingCode(models.Model):
    code = models.CharField(max_length=10, unique=True)
    name = models.CharField(max_length=100)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["code"]

    def __str__(self):
        return f"{self.code} {self.name}"


class Qualifier(models.Model):
    code = models.CharField(max_length=20, unique=True)
    name = models.CharField(max_length=100)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class IncidentStatus(models.TextChoices):
    OPEN = "open"
    ASSIGNED = "assigned"
    AT_SCENE = "at_scene", "at scene"
    CLOSED = "closed"


class Incident(models.Model):
    reference = models.CharField(max_length=20, unique=True, help_text="CAD nnnn/ddMonyy")
    reference_date = models.DateField(help_text="London date the sequence belongs to")
    reference_number = models.PositiveIntegerField()
    # The opening code is fixed at creation; the closing code records what it turned out to be.
    type = models.ForeignKey(IncidentType, on_delete=models.PROTECT, related_name="incidents")
    grade = models.CharField(max_length=1, choices=Grade.choices)
    status = models.CharField(
        max_length=10, choices=IncidentStatus.choices, default=IncidentStatus.OPEN
    )
    summary = models.TextField(blank=True, validators=[MaxLengthValidator(4000)])
    address = models.CharField(
        max_length=300, blank=True, help_text="as the caller gave it; never overwritten"
    )
    resolved_address = models.CharField(max_length=300, blank=True, help_text="gazetteer match")
    lat = models.FloatField()
    lon = models.FloatField()
    bcu = models.ForeignKey("cad.BCU", on_delete=models.PROTECT, null=True, blank=True)
    thrive = models.JSONField(default=dict, blank=True)
    qualifiers = models.ManyToManyField(Qualifier, blank=True, related_name="incidents")
    linked = models.ManyToManyField("self", blank=True, symmetrical=True)
    created_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    due_at = models.DateTimeField(null=True, blank=True)
    closing_code = models.ForeignKey(ClosingCode, on_delete=models.PROTECT, null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    version = models.PositiveIntegerField(default=1)
    # Set when retention erased the callers' details (incidents/retention.py); the rest of the
    # record stays.
    personal_erased_at = models.DateTimeField(null=True, blank=True)
    # The planned operation whose area and time it fell in (incidents/operations/services.py).
    operation = models.ForeignKey(
        "incidents.Operation", on_delete=models.PROTECT, null=True, blank=True,
        related_name="incidents",
    )  # fmt: skip

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["reference_date", "reference_number"], name="one_reference_per_day"
            ),
        ]
        indexes = [
            # the board queue: open incidents by BCU
            models.Index(fields=["status", "bcu", "created_at"], name="incident_queue_idx"),
            # duplicate check and location history: a lat band, then lon, then recency
            models.Index(fields=["lat", "lon", "created_at"], name="incident_position_idx"),
            models.Index(fields=["created_at"], name="incident_created_idx"),
            # retention: closed incidents by closing time (retention.incidents_due_for_erasure)
            models.Index(fields=["status", "closed_at"], name="incident_retention_idx"),
        ]

    def __str__(self):
        return self.reference


class Call(models.Model):
    class Channel(models.TextChoices):
        EMERGENCY = "999", "999"
        NON_EMERGENCY = "101", "101"
        ONLINE = "online", "Online"
        # Shared by another service's CAD as EIDO (resources/partners/): not a call to us.
        PARTNER = "partner", "Partner agency"

    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="calls")
    caller_name = models.CharField(max_length=200, blank=True)
    caller_phone = models.CharField(max_length=40, blank=True)
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.EMERGENCY)
    received_at = models.DateTimeField()
    taken_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    # Each caller's own words about where they are, kept even when attached to another incident.
    address = models.CharField(max_length=300, blank=True)
    notes = models.TextField(blank=True, validators=[MaxLengthValidator(4000)])
    # The caller agreed, during the call, to texts while police are on the way (issue 15).
    updates_consent = models.BooleanField(default=False)

    class Meta:
        ordering = ["received_at"]

    def __str__(self):
        return f"{self.channel} call to {self.incident}"


class IncidentLogEntry(AppendOnlyModel):
    """The incident's narrative. Never edited or deleted: corrections are new entries."""

    class Kind(models.TextChoices):
        CALL = "call"
        NOTE = "note"
        GRADE = "grade"
        ASSIGNMENT = "assignment"
        STATUS = "status"
        MESSAGE = "message"
        LINK = "link"
        CLOSE = "close"
        SYSTEM = "system"

    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="log")
    at = models.DateTimeField(auto_now_add=True)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True
    )
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.NOTE)
    text = models.TextField(validators=[MaxLengthValidator(4000)])

    class Meta:
        ordering = ["at", "id"]
        verbose_name_plural = "incident log entries"

    def __str__(self):
        return f"{self.incident} {self.at:%H:%M:%S} {self.kind}"


class GradeChange(AppendOnlyModel):
    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="grade_changes")
    at = models.DateTimeField(auto_now_add=True)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    from_grade = models.CharField(max_length=1, choices=Grade.choices)
    to_grade = models.CharField(max_length=1, choices=Grade.choices)
    reason = models.TextField(validators=[MaxLengthValidator(1000)])

    class Meta:
        ordering = ["at", "id"]

    def __str__(self):
        return f"{self.incident} {self.from_grade}→{self.to_grade}"


class WarningMarker(models.Model):
    """A warning at an address: 'dog on premises', 'violent occupant', each with an expiry."""

    address = models.CharField(max_length=300)
    lat = models.FloatField()
    lon = models.FloatField()
    text = models.CharField(max_length=500)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True
    )
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # warnings_near: a lat/lon box around the address, then the exact distance in Python
            models.Index(fields=["lat", "lon"], name="warning_position_idx")
        ]

    def __str__(self):
        return f"{self.address}: {self.text}"


class DailySequence(models.Model):
    """Last CAD number issued for a London date; locked while the next one is taken."""

    date = models.DateField(primary_key=True)
    last_number = models.PositiveIntegerField(default=0)

    def __str__(self):
        return f"{self.date}: {self.last_number}"


class GazetteerEntry(models.Model):
    """A place the call handler can search for: an address (UPRN), a street, a place or a postcode.

    `key` makes imports idempotent: `uprn:<UPRN>` for an imported address, `demo:...` for the
    generated London demo gazetteer. `search` is the upper-cased, punctuation-free form of
    address + postcode that autocomplete matches against.
    """

    class Kind(models.TextChoices):
        ADDRESS = "address"
        STREET = "street"
        PLACE = "place"
        POSTCODE = "postcode"

    key = models.CharField(max_length=64, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.ADDRESS)
    uprn = models.CharField("UPRN", max_length=12, blank=True)
    address = models.CharField(max_length=300)
    postcode = models.CharField(max_length=10, blank=True)
    lat = models.FloatField()
    lon = models.FloatField()
    search = models.CharField(max_length=320)
    source = models.CharField(max_length=50, blank=True)

    class Meta:
        ordering = ["address"]
        verbose_name_plural = "gazetteer entries"
        indexes = [
            # autocomplete: `search LIKE 'WORDS%'` (gazetteer_search); pattern_ops lets PostgreSQL
            # use the btree for a prefix LIKE whatever the database collation (ignored on SQLite)
            models.Index(
                fields=["search"], name="gazetteer_search_idx", opclasses=["varchar_pattern_ops"]
            ),
        ]

    def __str__(self):
        return self.address


class IncidentResponse(models.Model):
    """One row per incident for the response-time figures (docs/stats.md), so they are one
    aggregate over a narrow table rather than a join of incidents, calls and assignments.

    Written only by `incidents.services`: at creation (grade and clock start, never changed
    afterwards, so a re-grade or a reopening does not move it) and at the first unit at scene
    (`incident_response_attended`, called by resources inside the status change's transaction).
    """

    incident = models.OneToOneField(
        Incident, on_delete=models.CASCADE, primary_key=True, related_name="response"
    )
    # Indexed by response_bcu_day_idx (bcu, day), which serves lookups by BCU alone too.
    bcu = models.ForeignKey(
        "cad.BCU", on_delete=models.PROTECT, null=True, blank=True, db_index=False
    )
    grade = models.CharField(max_length=1, choices=Grade.choices, help_text="grade at creation")
    received_at = models.DateTimeField(help_text="the first call's receipt: the clock starts")
    # London calendar date and hour of the week (Monday 00:00-00:59 = 0) of received_at, kept
    # so the daily trend and the demand heatmap group by a column, not a per-row time-zone sum.
    day = models.DateField(help_text="London date of received_at")
    hour_of_week = models.PositiveSmallIntegerField(help_text="London hour of the week, 0-167")
    target_at = models.DateTimeField(
        null=True, blank=True, help_text="received_at + the grade's target; none for E and R"
    )
    first_at_scene_at = models.DateTimeField(
        null=True, blank=True, help_text="the earliest at-scene time of any unit: the clock stops"
    )
    response_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="first_at_scene_at - received_at, whole seconds"
    )

    class Meta:
        indexes = [
            # duties.figures.selectors.response_figures for one BCU over a range of days: the
            # columns it counts are included, so PostgreSQL answers from the index alone (an
            # index-only scan) instead of visiting the table's pages, where a BCU's rows are
            # spread among every other BCU's
            models.Index(
                fields=["bcu", "day"],
                include=["grade", "response_seconds", "first_at_scene_at", "target_at"],
                name="response_bcu_day_idx",
            ),
            models.Index(fields=["day"], name="response_day_idx"),
            # duties.figures.selectors: the exact percentile inside one bucket of the daily
            # roll-up (ResponseDay) reads only that bucket's span of response seconds, from the
            # index alone, whatever the date range
            models.Index(
                fields=["grade", "response_seconds"],
                include=["day", "bcu"],
                name="response_grade_seconds_idx",
            ),
        ]

    def __str__(self):
        return f"response of {self.incident_id}"


class ResponseDay(models.Model):
    """The I and S rows of `IncidentResponse` counted per London day, BCU, grade at creation and
    response-time bucket (docs/stats.md "How it is kept fast"), so a year of figures sums a few
    hundred thousand small rows instead of reading 1.5 million.

    PostgreSQL only: kept by statement triggers on the incidents_incidentresponse table
    (migration 0011), in the same transaction as every insert, update or delete of a response
    row, whoever makes it (the services, the demo loader, a bench's bulk insert). SQLite has
    no such table contents and the figures read the response rows directly.
    """

    day = models.DateField()
    # Each response row is counted twice: in its BCU's cell (all_london false; bcu NULL for an
    # incident outside every BCU) and in all London's (all_london true, bcu NULL), so a year of
    # all London sums 365 days' cells, not 365 days times every BCU's.
    all_london = models.BooleanField(default=False)
    # No foreign key constraint: the triggers write the response row's bcu_id as it is, and a
    # cell emptied to n = 0 must not stop anything (the response rows already protect BCUs).
    bcu = models.ForeignKey(
        "cad.BCU", on_delete=models.DO_NOTHING, null=True, blank=True, db_constraint=False
    )
    grade = models.CharField(max_length=1, choices=Grade.choices)
    # The lowest response second of the bucket; NOT_ATTENDED for no unit at scene yet.
    bucket = models.IntegerField()
    n = models.IntegerField(help_text="response rows in the cell; 0 once all have left it")

    NOT_ATTENDED = -1

    class Meta:
        constraints = [
            # The triggers' ON CONFLICT target; an incident outside every BCU has a NULL bcu,
            # which must still meet its own cell (PostgreSQL 15's NULLS NOT DISTINCT). In this
            # order a year of all London or of one BCU is one range of the index. The count is
            # not in it: every creation and first arrival adds to two cells, and an update of
            # an indexed column is never a HOT update (a new entry in each index every time;
            # docs/benchmarks.md, stop 46). The table keeps room on each page for HOT updates
            # (fillfactor, migration 0014).
            models.UniqueConstraint(
                fields=["all_london", "bcu", "day", "grade", "bucket"],
                nulls_distinct=False,
                name="response_day_cell",
            )
        ]

    def __str__(self):
        where = "London" if self.all_london else self.bcu_id
        return f"{self.day} {where} {self.grade} {self.bucket}: {self.n}"


# Crime reports drafted from calls (incidents/crime/): their tables belong to this app.
from incidents.crime.models import CrimeClassification, CrimeReport  # noqa: E402, F401

# Registered with this app; they live with their services in incidents/operations/.
from incidents.operations.models import (  # noqa: E402, F401
    FallbackRecord,
    MajorIncident,
    MobilisationItem,
    Operation,
    OperationLogEntry,
)

# The public's side lives in its own module; imported here so Django registers its models.
from incidents.public.models import (  # noqa: E402, F401
    CallerMessage,
    InvestigationCase,
    MessageTemplate,
    OnlineReport,
    TextOptOut,
    WebDailySequence,
)
