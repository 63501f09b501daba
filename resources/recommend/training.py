"""Training and loading the learned router (docs/decisions/0021-learned-router.md).

`travel_model_train` reads the force's own attendances (assignment → at scene, from where the
unit was when it was sent) and stores a new version of resources.TravelModel; `learned_router`
gives the engine a router over the newest active version, or None when there is none, so the
engine falls back to the straight-line estimate.
"""

import logging
import threading
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import F, Max, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from cad.audit.trail import audit_record
from cad.kept import Kept
from cad.prepared import PreparedValues
from resources.models import Assignment, TravelModel
from resources.recommend.conf import conf
from resources.recommend.learned import Attendance, LearnedModel, LearnedRouter, fit

logger = logging.getLogger(__name__)

# An assignment → at-scene time outside this is a typing slip or a unit that stopped on the
# way for something else, not a journey.
MIN_TRIP_S = 10
MAX_TRIP_S = 2 * 3600


def attendances_between(start: datetime, end: datetime) -> list[Attendance]:
    """Blue-light attendances assigned in [start, end): the journeys the router learns from.

    Only blue-light grades: the router answers for those (others are scaled by the unit type's
    speeds), and an S-grade unit may have stopped on its way. The first unit at scene of each
    incident is marked, for the first-arrival vote.
    """
    rows = (
        Assignment.objects.filter(
            assigned_at__gte=start, assigned_at__lt=end, at_scene_at__isnull=False,
            incident__grade__in=list(str(conf("BLUE_LIGHT_GRADES"))),
        )
        .annotate(
            olat=Coalesce(F("origin_lat"), F("unit__station__lat")),
            olon=Coalesce(F("origin_lon"), F("unit__station__lon")),
        )
        .values_list("incident_id", "olat", "olon", "incident__lat", "incident__lon",
                     "assigned_at", "at_scene_at")
        .order_by("incident_id", "at_scene_at", "id")
    )  # fmt: skip
    zone = ZoneInfo(settings.TIME_ZONE)
    out: list[Attendance] = []
    last_incident = None
    for incident_id, olat, olon, lat, lon, assigned_at, at_scene_at in rows.iterator():
        if at_scene_at is None or olat is None or olon is None or lat is None:
            continue  # filtered out above; said again for the type checker
        seconds = (at_scene_at - assigned_at).total_seconds()
        if not MIN_TRIP_S <= seconds <= MAX_TRIP_S:
            continue
        out.append(
            Attendance(
                origin_lat=olat, origin_lon=olon, dest_lat=lat, dest_lon=lon, seconds=seconds,
                hour=assigned_at.astimezone(zone).hour, first=incident_id != last_incident,
            )
        )  # fmt: skip
        last_incident = incident_id
    return out


def travel_model_train(
    *, now: datetime | None = None, days: int | None = None, by: User | None = None
) -> TravelModel | None:
    """Train a new version from the last `days` of attendances; None if there are too few.

    Safe to run twice: each run stores a version of its own, and the newest is used.
    """
    now = now or timezone.now()
    days = int(conf("LEARNED_DAYS") if days is None else days)
    start = now - timedelta(days=days)
    attendances = attendances_between(start, now)
    wanted = int(conf("LEARNED_MIN_ATTENDANCES"))
    if len(attendances) < max(wanted, 2):
        logger.info("travel model not trained: %d attendances, %d needed", len(attendances), wanted)
        return None
    parameters = fit(attendances)
    for _ in range(3):
        try:
            with transaction.atomic():
                newest = TravelModel.objects.aggregate(v=Max("version"))["v"] or 0
                model = TravelModel.objects.create(
                    version=newest + 1, trained_at=now, window_start=start, window_end=now,
                    attendances=len(attendances), parameters=parameters,
                )  # fmt: skip
                audit_record(
                    user=by, action="travel_model.trained", obj=model, source="system",
                    changes={"version": [None, model.version],
                             "attendances": [None, model.attendances]},
                )  # fmt: skip
            return model
        except IntegrityError:
            continue  # two trainings at once took the same number: take the next one
    raise RuntimeError("could not number a new travel model version")


def _newest_queryset() -> QuerySet:
    return (
        TravelModel.objects.filter(active=True)
        .order_by("-version")
        .values_list("id", "version", "trained_at")[:1]
    )


# Asked on every recommendation: compiled once (resources/recommend/prepared.py).
NEWEST = PreparedValues(TravelModel, _newest_queryset)

# Built models by version: parsing the parameters and building the grids is done once per
# version and process, not per recommendation.
_built: dict[tuple, LearnedModel] = {}
_lock = threading.Lock()


# The newest version's key, asked again at most every LEARNED_CHECK_S seconds (kept.py): one
# round trip less per recommendation, for a model that changes nightly. 0 asks every time.
_newest: Kept[tuple | None] = Kept(lambda: float(conf("LEARNED_CHECK_S")))


def _newest_version() -> tuple | None:
    def read() -> tuple | None:
        rows = NEWEST.rows("newest")
        return tuple(rows[0]) if rows else None

    return _newest.get("newest", read)


def learned_router(*, now: datetime | None = None) -> LearnedRouter | None:
    """A router over the newest active version, or None when nothing is trained."""
    row = _newest_version()
    if row is None:
        return None
    pk, version, _ = row
    model = _built.get(row)
    if model is None:
        parameters = TravelModel.objects.values_list("parameters", flat=True).get(pk=pk)
        model = LearnedModel(parameters)
        with _lock:
            _built.clear()  # one version at a time is all the engine needs
            _built[row] = model
    hour = (now or timezone.now()).astimezone(ZoneInfo(settings.TIME_ZONE)).hour
    return LearnedRouter(model, version=version, hour=hour)
