"""The radio's fast path for position fixes (radio/validation.py, `positions_cleaned`) never
accepts what the serializer refuses, and cleans what it accepts exactly as the serializer does.

Generated batches mix well-formed fixes with every kind of near miss a gateway could send:
wrong types, whitespace to trim, control characters, out-of-range and enormous numbers, times
without an offset, extra or missing keys. The serializer is the reference.
"""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cad.api.fields import StrictFloatField
from radio.validation import InboundBatchInput, positions_cleaned

pytestmark = pytest.mark.django_db

TEXT = st.one_of(
    st.text(max_size=20),
    st.text(alphabet="abcXYZ019- :.+", min_size=1, max_size=20),
    st.sampled_from(
        ["", " U1", "U1 ", "m\x00", "a\tb", "z\x7f", "m\u200b", "m\ud800", "é", "x" * 101]
    ),
)
NUMBER = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-200, max_value=200),
    st.sampled_from([10**400, -(10**400), True, "51.5", None, 90, -90.0, 180, 180.0001]),
)
TIME = st.one_of(
    st.sampled_from(["2026-11-30T10:00:00Z", "2026-11-30T10:00:00+01:00", "2026-11-30T10:00:00",
                     " 2026-11-30T10:00:00Z", "2026-11-30 10:00:00.123456-05:30",
                     "2026-02-30T10:00Z", "yesterday", ""]),
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.integers(),
)  # fmt: skip
ISSI = st.one_of(st.from_regex(r"\A[0-9A-Za-z]{1,16}\Z"), TEXT, st.integers())
KIND = st.sampled_from(["position", "status", "text", "Position", 1])


@st.composite
def well_formed(draw):
    return {"id": draw(st.from_regex(r"\A[a-z0-9-]{1,30}\Z")),
            "issi": draw(st.from_regex(r"\A[0-9A-Za-z]{1,16}\Z")), "kind": "position",
            "lat": draw(st.floats(min_value=-90, max_value=90)),
            "lon": draw(st.one_of(st.floats(min_value=-180, max_value=180),
                                  st.integers(min_value=-180, max_value=180))),
            "sent_at": draw(st.datetimes(timezones=st.timezones())).isoformat()}  # fmt: skip


FIELD = {"id": st.one_of(TEXT, st.integers()), "issi": ISSI, "kind": KIND, "lat": NUMBER,
         "lon": NUMBER, "sent_at": TIME}  # fmt: skip


@st.composite
def near_miss(draw):
    """A well-formed fix with one thing changed: a field, a key dropped, or a key added."""
    fix = draw(well_formed())
    change = draw(st.sampled_from([*FIELD, "drop", "code", "text", "other"]))
    if change in FIELD:
        fix[change] = draw(FIELD[change])
    elif change == "drop":
        fix.pop(draw(st.sampled_from(sorted(fix))))
    else:
        fix[change] = draw(st.one_of(st.none(), st.integers(), TEXT))
    return fix


def _reference(messages):
    batch = InboundBatchInput(data={"messages": messages})
    return [dict(item) for item in batch.validated_data["messages"]] if batch.is_valid() else None


@settings(max_examples=120, deadline=None)
@given(st.lists(st.one_of(near_miss(), well_formed()), min_size=1, max_size=3))
def test_the_fast_path_accepts_only_what_the_serializer_accepts_and_cleans_it_the_same(messages):
    fast = positions_cleaned(messages)
    if fast is not None:
        assert fast == _reference(messages)


@settings(max_examples=25, deadline=None)
@given(st.lists(well_formed(), min_size=1, max_size=20))
def test_well_formed_fixes_take_the_fast_path(messages):
    # Otherwise the bridge would still pay the serializer for every fix.
    fast = positions_cleaned(messages)
    assert fast is not None
    assert fast == _reference(messages)


def test_an_integer_too_large_for_a_float_is_refused_not_a_crash():
    field = StrictFloatField(min_value=-90, max_value=90)
    batch = InboundBatchInput(data={"messages": [
        {"id": "m1", "issi": "1001", "kind": "position", "lat": 10**400, "lon": 0,
         "sent_at": "2026-11-30T10:00:00Z"}]})  # fmt: skip
    assert not batch.is_valid()
    assert batch.errors["messages"][0]["lat"] == [field.error_messages["invalid"]]


GOOD = {"id": "m-1", "issi": "1001", "kind": "position", "lat": 51.5, "lon": -0.1,
        "sent_at": "2026-11-30T10:00:00Z"}  # fmt: skip
NEAR_MISSES = [
    *[("id", value) for value in ["", " m1", "m1 ", "m\x00", "a\tb", "z\x7f", "m\u200b", "é",
                                  "x" * 101, 7, None]],
    *[("issi", value) for value in ["", " 1001", "10-01", "1" * 17, 1001, None]],
    *[("kind", value) for value in ["status", "text", "Position", None]],
    *[(axis, value) for axis in ("lat", "lon") for value in [
        float("nan"), float("inf"), 10**400, 180.5, -180.5, True, "51.5", None]],
    *[("lat", value) for value in [90.5, -90.5]],
    *[("sent_at", value) for value in ["2026-11-30T10:00:00", " 2026-11-30T10:00:00Z",
                                       "2026-02-30T10:00Z", "soon", "", 1764496800]],
]  # fmt: skip


@pytest.mark.parametrize(("field", "value"), NEAR_MISSES)
def test_each_near_miss_is_left_to_the_serializer_or_cleaned_as_it_would(field, value):
    messages = [GOOD, {**GOOD, "id": "m-2", field: value}]
    fast = positions_cleaned(messages)
    assert fast is None or fast == _reference(messages)
    if _reference(messages) is None:
        assert fast is None
