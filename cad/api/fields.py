"""Strict input fields every API shares: JSON types as sent, nothing coerced, no control
characters. DRF's own fields accept 123 for a string and "1.5" for a number; a control room's
records should hold what the client meant, or refuse it with a field-level 400."""

import math
import unicodedata
from collections.abc import Mapping
from typing import ClassVar

from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.utils.serializer_helpers import BindingDict

# Newlines and tabs, taken out of multi-line text before it is checked.
_LINE_BREAKS = str.maketrans("", "", "\n\r\t")


def control_characters(text: str, *, multiline: bool) -> bool:
    """Does the text hold control characters (Unicode's Cc, Cf and Cs)? Newlines and tabs are
    fine in multi-line text."""
    checked = text.translate(_LINE_BREAKS) if multiline else text
    # Printable text (str.isprintable, in C) holds no character of those three categories, nor of
    # the other "Other"s and the separators but the space; only text that is not is looked at
    # character by character (a create's free text was 250 Python calls, now 4).
    if checked.isprintable():
        return False
    return any(unicodedata.category(ch) in ("Cc", "Cf", "Cs") for ch in checked)


class StrictCharField(serializers.CharField):
    """A JSON string, nothing else (DRF would turn 123 into "123"), without control characters."""

    def __init__(self, *, multiline: bool = False, **kwargs):
        self.multiline = multiline
        kwargs.setdefault("trim_whitespace", True)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        if control_characters(data, multiline=self.multiline):
            raise ValidationError("Contains control characters.")
        return super().to_internal_value(data)


class StrictFloatField(serializers.FloatField):
    """A JSON number, not a string or a boolean, and finite."""

    default_error_messages = {"invalid": "A number is required."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        try:
            value = float(data)
        except OverflowError:  # an integer of hundreds of digits, which JSON allows
            self.fail("invalid")
        if not math.isfinite(value):
            self.fail("invalid")
        return super().to_internal_value(value)


class StrictChoiceField(serializers.ChoiceField):
    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid_choice", input=str(data)[:20])
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """A JSON true or false; DRF would also take "yes", "0" and 1."""

    default_error_messages = {"invalid": "Must be true or false."}

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class ClosedSerializer(serializers.Serializer):
    """A body whose every field name is known: any other is refused, by name.

    Most bodies ignore a field they do not know, as DRF does. A closed one is a record whose
    absent answer means something (a THRIVE line not asked, a crime report field not given), so
    a misspelt name must not vanish silently. The refusal is a dict keyed by field: raised as a
    bare message from `to_internal_value`, a top-level serializer could not build its errors
    and answered 500 (issue 23).
    """

    def to_internal_value(self, data):
        if isinstance(data, Mapping) and (unknown := sorted(set(data) - set(self.fields))):
            raise ValidationError({str(name)[:50]: ["Unknown field."] for name in unknown[:10]})
        return super().to_internal_value(data)


class FieldsBuiltOnce(serializers.Serializer):
    """A serializer whose fields are built once per class and shared by all its instances.

    DRF builds every instance's fields afresh, deep-copying each declared field (re-made from
    its arguments, nested serializers and their fields too). For the incident create's body that
    was two thirds of validating it, on the busiest request there is (stop 43,
    docs/benchmarks.md). Validating keeps nothing on a field, so instances of a class whose
    fields are the same for every instance can share one set. It is bound to an instance made
    without data, so no request's body is kept by it; and as that instance is the shared
    fields' root, a class whose fields read `context` must not use this.
    """

    # Set on each class that uses it, the first time one of its instances is asked: never
    # inherited, so a subclass with other fields builds its own.
    _shared_fields: ClassVar[BindingDict]

    @property
    def fields(self) -> BindingDict:
        cls = type(self)
        shared = cls.__dict__.get("_shared_fields")
        if shared is None:  # two threads may both build it: either set will do
            template = cls()
            shared = BindingDict(template)
            for name, field in template.get_fields().items():
                shared[name] = field
            cls._shared_fields = shared
        return shared
