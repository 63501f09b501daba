"""After-commit reactions that queue texts to callers who agreed to them (ResourcesConfig).

They run once the despatch, the arrival or the close has committed, never inside it: a slow or
failing Notify, or a failing reaction, cannot hold up or undo a despatch. A reaction lost with
its process loses that text only; the despatch stands.
"""

from typing import Any

from incidents.public.models import MessageKind
from incidents.public.texts import caller_texts_queue


def text_callers_on_despatch(data: dict[str, Any]) -> None:
    """`assignment.created`: a unit is on its way (the first unit only: one text per call)."""
    caller_texts_queue(incident_id=data["incident"], kind=MessageKind.DESPATCHED)


def text_callers_on_arrival(data: dict[str, Any]) -> None:
    """`incident.updated` with status `at_scene`: the first unit has arrived."""
    if data.get("status") == "at_scene":
        caller_texts_queue(incident_id=data["id"], kind=MessageKind.AT_SCENE)


def text_callers_on_close(data: dict[str, Any]) -> None:
    """`incident.closed`."""
    caller_texts_queue(incident_id=data["id"], kind=MessageKind.CLOSED)
