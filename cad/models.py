"""Geography (BCUs, boroughs, stations), user scope, the audit trail and the live event log."""

from django.conf import settings
from django.db import models
from django.db.models.fields.json import KeyTextTransform

from cad.accounts.models import UserPreferences  # noqa: F401  (a cad model kept with accounts)
from cad.audit.append_only import AppendOnlyModel


class BCU(models.Model):
    """A Basic Command Unit: the MPS merged 32 boroughs into 12 of them in 2018."""

    code = models.CharField(max_length=8, unique=True)
    name = models.CharField(max_length=100, unique=True)

    class Meta:
        ordering = ["code"]
        verbose_name = "BCU"
        verbose_name_plural = "BCUs"

    def __str__(self):
        return f"{self.name} ({self.code})"


class Borough(models.Model):
    """A London borough with its boundary.

    The boundary is a GeoJSON geometry (Polygon or MultiPolygon, WGS84) in a JSON column and the
    bounding box in plain columns, so point-in-borough needs no GIS extension: the box filters in
    SQL, the polygon test runs in Python (cad/geo/geometry.py).
    See docs/decisions/0002-positions-and-boundaries.md.
    """

    name = models.CharField(max_length=100, unique=True)
    gss_code = models.CharField(max_length=9, blank=True, help_text="ONS code, e.g. E09000007")
    bcu = models.ForeignKey(BCU, on_delete=models.PROTECT, related_name="boroughs")
    boundary = models.JSONField(help_text="GeoJSON geometry, WGS84 lon/lat")
    boundary_source = models.CharField(max_length=100, blank=True)
    min_lat = models.FloatField()
    max_lat = models.FloatField()
    min_lon = models.FloatField()
    max_lon = models.FloatField()
    centre_lat = models.FloatField()
    centre_lon = models.FloatField()

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Station(models.Model):
    code = models.CharField(max_length=8, unique=True)
    name = models.CharField(max_length=100)
    bcu = models.ForeignKey(BCU, on_delete=models.PROTECT, related_name="stations")
    borough = models.ForeignKey(
        Borough, on_delete=models.PROTECT, related_name="stations", null=True, blank=True
    )
    lat = models.FloatField()
    lon = models.FloatField()

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return f"{self.name} ({self.code})"


class UserScope(models.Model):
    """A user's BCU scope. No row, or no BCU, means all London (central desks)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="scope"
    )
    bcu = models.ForeignKey(BCU, on_delete=models.PROTECT, null=True, blank=True)

    def __str__(self):
        return f"{self.user} → {self.bcu.code if self.bcu else 'all London'}"


class AuditEvent(AppendOnlyModel):
    """Who did or saw what, when and from where (DPA 2018 Part 3, s.62). Append-only."""

    class Action(models.TextChoices):
        CREATE = "create"
        UPDATE = "update"
        DELETE = "delete"
        READ_PERSONAL = "read_personal", "read personal data"
        LOGIN = "login"
        OVERRIDE = "override"
        ACKNOWLEDGE = "acknowledge"
        # DPA 2018 s.62 names six operations; create/update/read_personal cover collection,
        # alteration and consultation, these the other three (docs/security.md).
        DISCLOSE = "disclose", "disclose (export)"
        COMBINE = "combine", "combine with other records"
        ERASE = "erase", "erase personal data"

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    # PROTECT, not SET_NULL: nulling the user would be an UPDATE, which the trail refuses.
    # Users who acted are deactivated, never deleted.
    # Indexed by audit_user_at_idx (user, at), which serves lookups by user alone too.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, db_index=False
    )
    username = models.CharField(max_length=150, blank=True, help_text="as it was at the time")
    action = models.CharField(max_length=20, choices=Action.choices)
    object_type = models.CharField(max_length=100)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=200, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    source = models.CharField(max_length=100, blank=True, help_text="IP address or process")

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            # "who touched this object": the audit view of one incident or user
            models.Index(fields=["object_type", "object_id"], name="audit_object_idx"),
            models.Index(fields=["user", "at"], name="audit_user_at_idx"),
            # audit_search by incident: rows about its calls and log entries name the incident
            # by reference in `changes`, so the search can find them without a join
            models.Index(KeyTextTransform("incident", "changes"), name="audit_incident_ref_idx"),
        ]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.username} {self.action} {self.object_type}"


class EventCounter(models.Model):
    """The single row holding the last issued event sequence number.

    Incrementing it under a row lock as the writer's transaction commits (PostgreSQL's
    `cad_event_number` trigger; at the write on SQLite) makes `seq` gapless and in commit
    order: a rolled-back transaction rolls its number back too. Rows from id 1000 up hold the
    last seq of each BCU's stream.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    last_seq = models.BigIntegerField(default=0)

    def __str__(self):
        return f"last seq {self.last_seq}"


