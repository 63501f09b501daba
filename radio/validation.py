"""The shape of what a radio gateway may send us (../shared/docs/api.md, "Radio gateway").

These serializers are the one definition of a valid inbound message: the service validates with
them (so every caller gets the same checks) and the API names them in its schema. They live
apart from `api.py` because `services.py` uses them, and a service must not import views.

A batch is all or nothing: one malformed message refuses the whole request, with the errors of
each message at its index, so a gateway can log exactly what it got wrong and nothing is
half-stored.
"""

from __future__ import annotations

import math
import re
from typing import Any

from django.utils.dateparse import parse_datetime
from rest_framework import serializers

from cad.api.fields import StrictFloatField, control_characters
from radio.models import RadioMessage

# One request holds at most this many messages. A gateway buffers during an outage and flushes
# when we come back; bounding the batch keeps one request (and its transaction) short.
MAX_BATCH = 500

INBOUND_KINDS = [RadioMessage.Kind.STATUS, RadioMessage.Kind.POSITION, RadioMessage.Kind.TEXT]


class AwareDateTimeField(serializers.DateTimeField):
    """ISO 8601 with an offset. A time without one is refused rather than guessed: a radio
    message read in the wrong zone would be an hour out and could undo a newer status."""

    default_error_messages = {
        "invalid": "An ISO 8601 time with an offset is required, e.g. 2026-11-22T14:03:00Z.",
    }

    def to_internal_value(self, value):
        if not isinstance(value, str):
            self.fail("invalid")
        try:
            parsed = parse_datetime(value.strip())
        except ValueError:
            parsed = None
        if parsed is None or parsed.tzinfo is None or parsed.utcoffset() is None:
            self.fail("invalid")
        return super().to_internal_value(parsed)


class PrintableCharField(serializers.CharField):
    def __init__(self, *, multiline: bool = False, **kwargs):
        self.multiline = multiline
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, str | int):
            self.fail("invalid")
        value = super().to_internal_value(str(data))  # as CharField does with a number
        if control_characters(value, multiline=self.multiline):
            raise serializers.ValidationError("Contains control characters.")
        return value


class InboundMessageInput(serializers.Serializer):
    """One message from a radio: a status code, a GPS fix or a short text."""

    id = PrintableCharField(max_length=100, help_text="the gateway's unique id for the message")
    issi = serializers.RegexField(
        r"^[0-9A-Za-z]{1,16}$",
        max_length=16,
        error_messages={"invalid": "1 to 16 letters or digits."},
        help_text="radio identity of the sending terminal",
    )
    kind = serializers.ChoiceField(choices=INBOUND_KINDS)
    code = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=9999, help_text="status code"
    )
    lat = StrictFloatField(required=False, allow_null=True, min_value=-90, max_value=90)
    lon = StrictFloatField(required=False, allow_null=True, min_value=-180, max_value=180)
    text = PrintableCharField(
        required=False, allow_blank=True, max_length=500, multiline=True, trim_whitespace=True
    )
    sent_at = AwareDateTimeField(help_text="when the radio sent it (ISO 8601 with offset)")

    def to_internal_value(self, data):
        # The whole message is kept as sent (RadioMessage.raw, jsonb), fields we don't know
        # included, so those must be storable too: PostgreSQL refuses NaN, Infinity and NUL.
        if isinstance(data, dict):
            errors = {
                str(key): ["NaN, Infinity and NUL characters cannot be stored."]
                for key, value in data.items()
                if not _storable(key) or not _storable(value)
            }
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)

    def validate(self, attrs):
        errors: dict[str, list[str]] = {}
        kind = attrs["kind"]
        lat, lon = attrs.get("lat"), attrs.get("lon")
        if (lat is None) != (lon is None):
            errors["lat" if lat is None else "lon"] = ["Send lat and lon together."]
        if kind == RadioMessage.Kind.STATUS and attrs.get("code") is None:
            errors["code"] = ["A status message needs a code."]
        if kind == RadioMessage.Kind.POSITION and lat is None and lon is None:
            errors["lat"] = ["A position message needs lat and lon."]
        if kind == RadioMessage.Kind.TEXT and not attrs.get("text"):
            errors["text"] = ["A text message needs text."]
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


