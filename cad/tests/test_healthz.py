"""/healthz says up or down to anyone; /healthz/detail says why, to operators only."""

import contextlib
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from celery.signals import before_task_publish
from channels.layers import channel_layers
from django.test import override_settings
from django.utils import timezone
from kombu import Connection

from cad.models import Heartbeat
from cad.ops import health, heartbeats
from radio.models import RadioMessage
from tests.servers import ROOT, PrivateRedis

MONITORING_TOKEN = "mon-3c1f8a9e2b7d4f60a5c8e1d2b3f4a5c6"


@pytest.fixture
def private_redis(redis_url):
    if not shutil.which("redis-server"):
        pytest.fail("redis-server binary needed to stop and start a private Redis")
    server = PrivateRedis()
    server.start()
    yield server
    server.stop()


def _redis_settings(url: str) -> dict:
    return {
        "CHANNEL_LAYERS": {
            "default": {
                "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
                "CONFIG": {"hosts": [url]},
            }
        },
        "CELERY_BROKER_URL": url,
        "CELERY_TASK_ALWAYS_EAGER": False,
        "HEALTHZ_TIMEOUT_S": 1,
        "HEALTHZ_QUEUE_TIMEOUT_S": 0.5,
    }


@pytest.fixture
def supervisor_client(client, make_user):
    client.force_login(make_user("supervisor"))
    return client


# --- /healthz: anyone, up or down only --------------------------------------------------------
@pytest.mark.django_db
def test_healthz_ok_with_the_configured_services(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_anonymous_healthz_tells_up_or_down_and_nothing_else(client, monkeypatch):
    """An exception's text (host names, addresses, driver messages) is for operators only."""

    def broken():
        raise RuntimeError('could not connect to server "db-internal.force.local" (10.1.2.3)')

    monkeypatch.setitem(health.CHECKS, "database", broken)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "down"}
    assert b"db-internal" not in response.content and b"10.1.2.3" not in response.content


@pytest.mark.django_db
def test_healthz_and_detail_report_a_stopped_redis(client, make_user, private_redis):
    client.force_login(make_user("admin"))
    with override_settings(**_redis_settings(private_redis.url)):
        channel_layers.backends.clear()
        try:
            assert client.get("/healthz").status_code == 200
            private_redis.stop()
            channel_layers.backends.clear()
            response = client.get("/healthz")
            detail = client.get("/healthz/detail")
        finally:
            channel_layers.backends.clear()
    assert response.status_code == 503 and response.json() == {"status": "down"}
    body = detail.json()
    assert detail.status_code == 503
    assert {"channel_layer", "broker", "queues"} <= set(body["down"])
    assert body["checks"]["broker"]["status"] == "down" and body["checks"]["broker"]["error"]
    assert body["checks"]["database"]["status"] == "ok"


# --- /healthz/detail: who may see it ----------------------------------------------------------
@pytest.mark.django_db
@override_settings(MONITORING_TOKEN=MONITORING_TOKEN)
@pytest.mark.parametrize(
    "role, expected", [("despatcher", 403), ("call_handler", 403), ("radio_gateway", 403)]
)
def test_detail_is_refused_to_other_roles(client, make_user, role, expected):
    client.force_login(make_user(role))
    response = client.get("/healthz/detail")
    assert response.status_code == expected
    assert "checks" not in response.json()


@pytest.mark.django_db
@override_settings(MONITORING_TOKEN=MONITORING_TOKEN)
def test_detail_needs_credentials_and_says_which(client):
    response = client.get("/healthz/detail")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    wrong = client.get("/healthz/detail", HTTP_AUTHORIZATION="Bearer not-the-token")
    assert wrong.status_code == 401 and "checks" not in wrong.json()


@pytest.mark.django_db
def test_detail_with_no_token_configured_refuses_every_bearer(client, settings):
    settings.MONITORING_TOKEN = ""
    response = client.get("/healthz/detail", HTTP_AUTHORIZATION="Bearer ")
    assert response.status_code == 401


@pytest.mark.django_db
@override_settings(MONITORING_TOKEN=MONITORING_TOKEN)
def test_detail_for_the_monitoring_token_and_supervisors(client, make_user, geography):
    heartbeats.heartbeat_stamp(name=heartbeats.BEAT)
    by_token = client.get("/healthz/detail", HTTP_AUTHORIZATION=f"Bearer {MONITORING_TOKEN}")
    client.force_login(make_user("supervisor", bcu="CN"))
    by_session = client.get("/healthz/detail")
    for response in (by_token, by_session):
        body = response.json()
        assert set(body["checks"]) == {
            "database", "channel_layer", "broker", "queues", "beat", "radio_bridge",
            "radio_backlog",
        }  # fmt: skip
        assert body["checks"]["database"]["status"] == "ok"


