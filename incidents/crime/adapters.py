"""Records-system adapters: how a reviewed crime report reaches the force's records system.

Chosen by `RECORDS_ADAPTER` (a dotted path to a class with a no-argument constructor).
`submit(payload)` returns the crime number the records system gave, or "" when it gives none;
a passing fault raises `RecordsUnavailable` (the task retries), a refusal `RecordsRefused`.
Adapters never touch the database.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from functools import cache
from typing import Any, Protocol

from django.conf import settings
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)
DEFAULT_ADAPTER = "incidents.crime.adapters.LoggingRecordsAdapter"


class RecordsUnavailable(Exception):
    """The records system cannot take the report now; try again later."""


class RecordsRefused(Exception):
    """The records system refused the report; retrying will not help."""


class RecordsAdapter(Protocol):
    def submit(self, payload: dict[str, Any]) -> str: ...


class LoggingRecordsAdapter:
    """The default: writes the report's reference to the log and returns no crime number.

    Honest on purpose: with no records system configured, nobody must be told a crime was
    recorded. (The report's personal details stay out of the log.)"""

    def submit(self, payload: dict[str, Any]) -> str:
        logger.info("crime report for %s logged only: no records system configured",
                    payload.get("incident_reference"))  # fmt: skip
        return ""


class JsonHttpsRecordsAdapter:
    """A generic records system: POST the report as JSON to RECORDS_URL (https), bearer token
    RECORDS_TOKEN; a 2xx answer `{"crime_number": "..."}`. 5xx or no answer: unavailable."""

    timeout = 15.0

    def submit(self, payload: dict[str, Any]) -> str:
        url = settings.RECORDS_URL
        if not url.startswith("https://") and not settings.DEBUG:
            raise RecordsRefused("RECORDS_URL must be an https:// URL")
        if not url.startswith(("https://", "http://")):
            raise RecordsRefused("RECORDS_URL is not set")
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if settings.RECORDS_TOKEN:
            headers["Authorization"] = f"Bearer {settings.RECORDS_TOKEN}"
        request = urllib.request.Request(  # noqa: S310 (scheme checked above)
            url, data=json.dumps(payload).encode(), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310  # nosec B310
                body = response.read(64 * 1024)
        except urllib.error.HTTPError as exc:
            if 400 <= exc.code < 500:
                raise RecordsRefused(f"{exc.code} {exc.reason}"[:300]) from exc
            raise RecordsUnavailable(f"{exc.code} {exc.reason}"[:300]) from exc
        except (OSError, TimeoutError) as exc:
            raise RecordsUnavailable(f"{url}: {exc}"[:300]) from exc
        try:
            answer = json.loads(body or b"{}")
        except ValueError as exc:
            raise RecordsRefused("the records system's answer is not JSON") from exc
        number = answer.get("crime_number") if isinstance(answer, dict) else None
        if not isinstance(number, str) or not number.strip():
            raise RecordsRefused("the records system gave no crime_number")
        return number.strip()[:40]


@cache
def _adapter(path: str) -> RecordsAdapter:
    return import_string(path)()


def get_adapter() -> RecordsAdapter:
    return _adapter(getattr(settings, "RECORDS_ADAPTER", DEFAULT_ADAPTER))
