"""The Redis breaker (cad/redis_breaker.py): once a send to Redis fails, later sends return at
once and are kept; when Redis answers they go out in order, then sends go straight out again.

Redis itself is replaced by a switch here (`ping` and the sends look at it), so each step is
exact; tests/faults/ runs the same thing against real processes and a real redis-server.
"""

import threading
import time

import pytest
import redis

from cad import enqueue as enqueue_module
from cad import redis_breaker
from cad.live.events import publish_timeout
from cad.redis_breaker import breaker
from resources import tasks


class FakeRedis:
    def __init__(self):
        self.up = True
        self.sent: list[object] = []
        self.attempts = 0

    def send(self, item):
        def action():
            self.attempts += 1
            if not self.up:
                raise ConnectionError("Connection refused")
            self.sent.append(item)

        return action


@pytest.fixture
def redis_switch(settings, monkeypatch):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    settings.REDIS_BREAKER = True
    settings.REDIS_BREAKER_PROBE_SECONDS = 0.02
    settings.REDIS_BREAKER_BACKLOG = 100
    fake = FakeRedis()
    monkeypatch.setattr(redis_breaker, "ping", lambda url, timeout: fake.up)
    return fake


def _until(check, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.01)
    raise AssertionError("timed out")


def test_after_one_failure_sends_are_kept_without_trying_and_go_out_in_order(redis_switch):
    redis_switch.up = False
    assert breaker().send(redis_switch.send(1), describe="one") is False
    assert breaker().is_open and redis_switch.attempts == 1
    for item in range(2, 6):
        assert breaker().send(redis_switch.send(item), describe="more") is False
    assert redis_switch.attempts == 1  # nothing after the first failure tried Redis
    assert breaker().pending() == 5
    time.sleep(0.1)  # several probes while it is still down: nothing moves
    assert redis_switch.sent == [] and breaker().is_open

    redis_switch.up = True
    _until(lambda: not breaker().is_open)
    assert redis_switch.sent == [1, 2, 3, 4, 5]
    assert breaker().send(redis_switch.send(6), describe="after") is True
    assert redis_switch.sent[-1] == 6 and breaker().pending() == 0


def test_sends_made_while_the_backlog_drains_wait_behind_it(redis_switch):
    redis_switch.up = False
    gate = threading.Event()
    breaker().send(redis_switch.send("failed"), describe="first")

    def slow():  # the backlog's first send blocks until the test has sent another
        gate.wait(5)
        redis_switch.sent.append("slow")

    breaker().send(slow, describe="slow")
    redis_switch.up = True
    _until(lambda: redis_switch.sent == ["failed"])
    # Draining has begun; a new send must not overtake the one still waiting.
    assert breaker().send(redis_switch.send("new"), describe="new") is False
    gate.set()
    _until(lambda: not breaker().is_open)
    assert redis_switch.sent == ["failed", "slow", "new"]


def test_a_send_failing_during_the_drain_keeps_its_place(redis_switch):
    redis_switch.up = False
    breaker().send(redis_switch.send("a"), describe="a")
    flaky = {"left": 1}

    def b():
        if flaky["left"]:
            flaky["left"] -= 1
            raise ConnectionError("down again")
        redis_switch.sent.append("b")

    breaker().send(b, describe="b")
    breaker().send(redis_switch.send("c"), describe="c")
    redis_switch.up = True
    _until(lambda: not breaker().is_open)
    assert redis_switch.sent == ["a", "b", "c"]


def test_a_full_backlog_drops_the_oldest(redis_switch, settings):
    settings.REDIS_BREAKER_BACKLOG = 3
    redis_switch.up = False
    for item in range(5):
        breaker().send(redis_switch.send(item), describe="x")
    assert breaker().pending() == 3 and breaker().dropped == 2
    redis_switch.up = True
    _until(lambda: not breaker().is_open)
    assert redis_switch.sent == [2, 3, 4]


def test_with_the_breaker_off_every_send_tries_redis(redis_switch, settings):
    settings.REDIS_BREAKER = False
    redis_switch.up = False
    for item in range(3):
        assert breaker().send(redis_switch.send(item), describe="x") is False
    assert redis_switch.attempts == 3 and not breaker().is_open and breaker().pending() == 0


