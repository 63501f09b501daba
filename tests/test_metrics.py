"""/metrics: the control-room figures, checked against a small world built by hand."""

import asyncio
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from cad.accounts.lockout import login_failure_record, login_refused_record, login_success_record
from cad.live.hub import BoardHub
from cad.ops import live
from incidents.models import Incident, IncidentStatus
from radio.models import RadioMessage
from tests.factories import CAMDEN, LAMBETH, make_incident
from tests.servers import PrivateRedis

TOKEN = "metrics-token-5b0c2f1e9d8a7c6b5a4f3e2d1c0b9a88"


def scrape(client) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name: str, **labels) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


@pytest.fixture
def world(geography, make_user):
    handler = make_user("call_handler")
    now = timezone.now()

    def incident(grade: str, where, minutes_ago: float, status: str) -> Incident:
        made = make_incident(handler, grade=grade, lat=where[0], lon=where[1])
        Incident.objects.filter(pk=made.pk).update(
            status=status, created_at=now - timedelta(minutes=minutes_ago)
        )
        return made

    incident("I", CAMDEN, 10, IncidentStatus.OPEN)
    incident("I", CAMDEN, 3, IncidentStatus.OPEN)
    incident("I", LAMBETH, 30, IncidentStatus.ASSIGNED)  # resourced: not "unresourced"
    incident("S", LAMBETH, 40, IncidentStatus.OPEN)
    incident("S", CAMDEN, 5, IncidentStatus.AT_SCENE)
    incident("E", CAMDEN, 90, IncidentStatus.OPEN)
    incident("I", CAMDEN, 120, IncidentStatus.CLOSED)  # closed: counted nowhere
    return {"handler": handler, "now": now}


@pytest.mark.django_db
@override_settings(MONITORING_TOKEN=TOKEN)
def test_incident_figures(client, world):
    samples = scrape(client)
    assert value(samples, "beacon_incidents_open", grade="I", bcu="CN") == 2
    assert value(samples, "beacon_incidents_open", grade="I", bcu="AS") == 1
    assert value(samples, "beacon_incidents_open", grade="S", bcu="AS") == 1
    assert value(samples, "beacon_incidents_open", grade="S", bcu="CN") == 1
    assert value(samples, "beacon_incidents_open", grade="E", bcu="CN") == 1
    assert ("beacon_incidents_open", (("bcu", "AS"), ("grade", "E"))) not in samples
    oldest_i = value(samples, "beacon_incident_oldest_unresourced_age_seconds", grade="I")
    oldest_s = value(samples, "beacon_incident_oldest_unresourced_age_seconds", grade="S")
    assert 600 <= oldest_i < 660 and 2400 <= oldest_s < 2460


@pytest.mark.django_db
@override_settings(MONITORING_TOKEN=TOKEN, LOGIN_FAILURE_LIMIT=3)
def test_sign_in_figures(client, world):
    user = world["handler"]
    login_success_record(user=user, source="10.0.0.1")
    login_success_record(user=user, source="10.0.0.2")
    locked_at = None
    for _ in range(3):  # the third failure locks the pair
        locked_at = login_failure_record(username="mallory", source="10.0.0.9")
    login_refused_record(username="mallory", source="10.0.0.9", until=locked_at)
    samples = scrape(client)
    assert value(samples, "beacon_sign_in_attempts_15m", outcome="success") == 2
    assert value(samples, "beacon_sign_in_attempts_15m", outcome="failed") == 3
    assert value(samples, "beacon_sign_in_attempts_15m", outcome="locked") == 1
    assert value(samples, "beacon_lockouts_15m") == 1


@pytest.mark.django_db
@override_settings(MONITORING_TOKEN=TOKEN)
def test_radio_figures(client, geography):
    now = timezone.now()
    inbound = {"direction": "in", "issi": "1001", "kind": "status", "code": 2}
    rows = RadioMessage.objects.bulk_create(
        [
            RadioMessage(**inbound, state="received"),
            RadioMessage(**inbound, state="received"),
            RadioMessage(**inbound, state="applied", sent_at=now - timedelta(seconds=3),
                         state_at=now),
            RadioMessage(**inbound, state="applied", sent_at=now - timedelta(seconds=1),
                         state_at=now),
            *[RadioMessage(direction="out", issi="1001", kind="despatch", state=state)
              for state in ("queued", "sent", "sent", "delivered", "failed")],
        ]
    )  # fmt: skip
    RadioMessage.objects.filter(pk=rows[0].pk).update(received_at=now - timedelta(seconds=45))
    samples = scrape(client)
    assert value(samples, "beacon_radio_backlog_messages") == 2
    assert 45 <= value(samples, "beacon_radio_backlog_oldest_age_seconds") < 75
    assert value(samples, "beacon_radio_ingest_lag_seconds", stat="max") == pytest.approx(3)
    assert value(samples, "beacon_radio_ingest_lag_seconds", stat="avg") == pytest.approx(2)
    assert value(samples, "beacon_radio_applied_last_minute") == 2
    assert value(samples, "beacon_radio_undelivered_messages", state="queued") == 1
    assert value(samples, "beacon_radio_undelivered_messages", state="sent") == 2


