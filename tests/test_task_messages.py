"""Task messages sent by `cad.task_messages` are the ones Celery's `apply_async` sends
(decision 0043): Celery itself is the oracle, on a real Redis broker."""

import base64
import json
import multiprocessing
import threading
from datetime import datetime

import pytest
import redis
from django.conf import settings
from kombu.exceptions import OperationalError

from cad import task_messages
from cad.celery import app
from cad.ops.health import broker_key_prefix
from duties.tasks import write_resilience_snapshot
from incidents.tasks import send_caller_message
from radio.tasks import apply_pending_radio_messages
from resources.tasks import recommend_for_incident

# Differ between any two messages: the task's id (and so its root and correlation ids), the
# transport's delivery tag, and `expires`, a time worked out from the moment of sending.
PER_MESSAGE = {("headers", "id"), ("headers", "root_id"), ("headers", "expires"),
               ("properties", "correlation_id"), ("properties", "delivery_tag")}  # fmt: skip


@pytest.fixture
def broker(redis_url):
    client = redis.Redis.from_url(redis_url)
    # Every queue the app routes to starts empty: other tests on this Redis leave tasks behind.
    queues = {_key(route["queue"]) for route in settings.CELERY_TASK_ROUTES.values()}
    queues.add(_key(settings.CELERY_TASK_DEFAULT_QUEUE))
    client.delete(*queues)

    def queued(task) -> list[dict]:
        """The messages on `task`'s queue, oldest first, taken off it."""
        name = _key(app.amqp.router.route({}, task.name)["queue"].name)
        queues.add(name)
        raw = client.lrange(name, 0, -1)[::-1]  # kombu's Redis transport pushes on the left
        client.delete(name)
        return [_decoded(item) for item in raw]

    assert not app.conf.task_always_eager
    task_messages._forget_producer()
    yield queued
    for name in queues:
        client.delete(name)


def _key(name: str) -> str:
    """The Redis key of a queue or a kombu record: the run's key prefix comes first
    (CELERY_KEY_PREFIX: the suite sets one, tests/xdist_workers.py)."""
    return broker_key_prefix() + name


def _decoded(raw: bytes) -> dict:
    message = json.loads(raw)
    message["body"] = json.loads(base64.b64decode(message["body"]))
    return message


def _apart_from_per_message(message: dict) -> dict:
    kept = {key: value for key, value in message.items() if key not in ("headers", "properties")}
    for part in ("headers", "properties"):
        kept[part] = {k: v for k, v in message[part].items() if (part, k) not in PER_MESSAGE}
    return kept


@pytest.mark.parametrize(
    "task, args, kwargs",
    [
        (recommend_for_incident, (7, "incident_created"), {}),  # expires, time limits, routed
        (send_caller_message, (12,), {}),  # bound, retried, its own queue
        (apply_pending_radio_messages, (), {}),  # no arguments
        (write_resilience_snapshot, (), {}),  # the default queue, its own expiry
    ],
    ids=["recommend", "caller-text", "radio-sweep", "default-queue"],
)
def test_delay_sends_the_message_apply_async_sends(broker, task, args, kwargs):
    task.apply_async(args, kwargs)
    task.delay(*args, **kwargs)
    theirs, ours = broker(task)
    assert _apart_from_per_message(ours) == _apart_from_per_message(theirs)
    assert ours["headers"]["id"] != theirs["headers"]["id"]
    assert ours["headers"]["root_id"] == ours["properties"]["correlation_id"]
    assert ours["headers"]["root_id"] == ours["headers"]["id"]
    if theirs["headers"]["expires"] is None:
        assert ours["headers"]["expires"] is None
    else:  # the same lifetime, from a moment later
        sent = [datetime.fromisoformat(m["headers"]["expires"]) for m in (theirs, ours)]
        assert 0 <= (sent[1] - sent[0]).total_seconds() < 5


def test_delay_checks_the_arguments_as_apply_async_does(broker):
    with pytest.raises(TypeError):
        recommend_for_incident.delay(7, "incident_created", "one too many")
    assert broker(recommend_for_incident) == []


def test_arguments_celery_would_shorten_are_described_by_celery(broker):
    long = "x" * 2000
    recommend_for_incident.apply_async((7, long))
    recommend_for_incident.delay(7, long)
    theirs, ours = broker(recommend_for_incident)
    assert ours["headers"]["argsrepr"] == theirs["headers"]["argsrepr"]
    assert len(ours["headers"]["argsrepr"]) < 1100 and ours["body"][0] == [7, long]


def test_threads_send_on_their_own_producers(broker):
    def send(n: int) -> None:
        for item in range(25):
            recommend_for_incident.delay(n * 100 + item, "incident_created")

    threads = [threading.Thread(target=send, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sent = broker(recommend_for_incident)
    assert sorted(m["body"][0][0] for m in sent) == sorted(
        n * 100 + item for n in range(4) for item in range(25)
    )
    assert len({m["headers"]["id"] for m in sent}) == 100
    assert len({m["properties"]["reply_to"] for m in sent}) == 4  # Celery's per-thread oid


def _send_from_child() -> None:
    for item in range(10):
        recommend_for_incident.delay(1000 + item, "incident_created")


def test_a_forked_child_makes_its_own_producer(broker):
    recommend_for_incident.delay(1, "incident_created")  # the parent's producer exists
    child = multiprocessing.get_context("fork").Process(target=_send_from_child)
    child.start()
    child.join(30)
    assert child.exitcode == 0
    recommend_for_incident.delay(2, "incident_created")  # the parent's still works
    sent = broker(recommend_for_incident)
    assert sorted(m["body"][0][0] for m in sent) == [1, 2] + list(range(1000, 1010))
    # `origin` names the sending process: the child's are its own, not its parent's.
    origins = {m["body"][0][0]: m["headers"]["origin"] for m in sent}
    assert origins[1] == origins[2] and f"gen{child.pid}@" in origins[1000]


def test_a_send_that_fails_raises_and_sends_work_again_once_redis_is_back(
    stoppable_redis, monkeypatch
):
    """The failed send's producer is dropped, so the next one connects afresh and declares the
    queue again on a Redis that lost it (kept, the connection would remember declaring it)."""
    server = stoppable_redis
    monkeypatch.setitem(app.conf, "broker_url", server.url)
    monkeypatch.setitem(app.conf, "broker_write_url", server.url)
    task_messages._forget_producer()
    client = redis.Redis.from_url(server.url)
    name = app.amqp.router.route({}, recommend_for_incident.name)["queue"].name
    queue, binding = _key(name), _key(f"_kombu.binding.{name}")
    try:
        recommend_for_incident.delay(1, "incident_created")
        assert client.llen(queue) == 1
        # Declared on the broker as Celery declares a task's queue: its binding is recorded.
        assert client.smembers(binding)
        server.stop()
        with pytest.raises((OperationalError, redis.ConnectionError, ConnectionError)):
            recommend_for_incident.delay(2, "incident_created")
        server.start()  # the same port, empty
        recommend_for_incident.delay(3, "incident_created")
        assert [_decoded(m)["body"][0][0] for m in client.lrange(queue, 0, -1)] == [3]
        assert client.smembers(binding)  # declared again on the new server
    finally:
        task_messages._forget_producer()
