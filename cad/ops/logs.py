"""Structured logs: one JSON object per line, each with the request id of what caused it.

The request id comes from django-guid's middleware (`X-Request-ID`: taken from the caller when
it is a valid UUID, e.g. set by the proxy, otherwise made up; returned on the response) and is
carried into Celery tasks as a message header (`request_id`), set by `before_task_publish` in
whatever process queues the task and restored by `task_prerun` in the worker. django-guid's own
Celery integration is not used: with tasks run in-process (the embedded default) it replaced
the request's id with a new one and then cleared it, so the rest of the request logged none.

What is logged never includes callers' personal data (tests/test_logs.py runs a call through
and searches every line): requests are logged by method, path (never the query string), status,
time and user id.
"""

import logging
import time
from typing import Any

from celery import current_task
from celery.signals import before_task_publish, task_postrun, task_prerun
from django_guid import clear_guid, get_guid, set_guid
from django_guid.utils import generate_guid
from pythonjsonlogger.json import JsonFormatter

HEADER = "request_id"
request_logger = logging.getLogger("beacon.request")

JSON_FIELDS = (
    "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(task_id)s %(task_name)s"
)


def json_formatter() -> JsonFormatter:
    """The JSON log format (settings.LOGGING): time, level, logger, message, request and task."""
    return JsonFormatter(
        JSON_FIELDS,
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
    )


class TaskFilter(logging.Filter):
    """Adds the Celery task's id and name (empty outside a task)."""

    def filter(self, record: logging.LogRecord) -> bool:
        task = current_task
        request = getattr(task, "request", None) if task else None
        record.task_id = getattr(request, "id", None) or ""
        record.task_name = (getattr(task, "name", None) or "") if request else ""
        return True


@before_task_publish.connect
def _carry_request_id(headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    """Whoever queues a task (a request, another task, beat) hands its request id on."""
    if headers is not None and (guid := get_guid()):
        headers[HEADER] = guid


@task_prerun.connect
def _restore_request_id(task=None, **kwargs: Any) -> None:
    if task is None or task.request.is_eager:
        return  # run in-process: the caller's id is already the current one
    set_guid(task.request.get(HEADER) or generate_guid())


@task_postrun.connect
def _forget_request_id(task=None, **kwargs: Any) -> None:
    if task is not None and not task.request.is_eager:
        clear_guid()  # the worker's next task must not inherit it


class RequestLogMiddleware:
    """One line per request: method, path without the query string, status, ms, user id."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.monotonic()
        response = self.get_response(request)
        user = getattr(request, "user", None)
        request_logger.info(
            "%s %s %s",
            request.method,
            request.path,
            response.status_code,
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "ms": round((time.monotonic() - started) * 1000, 1),
                "user_id": user.pk if user is not None and user.is_authenticated else None,
            },
        )
        return response
