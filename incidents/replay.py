"""The queue's part of replay (cad/live/replay.py): how incident events change the open queue.

An incident event carries the incident as the board shows it, so a fold only puts the row in
or takes it out: a closed incident leaves the queue, a reopened one comes back with its next
update, exactly as `incidents_for_board` lists open incidents.
"""

from typing import Any

from cad.live.replay import ReplaySection, Rows, State
from incidents.events import INCIDENT_CLOSED, INCIDENT_CREATED, INCIDENT_UPDATED
from incidents.models import IncidentStatus


def _key(row: dict[str, Any]) -> str:
    return str(row["id"])


def _put(rows: Rows, data: dict[str, Any]) -> None:
    if data.get("status") == IncidentStatus.CLOSED:
        rows.pop(_key(data), None)
    else:
        rows[_key(data)] = data


def _remove(rows: Rows, data: dict[str, Any]) -> None:
    rows.pop(_key(data), None)


def _visible(state: State, bcu: str | None) -> list[dict[str, Any]]:
    """As `visible_to_bcu`: the BCU's incidents, and those its own units are working."""
    rows = list(state.get("incidents", {}).values())
    if bcu:
        worked = {
            unit["incident"]
            for unit in state.get("units", {}).values()
            if unit.get("bcu") == bcu and unit.get("incident") is not None
        }
        rows = [r for r in rows if r["location"]["bcu"] == bcu or r["id"] in worked]
    return sorted(rows, key=lambda r: (r["created_at"], r["id"]))


def _project(row: dict[str, Any]) -> dict[str, Any]:
    """The contract's fields (`id`, `reference`, `status`, `grade`, `bcu`), and what the
    replay page shows in the queue besides (docs/api-notes.md)."""
    location = row["location"]
    return {
        "id": row["id"],
        "reference": row["reference"],
        "status": row["status"],
        "grade": row["grade"],
        "bcu": location["bcu"],
        "type": row["type"],
        "summary": row["summary"],
        "address": location["address"],
        "lat": location["lat"],
        "lon": location["lon"],
        "created_at": row["created_at"],
    }


QUEUE = ReplaySection(
    key=_key,
    folds={INCIDENT_CREATED: _put, INCIDENT_UPDATED: _put, INCIDENT_CLOSED: _remove},
    visible=_visible,
    project=_project,
)
