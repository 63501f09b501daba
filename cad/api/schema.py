"""OpenAPI schema generation tuned to the house style."""

from drf_spectacular.openapi import AutoSchema


class BeaconAutoSchema(AutoSchema):
    """Names nested Input/Output serializers after their view.

    The style guide gives each API view its own nested `InputSerializer`/`OutputSerializer`;
    drf-spectacular would name them all "Input"/"Output" and merge different shapes into one
    component. `IncidentGradeApi.InputSerializer` becomes the component `IncidentGradeInput`.
    """

    def get_serializer_name(self, serializer, direction):
        name = super().get_serializer_name(serializer, direction)
        cls = serializer if isinstance(serializer, type) else type(serializer)
        outer, _, inner = cls.__qualname__.rpartition(".")
        if outer and inner in {"InputSerializer", "OutputSerializer", "FilterSerializer"}:
            return outer.split(".")[-1].removesuffix("Api") + name
        return name

    def get_operation_id(self):
        # Two APIViews answering GET on a collection and on one item would both be "retrieve".
        operation_id = super().get_operation_id()
        if self.method == "GET" and not self.path.rstrip("/").endswith("}"):
            return operation_id.replace("_retrieve", "_list")
        return operation_id


# OpenAPI links: which answer feeds which next request. They document the API's workflows
# (an incident is created, a unit sent, the incident closed and reopened) and drive the
# stateful phase of the fuzz gate (tests/test_api_fuzz.py), which follows them with the ids
# the app really returned. (source operationId, status) → {link name: (target operationId,
# parameters, request body or None)}.
_NEW_INCIDENT = {"id": "$response.body#/id"}
_SAME_INCIDENT = {"id": "$request.path.id"}
LINKS: dict[tuple[str, str], dict[str, tuple[str, dict[str, str], dict | None]]] = {
    ("v1_incidents_create", "201"): {
        name: (f"v1_incidents_{name}", _NEW_INCIDENT, None)
        for name in (
            "retrieve",
            "assign_create",
            "close_create",
            "thrive_create",
            "grade_create",
            "log_create",
            "qualifiers_create",
            "calls_create",
            "calls_list",
            "links_create",
            "recommendations_list",
            "messages_list",
            "crime_report_create",
            "major_incident_create",
            "partners_create",
            "eido_list",
        )
    },  # fmt: skip
    ("v1_incidents_assign_create", "200"): {
        # No `{"unit": "$request.body#/unit"}` body: schemathesis 4.32 fails on it (it merges
        # None) when the assign it follows had no JSON body.
        "unassign_create": ("v1_incidents_unassign_create", _SAME_INCIDENT, None),
        "close_create": ("v1_incidents_close_create", _SAME_INCIDENT, None),
        "retrieve": ("v1_incidents_retrieve", _SAME_INCIDENT, None),
    },  # fmt: skip
    ("v1_incidents_close_create", "200"): {
        "reopen_create": ("v1_incidents_reopen_create", _SAME_INCIDENT, None),
        "retrieve": ("v1_incidents_retrieve", _SAME_INCIDENT, None),
    },
    ("v1_incidents_crime_report_create", "201"): {
        "crime_report_partial_update": (
            "v1_incidents_crime_report_partial_update",
            _SAME_INCIDENT,
            None,
        ),
        "crime_report_submit_create": (
            "v1_incidents_crime_report_submit_create",
            _SAME_INCIDENT,
            None,
        ),
    },
    ("v1_warning_markers_create", "201"): {
        "expire_create": ("v1_warning_markers_expire_create", {"id": "$response.body#/id"}, None),
    },
}


def add_links(result, generator, request, public):
    """drf-spectacular post-processing hook: puts LINKS into the responses they start from."""
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            for status_code, response in operation.get("responses", {}).items():
                links = LINKS.get((operation.get("operationId"), status_code))
                if not links:
                    continue
                response["links"] = {
                    name: {
                        "operationId": target,
                        "parameters": parameters,
                        **({"requestBody": body} if body is not None else {}),
                    }
                    for name, (target, parameters, body) in links.items()
                }
    return result
