"""The units' part of replay (cad/live/replay.py): how unit events change the board's units.

A unit event (a status, a fix, an emergency) carries the unit as the board shows it, so a fold
replaces the row.
"""

from typing import Any

from cad.live.replay import ReplaySection, Rows, State
from resources.events import UNIT_EMERGENCY, UNIT_UPDATED


def _key(row: dict[str, Any]) -> str:
    return str(row["callsign"])


def _put(rows: Rows, data: dict[str, Any]) -> None:
    rows[_key(data)] = data


def _visible(state: State, bcu: str | None) -> list[dict[str, Any]]:
    """As `units_visible`: the BCU's own units, and any unit working one of its incidents."""
    rows = list(state.get("units", {}).values())
    if bcu:
        rows = [
            r
            for r in rows
            if r.get("bcu") == bcu or (r.get("job") or {}).get("incident_bcu") == bcu
        ]
    return sorted(rows, key=lambda r: r["callsign"])


def _project(row: dict[str, Any]) -> dict[str, Any]:
    """The contract's fields (`callsign`, `status`, `incident`, `position`), and what the
    replay page shows besides (docs/api-notes.md)."""
    return {
        "callsign": row["callsign"],
        "status": row["status"],
        "incident": row["incident"],
        "position": row["position"],
        "bcu": row["bcu"],
        "type": row["type"],
        "emergency": row["emergency"],
    }


UNITS = ReplaySection(
    key=_key,
    folds={UNIT_UPDATED: _put, UNIT_EMERGENCY: _put},
    visible=_visible,
    project=_project,
)
