"""Which live events reach which officers' phones: a channel-layer group per unit and per
incident, named from the event's payload alone (it is routed inside the writer's transaction,
cad.live.events.register_route, so it must not query).

A phone's socket (consumer.py) is in its unit's group and in the group of that unit's current
job; when a `unit.updated` names another job it moves to that job's group. Nobody else's unit
or job is ever sent to it: the groups hold only the sockets of that unit's crew.
"""

import re
from typing import Any

from incidents.events import INCIDENT_CLOSED, INCIDENT_CREATED, INCIDENT_UPDATED
from resources.events import UNIT_EMERGENCY, UNIT_UPDATED

UNIT_TYPES = frozenset({UNIT_UPDATED, UNIT_EMERGENCY})
INCIDENT_TYPES = frozenset({INCIDENT_CREATED, INCIDENT_UPDATED, INCIDENT_CLOSED})
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def unit_group(callsign: str) -> str:
    # Channels allows letters, digits, '-', '_' and '.' in a group name; a call sign with
    # anything else is escaped, so two call signs never share a group.
    return "officer.unit." + _UNSAFE.sub(lambda m: f"_{ord(m.group()):x}_", callsign)


def incident_group(incident_id: int) -> str:
    return f"officer.incident.{incident_id}"


def officer_groups(type: str, data: dict[str, Any]) -> list[str]:
    """The route registered with cad.live.events (DutiesConfig.ready)."""
    if type in UNIT_TYPES and data.get("callsign"):
        return [unit_group(str(data["callsign"]))]
    if type in INCIDENT_TYPES and isinstance(data.get("id"), int):
        return [incident_group(data["id"])]
    return []