# --- beat -------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_beat_by_its_last_run(settings):
    settings.BEAT_STALE_SECONDS = 60
    assert health.check_beat()["status"] == "down"  # never ran
    heartbeats.heartbeat_stamp(name=heartbeats.BEAT, at=timezone.now() - timedelta(seconds=20))
    fresh = health.check_beat()
    assert fresh["status"] == "ok" and 19 < fresh["age_s"] < 40
    heartbeats.heartbeat_stamp(name=heartbeats.BEAT, at=timezone.now() - timedelta(seconds=90))
    stale = health.check_beat()
    assert stale["status"] == "down" and "no run for" in stale["error"]


@pytest.mark.django_db
def test_beat_stamps_its_heartbeat_when_it_sends_a_task_and_nobody_else_does(monkeypatch):
    monkeypatch.setitem(heartbeats._in_beat, "on", False)
    before_task_publish.send(sender="radio.tasks.alert_undelivered_radio_messages")
    assert not Heartbeat.objects.filter(name=heartbeats.BEAT).exists()  # a web process
    monkeypatch.setitem(heartbeats._in_beat, "on", True)  # as beat_init sets it in beat
    before_task_publish.send(sender="radio.tasks.alert_undelivered_radio_messages")
    row = Heartbeat.objects.get(name=heartbeats.BEAT)
    assert row.detail["task"] == "radio.tasks.alert_undelivered_radio_messages"
    assert timezone.now() - row.at < timedelta(seconds=30)


def test_beat_init_turns_the_beat_heartbeat_on(monkeypatch):
    from celery.signals import beat_init

    monkeypatch.setitem(heartbeats._in_beat, "on", False)
    beat_init.send(sender=None)
    assert heartbeats._in_beat["on"] is True


# --- queues -----------------------------------------------------------------------------------
@pytest.fixture
def default_queue_worker(private_redis):
    """A real Celery worker consuming only the `default` queue of a private Redis."""
    with _default_worker(private_redis.url) as worker:
        yield worker


@contextlib.contextmanager
def _default_worker(redis_url: str, **env: str) -> Iterator[subprocess.Popen]:
    env_redis = {"REDIS_URL": redis_url, "CHANNEL_LAYER_PREFIX": "h19-healthz", **env}
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "cad", "worker", "-Q", "default", "-P", "solo",
         "-n", "healthz-probe@%h", "--without-gossip", "--without-mingle", "-l", "warning"],
        cwd=ROOT, env={**os.environ, **env_redis}, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield worker
    finally:
        worker.terminate()
        worker.wait(timeout=20)


def _queues_once_default_answers(deadline: float) -> dict:
    """check_queues() once the default queue's worker has answered its broadcast (a solo
    worker answers between other work: on a busy machine one ping can miss the timeout)."""
    while time.monotonic() < deadline:
        result = health.check_queues()
        if result["queues"]["default"]["workers"]:
            return result
    pytest.fail(f"the worker never answered: {result}")


@pytest.mark.django_db
def test_each_queue_pinged_with_its_workers_and_depth(
    private_redis, default_queue_worker, settings
):
    with override_settings(**_redis_settings(private_redis.url)):
        deadline = time.monotonic() + 60
        _queues_once_default_answers(deadline)
        # Two jobs wait on the recommend queue, which nobody consumes here (queued as this
        # deployment's tasks are: under its key prefix, if it has one).
        options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
        with Connection(private_redis.url, transport_options=options) as conn:
            queue = conn.SimpleQueue("recommend")
            queue.put({"job": 1})
            queue.put({"job": 2})
            queue.close()
        # Asked again: what is measured is who consumes what.
        result = _queues_once_default_answers(deadline)
    # Only `default` has a worker here: radio, recommend and the texts' two have none.
    down = {"radio", "recommend", "texts", "report_texts"}
    assert result["status"] == "down" and set(result["down"]) == down
    default = result["queues"]["default"]
    assert default["status"] == "ok" and default["workers"][0].startswith("healthz-probe@")
    assert result["queues"]["recommend"] == {"status": "down", "workers": [], "depth": 2}


