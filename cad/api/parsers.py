"""The API's JSON parser: DRF's, with a body nested too deep for the decoder answered as the
400 any other malformed JSON gets.

Python's decoder raises RecursionError, not ValueError, on about a thousand levels of nesting
(`[[[[…`), and DRF's parser only turns ValueError into a 400, so such a body was a 500.
"""

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError("JSON parse error - nested too deeply.") from exc
