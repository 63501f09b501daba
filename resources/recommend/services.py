"""The write path for stored recommendations (the recommendation part of resources/services.py).

Computing happens outside any transaction (the router may make an HTTP call and must not hold
row locks while it waits); storing and the `recommendations.ready` event happen together in one
short transaction, so the board hears of a result exactly when it is stored.
"""

import logging
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from incidents.models import Incident, IncidentStatus
from resources.events import recommendations_ready
from resources.models import Recommendation
from resources.recommend.conf import conf
from resources.recommend.engine import Outcome, free_units_query, recommend_incident
from resources.recommend.geo import box_around, haversine_m
from resources.recommend.routers import Router
from resources.ringfence import ring_fenced_elsewhere

logger = logging.getLogger(__name__)

GRADE_ORDER = {"I": 0, "S": 1, "E": 2, "R": 3}


def inputs_of(incident: Incident) -> str:
    """What a result depends on in the incident itself: re-grade, re-type or move → stale."""
    return f"{incident.grade}|{incident.type_id}|{incident.lat:.6f}|{incident.lon:.6f}"


def _ranking(results: list[dict], warnings: list[str]) -> tuple:
    """The part of a result a despatcher acts on; reasons like "free for 12 min" change anyway."""
    return tuple((r["unit"], r["suggested"], r["eta_seconds"] // 30) for r in results), tuple(
        warnings
    )


def recommendation_refresh(
    *,
    incident_id: int,
    trigger: str,
    router: Router | None = None,
    now: datetime | None = None,
    force_event: bool = False,
) -> Recommendation | None:
    """Compute and store the recommendation for an open incident; push `recommendations.ready`.

    Safe to run twice: one row per incident; a run whose ranking matches the stored one updates
    the row quietly instead of pushing the same list again. Closed or unknown incidents: None.
    """
    incident = Incident.objects.select_related("bcu").filter(pk=incident_id).first()
    if incident is None or incident.status == IncidentStatus.CLOSED:
        return None
    now = now or timezone.now()
    outcome: Outcome = recommend_incident(incident, router=router, now=now)
    results = [r.as_dict() for r in outcome.results]
    fields = {
        "computed_at": now,
        "inputs": inputs_of(incident),
        "trigger": trigger[:30],
        "router": outcome.router[:20],
        "results": results,
        "warnings": outcome.warnings,
        "plan": outcome.plan,
    }
    with transaction.atomic():
        rec = (
            Recommendation.objects.select_for_update(no_key=True)
            .filter(incident_id=incident_id)
            .first()
        )
        if rec is None:
            try:
                with transaction.atomic():
                    rec = Recommendation.objects.create(incident_id=incident_id, **fields)
                changed = True
            except IntegrityError:
                # Another worker stored one between our read and insert: update that instead.
                rec = Recommendation.objects.select_for_update(no_key=True).get(
                    incident_id=incident_id
                )
                rec, changed = _update(rec, fields)
        else:
            rec, changed = _update(rec, fields)
        if changed or force_event:
            recommendations_ready(rec, incident)
    return rec


def _update(rec: Recommendation, fields: dict) -> tuple[Recommendation, bool]:
    if fields["computed_at"] < rec.computed_at:
        return rec, False  # a slower, older run finished last: keep the newer result
    changed = rec.inputs != fields["inputs"] or _ranking(rec.results, rec.warnings) != _ranking(
        fields["results"], fields["warnings"]
    )
    for name, value in fields.items():
        setattr(rec, name, value)
    rec.save()
    return rec, changed


def recommendation_is_fresh(rec: Recommendation | None, incident: Incident) -> bool:
    """Stored, computed for the incident as it is now, recent, and every unit still free."""
    if rec is None or rec.inputs != inputs_of(incident):
        return False
    if timezone.now() - rec.computed_at > timedelta(seconds=float(conf("FRESH_S"))):
        return False
    listed = {r["unit"] for r in rec.results}
    if not listed:
        return False
    # A unit ring-fenced for an operation since then is no longer one to offer.
    still_free = set(
        free_units_query()
        .filter(callsign__in=listed)
        .filter(~ring_fenced_elsewhere(at=timezone.now(), operation_id=incident.operation_id))
        .values_list("callsign", flat=True)
    )
    return still_free == listed


def recommendation_current(*, incident: Incident) -> Recommendation | None:
    """The stored result if fresh, else computed now (the API's on-demand path)."""
    rec = Recommendation.objects.filter(incident=incident).first()
    if recommendation_is_fresh(rec, incident):
        return rec
    return recommendation_refresh(incident_id=incident.pk, trigger="on_demand")


def recommendations_refresh_near_unit(*, unit_id: int) -> list[int]:
    """A unit became free: refresh open unresourced incidents near it, I-grade first.

    Returns the incident ids refreshed.
    """
    unit = free_units_query().filter(pk=unit_id).values("plat", "plon").first()
    if unit is None:
        return []  # no longer free (sent elsewhere meanwhile): nothing to do
    lat, lon = unit["plat"], unit["plon"]
    radius = float(conf("NEAR_UNIT_RADIUS_M"))
    min_lat, max_lat, min_lon, max_lon = box_around(lat, lon, radius)
    rows = Incident.objects.filter(
        status=IncidentStatus.OPEN,
        lat__gte=min_lat, lat__lte=max_lat, lon__gte=min_lon, lon__lte=max_lon,
    ).values_list("id", "grade", "lat", "lon")  # fmt: skip
    near = sorted(
        (GRADE_ORDER.get(grade, 9), d, pk)
        for pk, grade, ilat, ilon in rows
        if (d := haversine_m(lat, lon, ilat, ilon)) <= radius
    )
    done = []
    for _, _, pk in near[: int(conf("NEAR_UNIT_MAX_INCIDENTS"))]:
        if recommendation_refresh(incident_id=pk, trigger="unit_free") is not None:
            done.append(pk)
    return done
