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