class Event(AppendOnlyModel):
    """The live-board event log. `seq` rises by one per event across the whole system.

    On PostgreSQL a row is numbered as its transaction commits (cad/live/events.py), so `seq`
    and `prev` are empty only inside the writing transaction; no one else ever sees them so.
    """

    seq = models.BigIntegerField(
        null=True,
        unique=True,
        help_text="Empty only inside the writing transaction (numbered at its commit)",
    )
    at = models.DateTimeField(auto_now_add=True)
    type = models.CharField(max_length=50)
    bcu = models.CharField(max_length=8, blank=True, help_text="BCU group it belongs to")
    data = models.JSONField(default=dict)
    prev = models.JSONField(
        null=True,
        blank=True,
        help_text="{stream group: the previous seq on that stream}, for the publisher",
    )

    class Meta:
        ordering = ["seq"]
        indexes = [
            # "the last event at or before t" (replay, cad/live/replay.py)
            models.Index(fields=["at"], name="event_at_idx"),
        ]

    def __str__(self):
        return f"#{self.seq} {self.type}"

    def as_message(self) -> dict:
        return {"seq": self.seq, "type": self.type, "data": self.data}


class BoardCheckpoint(models.Model):
    """The board (every section, every BCU) exactly as it stood after event `seq`.

    Replay (cad/live/replay.py) starts from the nearest checkpoint at or before a moment and
    folds only the events after it, so rebuilding any moment costs one row and a few hundred
    events however long the log. Derived data: deleting every row loses nothing but speed.
    """

    seq = models.BigIntegerField(unique=True)
    at = models.DateTimeField()
    state = models.JSONField(default=dict, help_text="{section: [board rows]}")

    class Meta:
        ordering = ["seq"]

    def __str__(self):
        return f"checkpoint at #{self.seq}"


class LoginFailure(models.Model):
    """One failed password or second-factor attempt, kept to lock out guessing (accounts/lockout).

    In PostgreSQL rather than the cache: the cache is not guaranteed to be shared or to survive
    a restart, and a lockout that a restart lifts is no lockout. Rows older than the window are
    purged as new failures arrive; a successful login clears its own (username, source) rows.
    """

    username = models.CharField(max_length=150, help_text="as typed, lower-cased")
    source = models.CharField(max_length=100, help_text="client address")
    at = models.DateTimeField(db_index=True)  # purging rows older than the window
    second_factor = models.BooleanField(default=False, help_text="a wrong TOTP code")

    class Meta:
        indexes = [
            # "failures of this name from this address lately" (the per-pair lockout)
            models.Index(fields=["username", "source", "at"], name="loginfail_pair_idx"),
            # "failures from this address lately" (the per-address spray limit)
            models.Index(fields=["source", "at"], name="loginfail_source_idx"),
        ]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.username} from {self.source}"


class TOTPDevice(models.Model):
    """A user's authenticator (RFC 6238). Confirmed once the user has typed a code from it.

    The secret is kept encrypted (Fernet, keys from TOTP_ENCRYPTION_KEYS;
    cad/accounts/totp_keys.py), so read access to this table alone gives away no one's second
    factor.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="totp_device"
    )
    secret_encrypted = models.TextField(help_text="the base32 secret, Fernet-encrypted")
    created_at = models.DateTimeField(auto_now_add=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    # The highest time step accepted so far: a code is good once, and never after a later one.
    last_step = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = "TOTP device"

    def __str__(self):
        state = "confirmed" if self.confirmed_at else "enrolling"
        return f"{self.user} ({state})"


class IdempotencyKey(models.Model):
    """The first answer to a creating request, replayed when the client repeats its key.

    One row per (user, key). The row is inserted in the same transaction as the change, so a
    concurrent repeat waits on the unique index and then reads the committed answer.
    """

    # No index of its own: the unique (user, key) index serves every lookup by user. A second
    # one cost every create a write, and its plan (the user's keys, filtered by key) grew with
    # the user's keys (docs/benchmarks.md, stop 45).
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    key = models.CharField(max_length=200)
    fingerprint = models.CharField(max_length=64, help_text="sha256 of method, path and body")
    status_code = models.PositiveSmallIntegerField(default=0)
    body = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        # Kept under its first name: the table moved here from `incidents` without a copy.
        db_table = "incidents_idempotencykey"
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="one_idempotency_key_per_user")
        ]

    def __str__(self):
        return f"{self.user_id}:{self.key}"


class RecoveryCode(models.Model):
    """One of the ten single-use codes that stand in for the authenticator (a lost phone).

    Shown once, at enrolment; stored only as a hash (Django's PBKDF2 hasher). `used_at` is set
    by a conditional UPDATE, so one code lets in one sign-in however many race with it.
    """

    user = models.ForeignKey(  # indexed by recovery_user_used_idx (user, ...)
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="recovery_codes",
        db_index=False,
    )  # fmt: skip
    code_hash = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # "this user's unused codes": every recovery-code sign-in
            models.Index(fields=["user", "used_at"], name="recovery_user_used_idx"),
        ]

    def __str__(self):
        return f"{self.user} ({'used' if self.used_at else 'unused'})"


class Heartbeat(models.Model):
    """The last sign of life of a long-running process that no request reaches: Celery beat,
    each radio bridge (cad/ops/heartbeats.py). `/healthz/detail` reads these, so a process
    that stopped (or hung) shows as stale even though nothing failed loudly. One row per
    process name, overwritten in place."""

    name = models.CharField(max_length=200, primary_key=True)
    at = models.DateTimeField()
    detail = models.JSONField(default=dict, blank=True)

    def __str__(self):
        return f"{self.name} at {self.at:%Y-%m-%d %H:%M:%S}"
