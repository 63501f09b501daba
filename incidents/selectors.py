"""Reads of incidents, shaped for the screens and the API."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.db import connection
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from cad.audit.search import AuditIncident
from cad.geo.geometry import bcu_at, haversine_m, in_force_area
from cad.prepared import PreparedSQL, PreparedValues
from incidents.events import BOARD_FIELDS, board_incident
from incidents.models import (
    GRADE_TARGETS,
    Call,
    ClosingCode,
    GazetteerEntry,
    GradeChange,
    Incident,
    IncidentLogEntry,
    IncidentStatus,
    IncidentType,
    Qualifier,
    WarningMarker,
)
from incidents.permissions import can_read_personal

METRES_PER_DEGREE_LAT = 111_320.0


def incidents_for_board(*, bcu: str | None) -> list[dict]:
    """Open incidents for the board, in one query however many there are."""
    rows = Incident.objects.exclude(status=IncidentStatus.CLOSED)
    if bcu:
        rows = rows.filter(visible_to_bcu(bcu)).distinct()
    return [board_incident(r) for r in rows.values(*BOARD_FIELDS).order_by("created_at")]


def visible_to_bcu(bcu: str) -> Q:
    """What a desk scoped to `bcu` sees in lists and on the board (docs/security.md).

    Its BCU's incidents, and those its own units are working across the border.
    """
    return Q(bcu__code=bcu) | Q(
        assignments__cleared_at__isnull=True, assignments__unit__bcu__code=bcu
    )


# --- reference data --------------------------------------------------------------------------


def grade_targets() -> dict[str, int | None]:
    """Attendance target in minutes per grade (None: by appointment or not attended)."""
    return {g: int(t.total_seconds() // 60) if t else None for g, t in GRADE_TARGETS.items()}


def incident_types_active() -> QuerySet[IncidentType]:
    return IncidentType.objects.filter(active=True).order_by("code")


def closing_codes_active() -> QuerySet[ClosingCode]:
    return ClosingCode.objects.filter(active=True).order_by("code")


def qualifiers_active() -> QuerySet[Qualifier]:
    return Qualifier.objects.filter(active=True).order_by("name")


# --- near a point: duplicates, history, warnings ---------------------------------------------


def _box(lat: float, lon: float, radius_m: float) -> dict[str, float]:
    """A lat/lon box that contains the circle (with a small margin for rounding)."""
    dlat = radius_m * 1.01 / METRES_PER_DEGREE_LAT
    dlon = radius_m * 1.01 / (METRES_PER_DEGREE_LAT * max(math.cos(math.radians(lat)), 0.01))
    return {
        "lat__gte": lat - dlat,
        "lat__lte": lat + dlat,
        "lon__gte": lon - dlon,
        "lon__lte": lon + dlon,
    }


def _near(statement: PreparedSQL, params: list[Any]) -> Iterator[dict[str, Any]]:
    """Run one of the hot near-a-point reads as plain SQL; rows as dicts, times aware UTC.

    These reads run on every call taken and every location checked. Built with the ORM, their
    query compilation cost more than PostgreSQL took to answer (cProfile on
    bench/incident_create.py), so they are written once as SQL over the same index, and
    prepared on the server (cad/prepared.py): planned afresh, the two incident reads took
    PostgreSQL 0.5 ms of each create (stop 38). Rows are fetched a hundred at a time, so a
    caller that stops early (the newest 20 of a busy address's year) never builds the rest.
    """
    with connection.cursor() as cursor:
        statement.execute(cursor, params)
        names = [c[0] for c in cursor.description]
        while batch := cursor.fetchmany(100):
            for values in batch:
                row = dict(zip(names, values, strict=True))
                for key in ("created_at", "expires_at"):
                    if isinstance(row.get(key), str):  # SQLite hands back text
                        parsed = cast(datetime, parse_datetime(row[key]))  # ISO text it stored
                        row[key] = timezone.make_aware(parsed, UTC)
                yield row


def _box_params(lat: float, lon: float, radius_m: float) -> list[float]:
    box = _box(lat, lon, radius_m)
    return [box["lat__gte"], box["lat__lte"], box["lon__gte"], box["lon__lte"]]


def _db_time(value: datetime) -> str | datetime | None:
    """The backend's parameter for a time: text on SQLite, the datetime on PostgreSQL."""
    return connection.ops.adapt_datetimefield_value(value)


_INCIDENTS_NEAR = (
    f"SELECT i.id, i.reference, i.lat, i.lon, i.created_at, t.code AS type_code, "  # noqa: S608
    f"t.name AS type_name, i.grade, i.status, i.address, i.summary, c.name AS closing "
    f"FROM {Incident._meta.db_table} i "
    f"JOIN {IncidentType._meta.db_table} t ON t.id = i.type_id "
    f"LEFT JOIN {ClosingCode._meta.db_table} c ON c.id = i.closing_code_id "
    "WHERE i.lat BETWEEN %s AND %s AND i.lon BETWEEN %s AND %s "
    "AND i.created_at >= %s AND i.created_at <= %s AND i.id <> %s"
)
_OPEN_INCIDENTS_NEAR = PreparedSQL(_INCIDENTS_NEAR + " AND i.status <> %s")
_INCIDENTS_NEAR_NEWEST_FIRST = PreparedSQL(_INCIDENTS_NEAR + " ORDER BY i.created_at DESC")
_WARNINGS_NEAR = PreparedSQL(
    "SELECT id, address, text, lat, lon, expires_at, created_at "  # noqa: S608
    f"FROM {WarningMarker._meta.db_table} WHERE lat BETWEEN %s AND %s "
    "AND lon BETWEEN %s AND %s AND (expires_at IS NULL OR expires_at > %s)"
)


def possible_duplicates(
    *,
    lat: float,
    lon: float,
    at: datetime | None = None,
    radius_m: float | None = None,
    window_minutes: int | None = None,
    exclude_id: int | None = None,
    limit: int = 10,
) -> list[dict[str, Any]]:
    """Open incidents within `radius_m` of the point created in the last window, nearest first.

    The box and recency filters run on the (lat, lon, created_at) index `incident_position_idx`:
    PostgreSQL range-scans the latitude band and checks lon and created_at inside the index, so
    the cost follows the incidents in a ~400 m band, not the table (bench/incident_create.py
    prints the plan). The exact circle is then drawn in Python on the few rows left.
    """
    at = at or timezone.now()
    radius_m = settings.DUPLICATE_RADIUS_M if radius_m is None else radius_m
    window = settings.DUPLICATE_WINDOW_MINUTES if window_minutes is None else window_minutes
    rows = _near(
        _OPEN_INCIDENTS_NEAR,
        [*_box_params(lat, lon, radius_m), _db_time(at - timedelta(minutes=window)),
         _db_time(at), exclude_id or 0, IncidentStatus.CLOSED.value],
    )  # fmt: skip
    found = []
    for row in rows:
        distance = haversine_m(lat, lon, row["lat"], row["lon"])
        if distance <= radius_m:
            found.append(
                {
                    "id": row["id"],
                    "reference": row["reference"],
                    "distance_m": round(distance),
                    "lat": row["lat"],
                    "lon": row["lon"],
                    "created_at": row["created_at"].isoformat(),
                    "type": row["type_code"],
                    "type_name": row["type_name"],
                    "grade": row["grade"],
                    "status": row["status"],
                    "address": row["address"],
                    "summary": row["summary"][:200],
                }
            )
    found.sort(key=lambda d: (d["distance_m"], d["created_at"]))
    return found[:limit]


def location_history(
    *,
    lat: float,
    lon: float,
    at: datetime | None = None,
    radius_m: float | None = None,
    days: int | None = None,
    exclude_id: int | None = None,
    limit: int = 20,
) -> list[dict[str, Any]]:
    """Earlier incidents at or near the address (default 50 m, last 12 months), newest first."""
    at = at or timezone.now()
    radius_m = getattr(settings, "LOCATION_HISTORY_RADIUS_M", 50) if radius_m is None else radius_m
    days = getattr(settings, "LOCATION_HISTORY_DAYS", 365) if days is None else days
    rows = _near(
        _INCIDENTS_NEAR_NEWEST_FIRST,
        [*_box_params(lat, lon, radius_m), _db_time(at - timedelta(days=days)), _db_time(at),
         exclude_id or 0],
    )  # fmt: skip
    found = []
    for row in rows:
        distance = haversine_m(lat, lon, row["lat"], row["lon"])
        if distance <= radius_m:
            found.append(
                {
                    "id": row["id"],
                    "reference": row["reference"],
                    "type": row["type_code"],
                    "type_name": row["type_name"],
                    "grade": row["grade"],
                    "status": row["status"],
                    "closing": row["closing"],
                    "created_at": row["created_at"].isoformat(),
                    "distance_m": round(distance),
                }
            )
            if len(found) >= limit:
                break
    return found


def warnings_near(
    *, lat: float, lon: float, radius_m: float | None = None, at: datetime | None = None
) -> list[dict[str, Any]]:
    """Warning markers in force at or near the point (default within 50 m), nearest first."""
    at = at or timezone.now()
    radius_m = getattr(settings, "WARNING_RADIUS_M", 50) if radius_m is None else radius_m
    rows = _near(_WARNINGS_NEAR, [*_box_params(lat, lon, radius_m), _db_time(at)])
    found = []
    for m in rows:
        distance = haversine_m(lat, lon, m["lat"], m["lon"])
        if distance <= radius_m:
            found.append(_marker_payload(m, distance))
    found.sort(key=lambda d: d["distance_m"])
    return found


def _marker_payload(m: dict, distance: float | None = None) -> dict[str, Any]:
    payload = {
        "id": m["id"],
        "address": m["address"],
        "text": m["text"],
        "lat": m["lat"],
        "lon": m["lon"],
        "created_at": m["created_at"].isoformat(),
        "expires_at": m["expires_at"].isoformat() if m["expires_at"] else None,
    }
    if distance is not None:
        payload["distance_m"] = round(distance)
    return payload


def location_check(
    *, lat: float, lon: float, exclude_id: int | None = None, at: datetime | None = None
) -> dict[str, Any]:
    """Everything a call handler must see once a location is known, before saving."""
    bcu = bcu_at(lat, lon)
    return {
        "lat": lat,
        "lon": lon,
        "in_force_area": in_force_area(lat, lon),
        "bcu": bcu.code if bcu else None,
        "possible_duplicates": possible_duplicates(lat=lat, lon=lon, at=at, exclude_id=exclude_id),
        "location_history": location_history(lat=lat, lon=lon, at=at, exclude_id=exclude_id),
        "warnings": warnings_near(lat=lat, lon=lon, at=at),
        "radius_m": settings.DUPLICATE_RADIUS_M,
        "window_minutes": settings.DUPLICATE_WINDOW_MINUTES,
    }


# --- gazetteer -------------------------------------------------------------------------------

_NOT_WORD = re.compile(r"[^0-9A-Z]+")


def gazetteer_normalise(text: str) -> str:
    """Upper case, punctuation to single spaces: '12, King's Rd.' → '12 KINGS RD'."""
    # Apostrophes vanish rather than split a word: callers say "Kings Cross", not "King s".
    text = text.upper().replace("'", "").replace("\u2019", "")
    return _NOT_WORD.sub(" ", text).strip()


def gazetteer_search(*, q: str, limit: int = 10) -> list[dict[str, Any]]:
    """Autocomplete: entries starting with the words typed, then entries containing every word.

    The prefix query uses `gazetteer_search_idx`; the all-words query is the fallback for
    '12 high st camden' style input and scans, so it runs only when prefixes found too few.
    """
    norm = gazetteer_normalise(q)
    if len(norm) < 2:
        return []
    fields = ("id", "kind", "uprn", "address", "postcode", "lat", "lon")
    results = list(
        GazetteerEntry.objects.filter(search__startswith=norm)
        .order_by("search")
        .values(*fields)[:limit]
    )
    if len(results) < limit:
        words = norm.split()[:6]
        more = GazetteerEntry.objects.exclude(pk__in=[r["id"] for r in results])
        for word in words:
            # Whole words when several are typed; the last may still be being typed.
            more = more.filter(Q(search__startswith=word) | Q(search__contains=f" {word}"))
        results += list(more.order_by("kind", "search").values(*fields)[: limit - len(results)])
    return results


def gazetteer_resolve(
    address: str,
) -> tuple[Mapping[str, Any] | None, list[dict[str, Any]]]:
    """(the one entry an address means, or None; the candidates when it is ambiguous)."""
    norm = gazetteer_normalise(address)
    exact = list(GazetteerEntry.objects.filter(search=norm).values(
        "id", "address", "postcode", "lat", "lon")[:2])  # fmt: skip
    if len(exact) == 1:
        return exact[0], []
    candidates = gazetteer_search(q=address, limit=5)
    if len(candidates) == 1:
        return candidates[0], []
    return None, candidates


# --- incidents ---------------------------------------------------------------------------


def incident_list(
    *,
    status: list[str] | None = None,
    bcu: str | None = None,
    grade: list[str] | None = None,
    scope: str | None = None,
) -> QuerySet:
    """`.values()` rows in BOARD_FIELDS shape, newest first (the API paginates).

    `scope` is the reader's BCU scope: the list then holds what the board shows that desk, and
    the other filters narrow within it.
    """
    rows = Incident.objects.all()
    if scope:
        rows = rows.filter(pk__in=Incident.objects.filter(visible_to_bcu(scope)).values("pk"))
    if status:
        rows = rows.filter(status__in=status)
    if bcu:
        rows = rows.filter(bcu__code=bcu)
    if grade:
        rows = rows.filter(grade__in=grade)
    return rows.values(*BOARD_FIELDS).order_by("-created_at", "-id")


# Parts of an incident's detail that apps above this one own (resources: "assignments"),
# registered from their AppConfig.ready: this app may not import them.
_detail_parts: dict[str, Callable[[Incident], Any]] = {}


def register_incident_detail_part(name: str, selector: Callable[[Incident], Any]) -> None:
    """`selector(incident)` → the value of `detail[name]` in `incident_detail`."""
    _detail_parts[name] = selector


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


# The detail's own reads, each compiled once and prepared on the server (cad/prepared.py,
# decision 0036): the assign and the close answer with the detail, and compiling its nine
# queries afresh was a quarter of an assign's CPU.
DETAIL_FIELDS = (
    *BOARD_FIELDS, "resolved_address", "thrive", "closed_at", "closing_code__code",
    "closing_code__name", "created_by__username", "bcu__name",
)  # fmt: skip
DETAIL_ROW = PreparedValues(
    Incident,
    lambda *, incident_id: Incident.objects.filter(pk=incident_id).values_list(*DETAIL_FIELDS),
)
QUALIFIERS = PreparedValues(
    Incident,
    lambda *, incident_id: (
        Incident.qualifiers.through.objects.filter(incident_id=incident_id)
        .order_by("qualifier__name")
        .values_list("qualifier__code", "qualifier__name")
    ),
)
LINKED = PreparedValues(
    Incident,
    lambda *, incident_id: (
        Incident.linked.through.objects.filter(from_incident_id=incident_id)
        .order_by("to_incident_id")
        .values_list("to_incident_id", "to_incident__reference", "to_incident__status")
    ),
)
GRADE_CHANGES = PreparedValues(
    GradeChange,
    lambda *, incident_id: GradeChange.objects.filter(incident_id=incident_id).values_list(
        "at", "by__username", "from_grade", "to_grade", "reason"
    ),
)
LOG = PreparedValues(
    IncidentLogEntry,
    lambda *, incident_id: (
        IncidentLogEntry.objects.filter(incident_id=incident_id)
        .order_by("at", "id")
        .values_list("at", "by__username", "text", "kind")
    ),
)
CALLS = PreparedValues(
    Call,
    lambda *, incident_id: Call.objects.filter(incident_id=incident_id)
    .order_by("received_at", "id")
    .values_list("id", "channel", "received_at", "taken_by__username", "address", "notes",
                 "caller_name", "caller_phone"),
)  # fmt: skip


def incident_detail(
    *, incident: Incident, user: User | AnonymousUser, personal: bool = False
) -> dict[str, Any]:
    """The full incident for the API and the incident page, in a fixed number of queries.

    Caller names and numbers are included only when `personal` is asked for and the user's role
    may see them; whoever asks for them must record the read (services.personal_data_read_record).
    `detail["caller_details_included"]` says whether they are in.
    """
    key = {"incident_id": incident.pk}
    (values,) = DETAIL_ROW.rows("detail", **key)
    row = dict(zip(DETAIL_FIELDS, values, strict=True))
    detail = board_incident(row)
    detail["location"]["resolved_address"] = row["resolved_address"]
    detail.update(
        {
            "bcu_name": row["bcu__name"],
            "target_minutes": grade_targets().get(row["grade"]),
            "created_by": row["created_by__username"],
            "thrive": row["thrive"],
            "closed_at": _iso(row["closed_at"]),
            "closing_code": {"code": row["closing_code__code"], "name": row["closing_code__name"]}
            if row["closing_code__code"]
            else None,
            "qualifiers": [{"code": c, "name": n} for c, n in QUALIFIERS.rows("qualifiers", **key)],
            "linked": [
                {"id": i, "reference": r, "status": s} for i, r, s in LINKED.rows("linked", **key)
            ],
            "grade_changes": [
                {"at": _iso(at), "by": by, "from": from_grade, "to": to_grade, "reason": reason}
                for at, by, from_grade, to_grade, reason in GRADE_CHANGES.rows("grades", **key)
            ],
            "log": [
                {"at": _iso(at), "by": by, "text": text, "kind": kind}
                for at, by, text, kind in LOG.rows("log", **key)
            ],
        }
    )
    for name, part in _detail_parts.items():
        detail[name] = part(incident)
    include = personal and can_read_personal(user)
    detail["calls"] = incident_calls(incident=incident, personal=include)
    detail["caller_details_included"] = include
    return detail


def incident_calls(*, incident: Incident, personal: bool) -> list[dict[str, Any]]:
    calls = []
    for pk, channel, received_at, taken_by, address, notes, name, phone in CALLS.rows(
        "calls", incident_id=incident.pk
    ):
        item = {
            "id": pk,
            "channel": channel,
            "received_at": _iso(received_at),
            "taken_by": taken_by,
            "address": address,
            "notes": notes,
        }
        if personal:
            item["caller"] = {"name": name, "phone": phone}
        calls.append(item)
    return calls


def warning_markers_list(*, active_only: bool = True, at: datetime | None = None) -> QuerySet:
    at = at or timezone.now()
    rows = WarningMarker.objects.all()
    if active_only:
        rows = rows.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=at))
    return rows.order_by("-created_at")


def warning_marker_payload(marker: WarningMarker) -> dict[str, Any]:
    return _marker_payload(
        {
            "id": marker.id,
            "address": marker.address,
            "text": marker.text,
            "lat": marker.lat,
            "lon": marker.lon,
            "created_at": marker.created_at,
            "expires_at": marker.expires_at,
        }
    )


def incident_for_audit(value: str) -> AuditIncident | None:
    """The incident an audit search names, by id or reference (registered in IncidentsConfig)."""
    rows = Incident.objects.select_related("bcu")
    numeric = value.isascii() and value.isdigit() and len(value) <= 18
    found = rows.filter(pk=int(value)) if numeric else rows.filter(reference=value)
    incident = found.first()
    if incident is None:
        return None
    return AuditIncident(
        pk=incident.pk,
        reference=incident.reference,
        bcu_code=incident.bcu.code if incident.bcu is not None else None,
    )