def test_a_task_whose_enqueue_was_skipped_is_queued_when_redis_returns(
    redis_switch, settings, monkeypatch
):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    queued = []

    def delay(*args):
        if not redis_switch.up:
            raise ConnectionError("Connection refused")
        queued.append(args)

    monkeypatch.setattr(tasks.recommend_for_incident, "delay", delay)
    redis_switch.up = False
    assert enqueue_module.enqueue(tasks.recommend_for_incident, 7, "incident_created") is False
    assert enqueue_module.enqueue(tasks.recommend_for_incident, 8, "incident_created") is False
    assert queued == []
    redis_switch.up = True
    _until(lambda: not breaker().is_open)
    assert queued == [(7, "incident_created"), (8, "incident_created")]


@pytest.mark.parametrize(
    "failure, answers_needed",
    [(TimeoutError(), 1), (redis.TimeoutError("Timeout reading"), 1), (ConnectionError(), 2)],
    ids=["timed-out", "redis-timed-out", "refused"],
)
def test_after_a_timeout_one_answer_sends_the_kept_and_after_a_refusal_two(
    redis_switch, monkeypatch, failure, answers_needed
):
    # A send that timed out may only mean this process was short of CPU (bench/soak.py saw a
    # busy daphne trip this way); a refused one may be a Redis just restarted, with no
    # subscribers yet. Every ping answers here; what differs is how many the drain waits for.
    pings: list[float] = []
    monkeypatch.setattr(redis_breaker, "ping", lambda url, timeout: pings.append(timeout) is None)
    answered_when_sent: list[int] = []

    def send():
        answered_when_sent.append(len(pings))
        if len(answered_when_sent) == 1:
            raise failure

    assert breaker().send(send, describe="x") is False
    _until(lambda: not breaker().is_open)
    assert answered_when_sent == [0, answers_needed]


def test_a_timeout_followed_by_an_unanswered_ping_needs_two_answers(redis_switch, monkeypatch):
    # Redis killed mid-command fails the send by a timeout; the ping that then goes unanswered
    # shows it was away, and a Redis that comes back has no subscribers for a moment.
    answers = iter([False, True, True, True, True])
    pings: list[bool] = []
    monkeypatch.setattr(
        redis_breaker, "ping", lambda url, timeout: pings.append(next(answers)) or pings[-1]
    )
    answered_when_sent: list[int] = []

    def send():
        answered_when_sent.append(len(pings))
        if len(answered_when_sent) == 1:
            raise TimeoutError()

    breaker().send(send, describe="x")
    _until(lambda: not breaker().is_open)
    assert answered_when_sent == [0, 3]  # one unanswered, then two answers


def test_a_timed_out_send_is_probed_at_once_not_a_probe_interval_later(
    redis_switch, settings, monkeypatch
):
    settings.REDIS_BREAKER_PROBE_SECONDS = 30  # far past _until's 5 s: a wait first would fail
    monkeypatch.setattr(redis_breaker, "ping", lambda url, timeout: True)
    tries: list[str] = []

    def late():
        tries.append("try")
        if len(tries) == 1:
            raise TimeoutError()
        redis_switch.sent.append("late")

    breaker().send(late, describe="late")
    _until(lambda: not breaker().is_open)
    assert redis_switch.sent == ["late"]


def test_kept_publishes_wait_the_drain_timeout_and_a_requests_its_own(redis_switch, settings):
    settings.REDIS_PUBLISH_TIMEOUT_S = 0.3
    settings.REDIS_BREAKER_DRAIN_TIMEOUT_S = 1.5
    timeouts: list[float] = []

    def publish():
        timeouts.append(publish_timeout())
        if len(timeouts) == 1:
            raise TimeoutError()

    breaker().send(publish, describe="x")
    _until(lambda: not breaker().is_open)
    assert timeouts == [0.3, 1.5]
    assert publish_timeout() == 0.3  # the drain's patience stays in its own thread
