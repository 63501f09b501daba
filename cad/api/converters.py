"""URL converters for the API's text path parameters (call signs, report references).

Django's `str` and `path` converters take any character but `/`, NUL and other control
characters included; those reached PostgreSQL, which refuses a NUL in a string literal, and the
answer was a 500 (issue 23). A path holding one cannot name anything: it does not match (404).
"""

from django.urls import register_converter
from django.urls.converters import PathConverter, StringConverter


class TextConverter(StringConverter):
    """A path segment of printable characters."""

    regex = r"[^/\x00-\x1f\x7f]+"


class TextPathConverter(PathConverter):
    """Like `TextConverter`, slashes allowed."""

    regex = r"[^\x00-\x1f\x7f]+"


register_converter(TextConverter, "text")
register_converter(TextPathConverter, "textpath")
