"""Scripted training scenarios (issue 20, part 2; docs/training.md): incidents, further calls
and radio messages at set times, injected into a training instance through the real services.

In `radio` because a scenario speaks for all three apps it drives (incidents' call taking,
radio's inbound messages, units by call sign) and radio is the lowest app that sees them all.
Runs only where `settings.TRAINING` is on: the check is here, in the service, not only in the
command, so nothing can script calls into the live database.
"""

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.utils import timezone
from jsonschema import Draft202012Validator
from rest_framework.exceptions import ValidationError as InputError

from incidents.models import Incident
from incidents.services import CallDetails, incident_attach_call, incident_create
from radio.services import radio_messages_receive
from resources.models import Unit

SOURCE = "training"

_CALLER = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "phone"],
    "properties": {"name": {"type": "string"}, "phone": {"type": "string"}},
}
_AT = {
    "description": "seconds from the start, or mm:ss / hh:mm:ss",
    "oneOf": [
        {"type": "number", "minimum": 0},
        {"type": "string", "pattern": r"^(\d{1,2}:)?\d{1,2}:\d{2}$"},
    ],
}
SCENARIO_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "steps"],
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "description": {"type": "string"},
        "steps": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["at"],
                "minProperties": 2,
                "maxProperties": 2,
                "properties": {
                    "at": _AT,
                    "incident": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["key", "type", "lat", "lon", "address", "summary", "caller"],
                        "properties": {
                            "key": {"type": "string"},
                            "type": {"type": "string"},
                            "grade": {"enum": ["I", "E", "S", "R"]},
                            "lat": {"type": "number"},
                            "lon": {"type": "number"},
                            "address": {"type": "string"},
                            "summary": {"type": "string"},
                            "caller": _CALLER,
                        },
                    },
                    "call": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["incident", "caller"],
                        "properties": {
                            "incident": {"type": "string", "description": "an incident's key"},
                            "caller": _CALLER,
                            "notes": {"type": "string"},
                        },
                    },
                    "radio": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["unit", "kind"],
                        "properties": {
                            "unit": {"type": "string", "description": "call sign"},
                            "kind": {"enum": ["status", "text", "position"]},
                            "code": {"type": "integer"},
                            "text": {"type": "string"},
                            "lat": {"type": "number"},
                            "lon": {"type": "number"},
                        },
                    },
                },
            },
        },
    },
}


class ScenarioError(Exception):
    """A scenario that cannot run: not a training instance, or a file that is not a scenario.
    `problems` lists each fault with where it is (`steps/2/incident/lat: ...`)."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


def seconds_of(at: float | str) -> float:
    """`at` as seconds from the start: 90, "1:30" and "00:01:30" are the same moment."""
    if isinstance(at, int | float):
        return float(at)
    total = 0
    for part in at.split(":"):
        total = total * 60 + int(part)
    return float(total)


def scenario_load(path: Path) -> dict[str, Any]:
    """Read a scenario from a .json, .yaml or .yml file and check it against SCENARIO_SCHEMA
    and itself (a further call names an incident made earlier in the file)."""
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise ScenarioError([f"{path.name}: not valid {path.suffix[1:].upper()}: {exc}"]) from exc
    problems = [
        f"{'/'.join(str(p) for p in error.absolute_path) or '(top)'}: {error.message}"
        for error in Draft202012Validator(SCENARIO_SCHEMA).iter_errors(data)
    ]
    if problems:
        raise ScenarioError(problems)
    keys: set[str] = set()
    for index, step in sorted(enumerate(data["steps"]), key=lambda s: seconds_of(s[1]["at"])):
        if "incident" in step:
            keys.add(step["incident"]["key"])
        if "call" in step and step["call"]["incident"] not in keys:
            problems.append(f"steps/{index}/call/incident: no earlier incident with that key")
    if problems:
        raise ScenarioError(problems)
    return data


def scenario_run(
    scenario: dict[str, Any],
    *,
    by: User,
    speed: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    say: Callable[[str], None] = lambda line: None,
) -> dict[str, Incident]:
    """Play the steps in time order, each at its moment (divided by `speed`), through the real
    services as `by`. Returns the incidents made, by key. A step the services refuse stops
    the run with its reason (what ran before it stays, as it would have live)."""
    if not settings.TRAINING:
        raise ScenarioError(["Scenarios run only on a training instance (TRAINING=true)."])
    incidents: dict[str, Incident] = {}
    start = clock()
    steps = sorted(enumerate(scenario["steps"]), key=lambda s: seconds_of(s[1]["at"]))
    for index, step in steps:
        wait = start + seconds_of(step["at"]) / speed - clock()
        if wait > 0:
            sleep(wait)
        try:
            say(f"[{step['at']}] {_step_run(index, step, by=by, incidents=incidents)}")
        except ValidationError as exc:
            raise ScenarioError([f"steps/{index}: {m}" for m in exc.messages]) from exc
        except InputError as exc:  # the radio's input checks (DRF)
            raise ScenarioError([f"steps/{index}: {json.dumps(exc.detail)}"]) from exc
    return incidents


def _step_run(index: int, step: dict[str, Any], *, by: User, incidents: dict[str, Incident]) -> str:
    if "incident" in step:
        spec = step["incident"]
        incident = incident_create(
            by=by, type_code=spec["type"], lat=spec["lat"], lon=spec["lon"],
            address=spec["address"], grade=spec.get("grade"), summary=spec["summary"],
            source=SOURCE, call=CallDetails(caller_name=spec["caller"]["name"],
                                            caller_phone=spec["caller"]["phone"],
                                            address=spec["address"]),
        )  # fmt: skip
        incidents[spec["key"]] = incident
        return f"incident {incident.reference} ({spec['key']})"
    if "call" in step:
        spec = step["call"]
        incident = incidents[spec["incident"]]
        incident_attach_call(
            incident=incident, by=by, source=SOURCE,
            call=CallDetails(caller_name=spec["caller"]["name"],
                             caller_phone=spec["caller"]["phone"], notes=spec.get("notes", "")),
        )  # fmt: skip
        return f"further call on {incident.reference}"
    spec = step["radio"]
    unit = Unit.objects.filter(callsign=spec["unit"]).first()
    if unit is None:
        raise ScenarioError([f"steps/{index}/radio/unit: no unit {spec['unit']!r}"])
    message = {
        "id": f"training-{timezone.now().timestamp():.6f}-{index}",
        "issi": unit.issi,
        "kind": spec["kind"],
        "sent_at": timezone.now().isoformat(),
        **{k: spec[k] for k in ("code", "text", "lat", "lon") if k in spec},
    }
    radio_messages_receive(messages=[message], by=by, source=SOURCE)
    return f"radio {spec['kind']} from {unit.callsign}"