def _storable(value: Any) -> bool:
    """Whether PostgreSQL's jsonb can hold `value` (decoded JSON) as it is. Iterative: the
    JSON may nest as deep as the parser allows."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return False
        if isinstance(item, str) and "\x00" in item:
            return False
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return True


class InboundBatchInput(serializers.Serializer):
    # DRF passes max_length on to the ListSerializer; the stub's Serializer does not list it.
    messages = InboundMessageInput(  # type: ignore[call-arg]
        many=True,
        max_length=MAX_BATCH,
        error_messages={
            "max_length": f"At most {MAX_BATCH} messages per request; split the batch.",
        },
    )


# --- the common case, without the serializer ---------------------------------------------------
#
# A gateway sends thousands of GPS fixes a second, each well formed; the radio bridge spent a
# quarter of its CPU in the serializer above validating them (py-spy, bench/radio_ingest.py,
# docs/benchmarks.md). `positions_cleaned` recognises a batch of plainly well-formed position
# fixes directly and returns what the serializer would. It only ever accepts a subset of what the
# serializer accepts, with the same result (radio/tests/test_validation_fast.py checks that
# against the serializer over generated input); anything else, including every message the
# serializer would refuse, goes through the serializer, which names the errors.

_POSITION_KEYS = frozenset({"id", "issi", "kind", "lat", "lon", "sent_at"})
_ISSI = re.compile(r"[0-9A-Za-z]{1,16}")
_SENT_AT = AwareDateTimeField()


def _plain_text(value: Any, max_length: int) -> bool:
    """Printable ASCII, not blank, nothing for the serializer to trim."""
    return (
        type(value) is str
        and 0 < len(value) <= max_length
        and value.isascii()
        and value.isprintable()
        and value == value.strip()
    )


def _coordinate(value: Any, bound: float) -> float | None:
    if type(value) is not float and type(value) is not int:
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) and -bound <= number <= bound else None


def positions_cleaned(messages: Any) -> list[dict[str, Any]] | None:
    """`messages` as InboundBatchInput would clean them, if every one is a well-formed position
    fix with nothing the serializer would have to trim or refuse; otherwise None."""
    if type(messages) is not list or not 0 < len(messages) <= MAX_BATCH:
        return None
    cleaned = []
    for item in messages:
        if type(item) is not dict or item.keys() != _POSITION_KEYS:
            return None
        if item["kind"] != RadioMessage.Kind.POSITION or type(item["kind"]) is not str:
            return None
        id_, issi, sent_at = item["id"], item["issi"], item["sent_at"]
        if not _plain_text(id_, 100) or type(issi) is not str or not _ISSI.fullmatch(issi):
            return None
        lat, lon = _coordinate(item["lat"], 90), _coordinate(item["lon"], 180)
        if lat is None or lon is None or not _plain_text(sent_at, 100):
            return None
        try:
            at = _SENT_AT.to_internal_value(sent_at)
        except serializers.ValidationError:
            return None
        cleaned.append({"id": id_, "issi": issi, "kind": RadioMessage.Kind.POSITION,
                        "lat": lat, "lon": lon, "sent_at": at})  # fmt: skip
    return cleaned


class DeliveryReceiptInput(serializers.Serializer):
    """A delivery receipt for an outbound message: our id (a number) or the gateway's (text)."""

    id = serializers.JSONField(help_text="our outbound message id (number) or the gateway's id")
    state = serializers.ChoiceField(
        choices=[RadioMessage.State.DELIVERED, RadioMessage.State.FAILED]
    )
    note = PrintableCharField(required=False, allow_blank=True, max_length=200)

    def validate_id(self, value):
        if isinstance(value, bool):
            raise serializers.ValidationError("A message id (number) or gateway id (text).")
        if isinstance(value, int) and value > 0:
            return value
        if isinstance(value, str) and 0 < len(value.strip()) <= 100:
            if control_characters(value, multiline=False):
                raise serializers.ValidationError("Contains control characters.")
            return value.strip()
        raise serializers.ValidationError("A message id (number) or gateway id (text).")
