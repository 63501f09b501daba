"""Crime reports drafted from calls, and the Home Office classifications they are filed under.

Imported by incidents/models.py, so the tables belong to `incidents`."""

from django.conf import settings
from django.core.validators import MaxLengthValidator, RegexValidator
from django.db import models

# A Home Office Counting Rules classification number: digits, then an optional letter, then an
# optional "/n" subdivision (39, 34B, 8N, 4/1, 37/2). Not our own keys: the records system files
# the crime under this, so a typo in the admin is refused rather than sent.
HO_CODE = RegexValidator(r"^[1-9][0-9]{0,2}[A-Z]?(/[0-9]{1,3})?$",
                         "A Home Office classification looks like 39, 34B or 4/1.")  # fmt: skip


class CrimeClassification(models.Model):
    """A crime category of the Home Office Counting Rules (a subset: docs/crime-reports.md).

    Reference data, loaded by a data migration and maintained in the admin. `incident_types`
    lists the opening codes whose crime report starts under this classification.
    """

    code = models.CharField(max_length=12, unique=True)
    name = models.CharField(max_length=120, help_text="HOCR crime category / sub-category")
    group = models.CharField(max_length=80, help_text="HOCR crime group (ONS offence group)")
    ho_code = models.CharField(
        max_length=10, blank=True, validators=[HO_CODE],
        help_text="Home Office Counting Rules classification, where this category is exactly one "
                  "(docs/crime-reports.md); else blank, for the force crime registrar",
    )  # fmt: skip
    incident_types = models.JSONField(default=list, blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["group", "name"]

    def __str__(self):
        return f"{self.code} {self.name}"


class CrimeReport(models.Model):
    """A crime record drafted from an incident, reviewed by a handler, sent to records."""

    class State(models.TextChoices):
        DRAFT = "draft"
        SUBMITTED = "submitted"  # reviewed; queued for the records system
        SENT = "sent"
        FAILED = "failed"

    incident = models.OneToOneField(
        "incidents.Incident", on_delete=models.PROTECT, related_name="crime_report"
    )
    classification = models.ForeignKey(
        CrimeClassification, on_delete=models.PROTECT, null=True, blank=True
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.DRAFT)
    incident_reference = models.CharField(max_length=20)
    # Personal data: victim's and suspect's descriptions, the victim's contact. Reads audited.
    victim_description = models.TextField(blank=True, validators=[MaxLengthValidator(2000)])
    victim_contact = models.CharField(max_length=250, blank=True)
    suspect_description = models.TextField(blank=True, validators=[MaxLengthValidator(2000)])
    location = models.CharField(max_length=300, blank=True)
    lat = models.FloatField()
    lon = models.FloatField()
    bcu = models.CharField(max_length=10, blank=True)
    occurred_from = models.DateTimeField()
    occurred_to = models.DateTimeField()
    reported_at = models.DateTimeField()
    mo = models.TextField(blank=True, validators=[MaxLengthValidator(4000)])
    created_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)
    crime_number = models.CharField(max_length=40, blank=True)
    version = models.PositiveIntegerField(default=1)

    def __str__(self):
        return f"crime report for {self.incident_reference} ({self.state})"
