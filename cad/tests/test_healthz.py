"""/healthz reports each backing service, and names the one that is down."""

import shutil

import pytest
from channels.layers import channel_layers
from django.test import override_settings

from tests.servers import PrivateRedis


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
    }


@pytest.mark.django_db
def test_healthz_ok_with_the_configured_services(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "channel_layer": "ok", "broker": "ok"}


@pytest.mark.django_db
def test_healthz_reports_a_stopped_redis(client, private_redis):
    with override_settings(**_redis_settings(private_redis.url)):
        channel_layers.backends.clear()
        try:
            assert client.get("/healthz").status_code == 200
            private_redis.stop()
            channel_layers.backends.clear()
            response = client.get("/healthz")
        finally:
            channel_layers.backends.clear()
    body = response.json()
    assert response.status_code == 503
    assert set(body["down"]) == {"channel_layer", "broker"}
    assert body["checks"]["database"] == "ok"
