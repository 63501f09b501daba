"""`FieldsBuiltOnce` (cad/api/fields.py): one set of fields per serializer class, shared by its
instances, validating exactly as DRF's own per-instance fields do."""

from rest_framework import serializers

from cad.api.fields import FieldsBuiltOnce, StrictCharField, StrictFloatField


class Place(serializers.Serializer):
    lat = StrictFloatField(min_value=-90, max_value=90)
    name = StrictCharField(max_length=5, required=False, default="")


class Body(serializers.Serializer):
    code = StrictCharField(max_length=3)
    place = Place()
    tags = serializers.ListField(child=StrictCharField(max_length=4), required=False, default=list)

    def validate(self, attrs):
        if attrs["code"] == "BAD":
            raise serializers.ValidationError({"code": ["Not that one."]})
        return attrs


class SharedBody(FieldsBuiltOnce, Body):
    pass


BODIES = [
    {"code": "AB", "place": {"lat": 51.5}},
    {"code": "ABCD", "place": {"lat": 91, "name": "toolong"}, "tags": ["x", 3]},
    {"code": "BAD", "place": {"lat": 1.0}, "tags": ["ok"]},
    {"place": "here"},
    {"code": "C", "place": {"lat": "51"}, "tags": "x"},
    {"code": "D", "place": {"lat": 2.0, "name": "abc"}, "tags": ["a", "b"]},
]


def _outcome(serializer: serializers.Serializer):
    valid = serializer.is_valid()
    return valid, (dict(serializer.validated_data) if valid else serializer.errors)


def test_instances_share_one_set_of_fields_and_validate_as_drf_does():
    shared = [SharedBody(data=body) for body in BODIES]
    assert all(s.fields is shared[0].fields for s in shared)
    assert Body(data={}).fields is not Body(data={}).fields  # DRF's own: one set each
    # Interleaved, as requests on one process are: each answer is DRF's own for its body.
    for body, serializer in zip(BODIES, shared, strict=True):
        assert _outcome(serializer) == _outcome(Body(data=body)), body


def test_a_default_list_is_new_for_every_body():
    first = SharedBody(data={"code": "A", "place": {"lat": 1.0}})
    assert first.is_valid()
    first.validated_data["tags"].append("kept?")
    second = SharedBody(data={"code": "B", "place": {"lat": 1.0}})
    assert second.is_valid() and second.validated_data["tags"] == []


def test_the_shared_fields_keep_no_request_data():
    serializer = SharedBody(data={"code": "A", "place": {"lat": 1.0, "name": "spy"}})
    assert serializer.is_valid()
    root = serializer.fields["place"].fields["name"].root
    assert root is not serializer
    assert not hasattr(root, "initial_data") and root.context == {}
