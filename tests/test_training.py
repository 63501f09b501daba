"""Training mode (issue 20, part 2; decision 0016): live and training side by side never mix.

Two daphne servers from the same code and the same environment, one with TRAINING=1, on the
same PostgreSQL server and the same Redis (the same channel-layer prefix setting). Each takes an
incident through its API while a desk of each watches its board socket: each incident reaches
its own desk and API only, the live event log stays gapless and training-free, and only the
training pages carry the banner.
"""

import http.client
import json
import os
import subprocess
import sys
import time
from contextlib import contextmanager
from urllib.parse import urlparse

import pytest
from django.conf import settings
from django.db import connection
from websockets.sync.client import connect

from cad.models import Event
from incidents.models import Incident
from tests.servers import ROOT, daphne_server
from tests.training_world import build

pytestmark = [pytest.mark.django_db(transaction=True)]

TRAINING_COOKIE = "beacon_training_session"


def _database_url(name: str) -> str:
    db = settings.DATABASES["default"]
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{name}"


def _manage(env: dict, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env={**os.environ, **env}, capture_output=True,
        text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _drop(name: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name]
        )
        # A drop waits for a checkpoint, which took 15.6 s once on a disk busy with another
        # test run: past the tests' statement timeout (DB_STATEMENT_TIMEOUT_MS), so not for it.
        cursor.execute("SET statement_timeout = 0")
        try:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        finally:
            cursor.execute("RESET statement_timeout")


@pytest.fixture
def training_database(transactional_db, redis_url):
    """The training database beside the live test database, migrated and with its own world."""
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        pytest.fail("needs PostgreSQL: set DATABASE_URL")
    live_name = settings.DATABASES["default"]["NAME"]
    name = f"{live_name}_training"
    _drop(name)
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    env = {"DATABASE_URL": _database_url(live_name), "TRAINING": "1"}
    try:
        _manage(env, "manage.py", "migrate", "--noinput", "-v", "0")
        script = (
            "import django, json; django.setup(); "
            "from tests.training_world import build; print(json.dumps(build()))"
        )
        out = _manage(env, "-c", script)
        yield {"env": env, "world": json.loads(out.strip().splitlines()[-1])}
    finally:
        _drop(name)


@contextmanager
def _socket(base: str, cookie_name: str, cookie: str):
    with connect(
        base.replace("http", "ws") + "/ws/board/",
        additional_headers={"Cookie": f"{cookie_name}={cookie}", "Origin": base},
        open_timeout=20,
    ) as ws:
        hello = json.loads(ws.recv(timeout=20))
        assert hello["type"] == "hello"
        yield ws


def _heard(ws, seconds: float) -> list[dict]:
    """Every message the socket gets within `seconds` (event batches unpacked)."""
    out, deadline = [], time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            message = json.loads(ws.recv(timeout=left))
        except TimeoutError:
            break
        out.extend(message.get("events", [message]) if isinstance(message, dict) else message)
    return out


def _mentions(messages: list[dict], text: str) -> bool:
    return text in json.dumps(messages)


def _post_incident(base: str, token: str, summary: str) -> dict:
    url = urlparse(base)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=30)
    body = {"type": "ASB1", "summary": summary,
            "location": {"lat": 51.545, "lon": -0.16, "address": "1 High Street"},
            "caller": {"name": "Cy", "phone": "0207 946 0000"}}  # fmt: skip
    conn.request("POST", "/api/v1/incidents/", body=json.dumps(body), headers={
        "Authorization": f"Token {token}", "Content-Type": "application/json"})  # fmt: skip
    response = conn.getresponse()
    answer = json.loads(response.read())
    assert response.status == 201, answer
    return answer


def _get(base: str, path: str, *, token: str = "", cookie: str = "") -> tuple[int, str]:
    url = urlparse(base)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=30)
    headers = {"Authorization": f"Token {token}"} if token else {"Cookie": cookie}
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    return response.status, response.read().decode()


def test_live_and_training_side_by_side_never_mix(training_database, redis_url):
    live = build()
    live_url = _database_url(settings.DATABASES["default"]["NAME"])
    common = {"REDIS_URL": redis_url, "LOG_LEVEL": "WARNING", "DATABASE_URL": live_url}
    trained = training_database["world"]
    with (
        daphne_server(common) as live_base,
        daphne_server({**common, **training_database["env"]}) as training_base,
    ):
        with (
            _socket(live_base, "sessionid", live["session"]) as live_ws,
            _socket(training_base, TRAINING_COOKIE, trained["session"]) as training_ws,
        ):
            _heard(live_ws, 1)
            _heard(training_ws, 1)
            made = _post_incident(training_base, trained["token"], "TRAINING-ONLY fight")
            on_training = _heard(training_ws, 8)
            on_live = _heard(live_ws, 3)
            assert _mentions(on_training, "TRAINING-ONLY")  # the check can see
            assert not _mentions(on_live, "TRAINING-ONLY")
            _post_incident(live_base, live["token"], "LIVE-ONLY fight")
            on_live = _heard(live_ws, 8)
            on_training = _heard(training_ws, 3)
            assert _mentions(on_live, "LIVE-ONLY")
            assert not _mentions(on_training, "LIVE-ONLY")
        # Each API lists its own incident only.
        _, listed_live = _get(live_base, "/api/v1/incidents/", token=live["token"])
        _, listed_training = _get(training_base, "/api/v1/incidents/", token=trained["token"])
        assert "LIVE-ONLY" in listed_live and "TRAINING-ONLY" not in listed_live
        assert "TRAINING-ONLY" in listed_training and "LIVE-ONLY" not in listed_training
        # A live session means nothing to training and the other way round.
        assert _get(training_base, "/api/v1/incidents/", cookie=f"sessionid={live['session']}")[
            0
        ] in (401, 403)
        # The banner: on every training page, on no live page.
        for path in ("/board/", "/accounts/login/"):
            status, page = _get(
                training_base, path, cookie=f"{TRAINING_COOKIE}={trained['session']}"
            )
            assert status == 200 and "training-banner" in page, path
            status, page = _get(live_base, path, cookie=f"sessionid={live['session']}")
            assert status == 200 and "training-banner" not in page, path
    # The live database: no training row, and the live event log still gapless.
    assert not Incident.objects.filter(summary__startswith="TRAINING").exists()
    assert Incident.objects.filter(summary="LIVE-ONLY fight").count() == 1
    assert not Incident.objects.filter(reference=made["reference"], summary="TRAINING-ONLY fight")
    seqs = list(Event.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert not any(
        "TRAINING" in json.dumps(d) for d in Event.objects.values_list("data", flat=True)
    )
