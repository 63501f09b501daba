"""METHANE, the JESIP major incident report, checked against a JSON Schema.

M  Major incident declared (yes: a report is only sent with a declaration)
E  Exact location
T  Type of incident
H  Hazards, present and potential
A  Access: routes in and out, rendezvous point
N  Number of casualties: fatal, serious, minor (an estimate is said so)
E  Emergency services present and required

The schema is the contract (docs/planned-operations.md); `methane_errors` turns the validator's
findings into the API's field-level 400 body, one message per field, so a supervisor filling the
form in at the scene of a disaster is told exactly what is missing.
"""

from typing import Any

from jsonschema import Draft202012Validator

_TEXT = {"type": "string", "minLength": 1, "maxLength": 1000, "pattern": r"\S"}
_COUNT = {"type": "integer", "minimum": 0, "maximum": 100000}
_SERVICES = {
    "type": "array",
    "items": {"type": "string", "minLength": 1, "maxLength": 100},
    "maxItems": 50,
}

METHANE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": [
        "major_incident", "exact_location", "type", "hazards", "access", "casualties",
        "emergency_services",
    ],
    "properties": {
        "major_incident": {"const": True},
        "exact_location": _TEXT,
        "type": _TEXT,
        "hazards": _TEXT,
        "access": _TEXT,
        "casualties": {
            "type": "object",
            "additionalProperties": False,
            "required": ["fatal", "serious", "minor"],
            "properties": {
                "fatal": _COUNT, "serious": _COUNT, "minor": _COUNT,
                "estimated": {"type": "boolean"},
            },
        },
        "emergency_services": {
            "type": "object",
            "additionalProperties": False,
            "required": ["present", "required"],
            "properties": {"present": _SERVICES, "required": _SERVICES},
        },
    },
}  # fmt: skip

_validator = Draft202012Validator(METHANE_SCHEMA)

# Messages a supervisor understands, by the validator's keyword; the path names the field.
_WORDS = {
    "required": "This field is required.",
    "const": "Must be true: a METHANE report goes with a major incident declaration.",
    "minLength": "Must not be empty.",
    "pattern": "Must not be empty.",
    "maxLength": "Too long.",
    "type": "Wrong type.",
    "minimum": "Must be 0 or more.",
    "maximum": "Too large.",
    "maxItems": "Too many entries.",
    "additionalProperties": "Unknown field.",
}


def methane_errors(report: Any) -> dict[str, list[str]]:
    """{"methane.<field>": [message]} for every fault in the report; empty when it is valid."""
    errors: dict[str, list[str]] = {}
    if not isinstance(report, dict):
        return {"methane": ["Must be an object with the METHANE fields."]}
    for error in sorted(_validator.iter_errors(report), key=lambda e: list(e.path)):
        path = [str(p) for p in error.path]
        if error.validator == "required":
            # The missing name is in the message, not the path.
            missing = error.message.split("'")[1] if "'" in error.message else ""
            path.append(missing)
        elif error.validator == "additionalProperties":
            extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
            path.append(",".join(extra)[:50])
        field = ".".join(["methane", *[p for p in path if p]])
        message = _WORDS.get(str(error.validator), "Invalid.")
        if error.validator == "type":
            message = f"Must be {error.validator_value}."
        errors.setdefault(field, [])
        if message not in errors[field]:
            errors[field].append(message)
    return errors


def methane_text(report: dict[str, Any]) -> str:
    """The report as the log and a partner's phone line read it."""
    c = report["casualties"]
    services = report["emergency_services"]
    return "\n".join([
        "M: Major incident declared.",
        f"E: {report['exact_location']}",
        f"T: {report['type']}",
        f"H: {report['hazards']}",
        f"A: {report['access']}",
        f"N: fatal {c['fatal']}, serious {c['serious']}, minor {c['minor']}"
        + (" (estimated)" if c.get("estimated") else ""),
        f"E: present {', '.join(services['present']) or 'none'}; "
        f"required {', '.join(services['required']) or 'none'}",
    ])  # fmt: skip