@pytest.mark.django_db
@override_settings(MONITORING_TOKEN=TOKEN)
def test_celery_queue_depth(client, redis_url, settings):
    from kombu import Connection

    server = PrivateRedis()
    server.start()
    try:
        with override_settings(CELERY_BROKER_URL=server.url, CELERY_TASK_ALWAYS_EAGER=False):
            # As this deployment queues: under its key prefix, if it has one.
            options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
            with Connection(server.url, transport_options=options) as conn:
                queue = conn.SimpleQueue("radio")
                for n in range(3):
                    queue.put({"n": n})
                queue.close()
            samples = scrape(client)
    finally:
        server.stop()
    assert value(samples, "beacon_celery_queue_depth", queue="radio") == 3
    assert value(samples, "beacon_celery_queue_depth", queue="default") == 0
    assert value(samples, "beacon_celery_queue_depth", queue="recommend") == 0


@pytest.mark.django_db
@override_settings(MONITORING_TOKEN=TOKEN, CHANNEL_LAYER_PREFIX="h19-metrics-test")
def test_board_sockets_and_fanout_lag_from_every_process(client, redis_url):
    import redis

    flush = redis.Redis.from_url(redis_url)
    for key in flush.scan_iter(match="beacon:h19-metrics-test:live:*"):
        flush.delete(key)
    figures = live.LiveFigures(sockets=3, cut_offs=2)
    figures.observe_lag(0.25)
    figures.observe_lag(0.05)
    figures.observe_unsent(700_000)
    figures.observe_unsent(1_000)
    asyncio.run(figures.maybe_report(force=True))
    assert figures.unsent_max == 0  # a maximum per report interval, as the lag's
    # A second process, reported under its own name (by a version without the unsent figures).
    flush.set(
        "beacon:h19-metrics-test:live:other-host:42",
        '{"sockets": 5, "lag_max_s": 0.5, "lag_last_s": 0.1, "fanouts": 9, "at": 0}', ex=60,
    )  # fmt: skip
    samples = scrape(client)
    assert value(samples, "beacon_board_sockets", process=live.process_id()) == 3
    assert value(samples, "beacon_board_sockets", process="other-host:42") == 5
    lag = "beacon_board_fanout_lag_seconds"
    assert value(samples, lag, process=live.process_id(), stat="max") == pytest.approx(0.25)
    assert value(samples, lag, process=live.process_id(), stat="last") == pytest.approx(0.05)
    assert value(samples, lag, process="other-host:42", stat="max") == pytest.approx(0.5)
    unsent = "beacon_board_unsent_bytes_max"
    assert value(samples, unsent, process=live.process_id()) == 700_000
    assert value(samples, unsent, process="other-host:42") == 0
    assert value(samples, "beacon_board_cut_offs_total", process=live.process_id()) == 2
    for key in flush.scan_iter(match="beacon:h19-metrics-test:live:*"):
        flush.delete(key)


async def test_the_hub_counts_its_sockets_and_measures_fanout_lag(settings):
    import time

    from channels.layers import InMemoryChannelLayer

    settings.REDIS_URL = ""  # figures read in place, as on the embedded default
    layer = InMemoryChannelLayer()
    hub = BoardHub(layer)

    class Desk:
        def __init__(self):
            self.lock = asyncio.Lock()
            self.got = asyncio.Event()

        def board_events_now(self, items, stream, run=None):
            return False

        async def board_events(self, items, stream, run=None):
            self.got.set()

    desks = [Desk(), Desk()]
    for desk in desks:
        await hub.join("board.all", desk)
    assert hub.figures.sockets == 2
    await layer.group_send(
        "board.all",
        {"type": "board.event", "seq": 1, "text": "{}", "prev": 0, "sent": time.time() - 0.2},
    )
    await asyncio.wait_for(asyncio.gather(*(d.got.wait() for d in desks)), 5)
    await asyncio.sleep(0)
    assert hub.figures.fanouts == 1 and hub.figures.lag_max >= 0.2
    hub.leave("board.all", desks[0])
    assert hub.figures.sockets == 1
    assert live.collect([hub.figures])[live.process_id()]["sockets"] == 1
    for pump in hub.pumps.values():
        pump.cancel()


@pytest.mark.django_db
@override_settings(MONITORING_TOKEN=TOKEN)
def test_metrics_are_for_monitoring_supervisors_and_admins_only(client, make_user, geography):
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    client.force_login(make_user("despatcher"))
    assert client.get("/metrics").status_code == 403
    client.force_login(make_user("admin"))
    assert client.get("/metrics").status_code == 200


@pytest.mark.django_db
@override_settings(MONITORING_TOKEN=TOKEN)
def test_the_sample_grafana_dashboard_uses_only_metrics_we_expose(client, redis_url):
    import json
    import re

    from tests.servers import ROOT

    dashboard = json.loads((ROOT / "docs" / "grafana-dashboard.json").read_text())
    used = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"beacon_[a-z0-9_]+", target["expr"])
    }
    body = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").content.decode()
    families = list(text_string_to_metric_families(body))
    # A counter's family is named without the `_total` its samples (and queries) carry.
    exposed = {family.name for family in families} | {
        f"{family.name}_total" for family in families if family.type == "counter"
    }
    assert used and used <= exposed, used - exposed
