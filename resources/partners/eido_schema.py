"""EIDO documents checked against NENA's published schema (NENA-STA-021), both ways.

The schema is NENA's own OpenAPI file and the NIEM component files it refers to, kept
verbatim under `schema/` (its README gives the source, commit and licence). An OpenAPI 3.0
schema object is JSON Schema (draft 5/7 vocabulary), so `jsonschema` validates a document
against `components/schemas/EmergencyIncidentDataObjectType` directly; the NIEM files (3 MB of
YAML) are read only when a document reaches one of their types.

One erratum of the published file is corrected in memory, never in the copy: AgentType says
`minItems: "1,"` (a string), which no validator can apply; it is read as 1.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

SCHEMA_DIR = Path(__file__).parent / "schema"
BASE = "https://eido.schema.invalid/"
ROOT = "openapi.yaml#/components/schemas/EmergencyIncidentDataObjectType"
# Files the published schema consists of, by the name its $refs use.
FILES = {"openapi.yaml"} | {
    f"NIEMComponents/{p.name}" for p in (SCHEMA_DIR / "NIEMComponents").glob("*.yaml")
}
MAX_ERRORS = 20


def _load(name: str) -> Any:
    with (SCHEMA_DIR / name).open(encoding="utf-8") as f:
        # libyaml's safe loader: the NIEM files are 3 MB, which the pure-Python one reads slowly.
        return yaml.load(f, Loader=yaml.CSafeLoader)


def _corrected(openapi: dict) -> dict:
    agent = openapi["components"]["schemas"]["AgentType"]["allOf"][1]["properties"]
    roles = agent["agentRoleRegistryText"]
    if roles.get("minItems") == "1,":
        roles["minItems"] = 1
    return openapi


def _retrieve(uri: str) -> Resource:
    name = uri.removeprefix(BASE).replace("//", "/")
    if name not in FILES:
        raise LookupError(f"not part of the EIDO schema: {uri[:100]}")
    contents = _load(name)
    if name == "openapi.yaml":
        contents = _corrected(contents)
    return Resource.from_contents(contents, default_specification=DRAFT7)


@cache
def validator() -> Draft7Validator:
    """One validator per process; the schema files are read once."""
    registry: Registry = Registry(retrieve=_retrieve)  # type: ignore[call-arg]
    return Draft7Validator({"$ref": BASE + ROOT}, registry=registry)


def _where(path) -> str:
    return "/".join(str(p) for p in path) or "document"


def eido_errors(document: Any) -> dict[str, list[str]]:
    """{where: [what is wrong]} for a document that is not valid EIDO, {} for a valid one.

    `where` is the JSON path of the fault (`incidentComponent/incidentCommonPriorityNumber`),
    so a partner can find it; messages are cut short (a bad value may be large)."""
    errors: dict[str, list[str]] = {}
    found = sorted(validator().iter_errors(document), key=lambda e: list(map(str, e.path)))
    for error in found[:MAX_ERRORS]:
        errors.setdefault(_where(error.absolute_path), []).append(error.message[:300])
    return errors
