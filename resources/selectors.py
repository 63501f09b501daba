"""Reads of units, shaped for the board and the API."""

from collections import defaultdict

from resources.models import Assignment, Unit


def units_for_board(*, bcu: str | None) -> list[dict]:
    """Active units with skills and current incident, in a fixed number of queries."""
    units = Unit.objects.filter(active=True)
    if bcu:
        units = units.filter(bcu__code=bcu)
    rows = list(
        units.values(
            "id", "callsign", "type__code", "status", "lat", "lon", "position_at",
            "bcu__code", "issi", "emergency", "status_at", "deployable",
        ).order_by("callsign")
    )  # fmt: skip
    ids = [r["id"] for r in rows]
    skills: dict[int, list[str]] = defaultdict(list)
    for unit_id, code in Unit.skills.through.objects.filter(unit_id__in=ids).values_list(
        "unit_id", "skill__code"
    ):
        skills[unit_id].append(code)
    active = dict(
        Assignment.objects.filter(unit_id__in=ids, cleared_at__isnull=True).values_list(
            "unit_id", "incident_id"
        )
    )
    return [unit_payload(r, skills.get(r["id"], []), active.get(r["id"])) for r in rows]


def unit_payload(row: dict, skills: list[str], incident_id: int | None) -> dict:
    position = None
    if row["lat"] is not None:
        position = {
            "lat": row["lat"],
            "lon": row["lon"],
            "at": row["position_at"].isoformat() if row["position_at"] else None,
        }
    return {
        "callsign": row["callsign"],
        "type": row["type__code"],
        "status": row["status"],
        "status_at": row["status_at"].isoformat() if row["status_at"] else None,
        "deployable": row["deployable"],
        "position": position,
        "bcu": row["bcu__code"],
        "issi": row["issi"],
        "emergency": row["emergency"],
        "skills": sorted(skills),
        "incident": incident_id,
    }
