"""Logs: JSON lines with the request id, carried into Celery tasks; no caller's personal data."""

import io
import json
import logging
import os
import subprocess
import sys
import time
import uuid

import pytest
from django_guid import clear_guid, set_guid
from rest_framework.test import APIClient

from cad import task_messages
from cad.celery import app as celery_app
from cad.ops.logs import TaskFilter, json_formatter
from radio import tasks as radio_tasks
from tests.factories import CAMDEN, make_incident_type, make_unit
from tests.servers import ROOT, subprocess_database_url

CALLER_NAME = "Philippa Trevelyan-Smythe"
CALLER_PHONE = "07700 900461"


@pytest.fixture
def captured_logs():
    """Everything logged, at DEBUG and up, rendered by the production JSON formatter."""
    from django_guid.log_filters import CorrelationId

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(json_formatter())
    handler.addFilter(CorrelationId(correlation_id_field="request_id"))
    handler.addFilter(TaskFilter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


def _lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


@pytest.mark.django_db(transaction=True)  # real commits: tasks are queued on commit
def test_a_call_run_through_leaves_no_callers_details_in_the_logs(
    captured_logs, geography, make_user, monkeypatch, settings
):
    settings.RADIO_GATEWAY_ADAPTER = "radio.adapters.LoggingAdapter"  # logs each despatch text
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)  # let its tasks run here
    monkeypatch.setitem(celery_app.conf, "task_eager_propagates", True)
    make_incident_type("ASB1")
    unit = make_unit(geography["kentish"])
    unit.issi = "4001"
    unit.save(update_fields=["issi"])
    api = APIClient()
    api.force_login(make_user("despatcher"))

    body = {
        "type": "ASB1", "summary": "neighbours shouting",
        "location": {"lat": CAMDEN[0], "lon": CAMDEN[1], "address": "1 High Street"},
        "caller": {"name": CALLER_NAME, "phone": CALLER_PHONE},
    }  # fmt: skip
    created = api.post("/api/v1/incidents/", body, format="json")
    assert created.status_code == 201, created.content
    incident_id = created.json()["id"]
    assert api.get(f"/api/v1/incidents/{incident_id}/").status_code == 200
    assert api.get(f"/api/v1/incidents/{incident_id}/calls/").status_code == 200
    assigned = api.post(
        f"/api/v1/incidents/{incident_id}/assign/", {"unit": unit.callsign}, format="json"
    )
    assert assigned.status_code == 200, assigned.content

    text = captured_logs.getvalue()
    lines = _lines(captured_logs)
    # The run did happen and was logged: the requests, and the despatch to the unit's radio.
    requests = [line for line in lines if line["logger"] == "beacon.request"]
    assert [r["status"] for r in requests] == [201, 200, 200, 200]
    despatch = [line for line in lines if line["message"].startswith("radio out to ISSI 4001")]
    assert despatch, "the despatch message was not logged"
    assert despatch[0]["request_id"] == assigned["X-Request-ID"]
    # ... and no trace of the caller, however written.
    for needle in (CALLER_NAME, "Trevelyan", "Philippa", CALLER_PHONE, "07700900461", "900461"):
        assert needle not in text, f"{needle!r} found in the logs"


def test_each_request_gets_an_id_returned_to_the_caller(client, db):
    first = client.get("/accounts/login/")
    second = client.get("/accounts/login/")
    assert uuid.UUID(first["X-Request-ID"]) != uuid.UUID(second["X-Request-ID"])
    # A proxy's UUID is kept; anything else is replaced.
    given = str(uuid.uuid4())
    assert client.get("/accounts/login/", HTTP_X_REQUEST_ID=given)["X-Request-ID"] == given
    forged = client.get("/accounts/login/", HTTP_X_REQUEST_ID='x" injected=1')["X-Request-ID"]
    assert forged != 'x" injected=1'


def _celery_send(task, queue: str) -> str:
    return task.apply_async(queue=queue).id


def _prepared_send(task, queue: str) -> str:
    return task_messages.send(task, (), {}, queue=queue)  # how delay() sends (decision 0043)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("send", [_celery_send, _prepared_send], ids=["apply_async", "prepared"])
def test_the_request_id_travels_to_the_worker_in_a_task_header(tmp_path, redis_url, send):
    """A real worker (JSON logs) runs a task queued under a request id and logs with it."""
    queue = f"h19-logs-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ, "LOG_FORMAT": "json", "LOG_LEVEL": "INFO",
        "REDIS_URL": redis_url, "DATABASE_URL": subprocess_database_url(),
    }  # fmt: skip
    log = tmp_path / "worker.log"
    with open(log, "w") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "cad", "worker", "-Q", queue, "-P", "solo",
             "-n", f"{queue}@%h", "--without-gossip", "--without-mingle", "-l", "info"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    request_id = uuid.uuid4().hex
    assert not celery_app.conf.task_always_eager
    try:
        set_guid(request_id)
        try:
            task_id = send(radio_tasks.apply_pending_radio_messages, queue)
        finally:
            clear_guid()
        deadline = time.monotonic() + 60
        lines: list[dict] = []
        while time.monotonic() < deadline:
            lines = [json.loads(x) for x in log.read_text().splitlines() if x.startswith("{")]
            if any(line.get("task_id") == task_id and "succeeded" in line["message"]
                   for line in lines):  # fmt: skip
                break
            time.sleep(0.3)
        else:
            pytest.fail("the worker never logged the task:\n" + log.read_text()[-3000:])
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    done = next(x for x in lines if x.get("task_id") == task_id and "succeeded" in x["message"])
    assert done["request_id"] == request_id
    assert done["task_name"] == "radio.tasks.apply_pending_radio_messages"
    assert {"time", "level", "logger", "message"} <= set(done)