@pytest.mark.django_db
def test_a_deployment_under_a_key_prefix_sees_its_own_queues_and_workers(private_redis, settings):
    prefix = "h48-own:"
    options = {**settings.CELERY_BROKER_TRANSPORT_OPTIONS, "global_keyprefix": prefix}
    own = {**_redis_settings(private_redis.url), "CELERY_BROKER_TRANSPORT_OPTIONS": options}
    # Another deployment's job on the same Redis, without the prefix: not this one's to count.
    with Connection(private_redis.url) as conn:
        conn.SimpleQueue("recommend").put({"job": "theirs"})
    with _default_worker(private_redis.url, CELERY_KEY_PREFIX=prefix), override_settings(**own):
        deadline = time.monotonic() + 60
        _queues_once_default_answers(deadline)
        with Connection(private_redis.url, transport_options={"global_keyprefix": prefix}) as conn:
            queue = conn.SimpleQueue("recommend")
            queue.put({"job": 1})
            queue.put({"job": 2})
            queue.close()
        result = _queues_once_default_answers(deadline)
    assert result["queues"]["default"]["workers"][0].startswith("healthz-probe@")
    assert result["queues"]["recommend"] == {"status": "down", "workers": [], "depth": 2}


def test_queues_off_when_tasks_run_in_process(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    assert health.check_queues()["status"] == "off"


# --- radio ------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_radio_bridge_check(settings):
    from radio.health import check_bridge

    settings.RADIO_BRIDGE_ENABLED = False
    assert check_bridge()["status"] == "off"
    settings.RADIO_BRIDGE_ENABLED = True
    settings.RADIO_BRIDGE_HEARTBEAT_SECONDS = 10
    assert check_bridge()["status"] == "down"  # none ever ran
    heard = (timezone.now() - timedelta(seconds=4)).isoformat()
    name = heartbeats.RADIO_BRIDGE_PREFIX + "host:1"
    heartbeats.heartbeat_stamp(name=name, detail={"connected": True, "last_message_at": heard})
    up = check_bridge()
    assert up["status"] == "ok" and up["connected"] and up["last_message_at"] == heard
    # The process died with its row saying "connected": stale after three missed stamps.
    heartbeats.heartbeat_stamp(
        name=name, detail={"connected": True, "last_message_at": heard},
        at=timezone.now() - timedelta(seconds=31),
    )  # fmt: skip
    gone = check_bridge()
    assert gone["status"] == "down" and gone["bridges"][0]["connected"] is False


@pytest.mark.django_db
def test_radio_backlog_by_its_oldest_unapplied_message(settings, geography):
    from radio.health import check_backlog

    settings.RADIO_BACKLOG_MAX_AGE_SECONDS = 120
    assert check_backlog() == {"status": "ok", "unapplied": 0, "oldest_unapplied_age_s": None}
    now = timezone.now()
    rows = [
        RadioMessage(direction="in", issi="1001", kind="status", code=2, state=state)
        for state in ("received", "received", "applied")
    ]
    RadioMessage.objects.bulk_create(rows)
    # received_at is auto_now_add: age two rows by hand.
    RadioMessage.objects.filter(pk=rows[0].pk).update(received_at=now - timedelta(seconds=300))
    RadioMessage.objects.filter(pk=rows[2].pk).update(received_at=now - timedelta(seconds=900))
    late = check_backlog()
    assert late["status"] == "down" and late["unapplied"] == 2
    assert 299 < late["oldest_unapplied_age_s"] < 330


@pytest.mark.django_db
def test_health_check_command_for_container_probes(settings):
    from django.core.management import CommandError, call_command

    settings.BEAT_STALE_SECONDS = 60
    with pytest.raises(CommandError, match="down: beat"):
        call_command("health_check", "beat")
    heartbeats.heartbeat_stamp(name=heartbeats.BEAT)
    call_command("health_check", "beat", "database")  # no error: both up
    with pytest.raises(CommandError, match="unknown checks"):
        call_command("health_check", "nonsense")


def test_the_container_probe_answers_from_the_standard_library_alone():
    """The image's HEALTHCHECK command, as the Dockerfile runs it: 0 for a 200 from /healthz,
    1 for anything else, and neither Django nor Celery loaded (`python -m cad.ops.probe` loaded
    the Celery app through the package, which took longer than the 5 s timeout on a busy host)."""
    answers = {"code": 200}

    class Health(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            self.send_response(answers["code"] if self.path == "/healthz" else 404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    probe = [sys.executable, "-P", "-X", "importtime", "cad/ops/probe.py", "http",
             str(server.server_port)]  # fmt: skip
    try:
        up = subprocess.run(probe, cwd=ROOT, capture_output=True, text=True, timeout=30)
        answers["code"] = 503
        down = subprocess.run(probe, cwd=ROOT, capture_output=True, text=True, timeout=30)
    finally:
        server.shutdown()
        server.server_close()
    assert (up.returncode, down.returncode) == (0, 1)
    loaded = {line.rsplit("|", 1)[-1].strip() for line in up.stderr.splitlines()}
    assert not {m for m in loaded if m.split(".")[0] in {"cad", "django", "celery"}}
    assert "urllib.request" in loaded  # importtime did list what was imported
