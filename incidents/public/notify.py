"""Where texts and emails leave Beacon: GOV.UK Notify, or the log.

`NOTIFY_BACKEND=log` (the default, and the tests') sends nothing: the message row already holds
what would have been sent (the words and the masked recipient), and a log line says so.
`NOTIFY_BACKEND=notify` sends through GOV.UK Notify with `notifications-python-client`, using
one SMS and one email template whose body is the placeholder `((body))` (and `((subject))`), so
the words stay editable in Beacon's admin. Another value is a dotted path to a class with the
same two methods (tests use one that fails).
"""

from __future__ import annotations

import logging
import uuid
from typing import Protocol

import requests
from django.conf import settings
from django.utils.module_loading import import_string
from notifications_python_client.errors import APIError
from notifications_python_client.notifications import NotificationsAPIClient

logger = logging.getLogger(__name__)


class SendFailed(Exception):
    """The provider refused or could not take the message. `permanent`: retrying cannot help
    (a number it rejects, a bad key); otherwise it is retried."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


class Backend(Protocol):
    def send_sms(self, *, to: str, body: str, reference: str) -> str: ...

    def send_email(self, *, to: str, subject: str, body: str, reference: str) -> str: ...


class LogBackend:
    """Sends nothing; the message row is the record of what would have gone."""

    def send_sms(self, *, to: str, body: str, reference: str) -> str:
        logger.info("text not sent (NOTIFY_BACKEND=log): message %s", reference)
        return f"log-{uuid.uuid4()}"

    def send_email(self, *, to: str, subject: str, body: str, reference: str) -> str:
        logger.info("email not sent (NOTIFY_BACKEND=log): message %s", reference)
        return f"log-{uuid.uuid4()}"


class NotifyBackend:
    """GOV.UK Notify. A 4xx other than 429 is permanent (bad number, bad key, bad template);
    429, 5xx and network errors are retried by the task."""

    def __init__(self) -> None:
        self.client = NotificationsAPIClient(settings.NOTIFY_API_KEY)

    def _call(self, send, **kwargs) -> str:
        try:
            response = send(**kwargs)
        except APIError as exc:
            code = getattr(exc, "status_code", 500) or 500
            raise SendFailed(f"Notify {code}", permanent=400 <= code < 500 and code != 429) from exc
        except requests.RequestException as exc:
            raise SendFailed(f"Notify unreachable: {type(exc).__name__}", permanent=False) from exc
        return str(response.get("id", ""))

    def send_sms(self, *, to: str, body: str, reference: str) -> str:
        return self._call(self.client.send_sms_notification, phone_number=to,
                          template_id=settings.NOTIFY_SMS_TEMPLATE_ID,
                          personalisation={"body": body}, reference=reference)  # fmt: skip

    def send_email(self, *, to: str, subject: str, body: str, reference: str) -> str:
        return self._call(self.client.send_email_notification, email_address=to,
                          template_id=settings.NOTIFY_EMAIL_TEMPLATE_ID,
                          personalisation={"subject": subject, "body": body},
                          reference=reference)  # fmt: skip


def backend() -> Backend:
    name = settings.NOTIFY_BACKEND
    if name == "log":
        return LogBackend()
    if name == "notify":
        return NotifyBackend()
    return import_string(name)()
