"""A circuit breaker around Redis for the work a request leaves behind after commit.

After a write commits, the request publishes its events (cad/live/events.py) and queues its
Celery tasks (cad/enqueue.py). Both go to Redis, and while Redis is down each used to wait for
its timeouts: a create took p50 629 ms instead of 23 ms (issue 23). The committed change never
depended on them, so once one send has failed this process stops trying:

- **closed** (Redis answers): sends go straight out. A send that fails (refused, timed out)
  opens the breaker, and the send that failed is kept.
- **open**: sends are not attempted; each is kept, in order, in this process's backlog, and the
  request returns at once. A background thread pings Redis every
  `REDIS_BREAKER_PROBE_SECONDS` with a short timeout: requests never pay for the trial.
- **recovering**: the ping answered twice running. The same thread sends the backlog, oldest
  first, while new sends still join its end, and closes the breaker only when the backlog is
  empty (under the lock new sends take), so nothing sent after recovery overtakes what waited.
  If a send fails again the breaker stays open and probing goes on.

A send that only *timed out* is not proof that Redis is down: a process short of CPU (daphne
fanning out to a hundred boards beside the API, bench/soak.py) misses the 0.3 s deadline with
Redis answering in a millisecond. Such a trip is probed at once, one answer is enough (Redis
did not restart, so its subscribers are still there), and the kept sends get
`REDIS_BREAKER_DRAIN_TIMEOUT_S` each, since no request waits on them. Before this, a busy daphne
tripped again and again, waited a probe interval and two answers each time, and once held its
boards' events for 117 s. A refused or reset connection, or a ping that went unanswered, keeps
the two answers.

What is kept is only a convenience: the durable record is elsewhere. Every event is a row in
the Event table (boards resync from it), and every task that matters has a sweeper behind it
that finds its work in the database (docs/reliability.md). So the backlog is bounded
(`REDIS_BREAKER_BACKLOG`, the oldest dropped first) and dies with the process without loss.

One breaker per process (daphne, a gunicorn worker, a Celery worker): each finds out for
itself, at the cost of one failed send. Why not pybreaker: decision 0017.
"""

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import redis
from django.conf import settings

logger = logging.getLogger(__name__)

Send = Callable[[], object]


def probe_url() -> str:
    """The Redis a failed send was going to: the channel layer's host, else the broker."""
    layers: dict[str, Any] = settings.CHANNEL_LAYERS
    hosts = layers.get("default", {}).get("CONFIG", {}).get("hosts") or []
    if hosts:
        host = hosts[0]
        if isinstance(host, dict):
            return str(host.get("address", ""))
        return str(host)
    return str(getattr(settings, "CELERY_BROKER_URL", "") or settings.REDIS_URL)


def ping(url: str, timeout: float) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


_drain_thread = threading.local()


def send_timeout(seconds: float) -> float:
    """How long a send may wait for Redis: `seconds` from a request, at least
    REDIS_BREAKER_DRAIN_TIMEOUT_S from the breaker's own drain, where nobody waits on it."""
    if getattr(_drain_thread, "active", False):
        return max(seconds, settings.REDIS_BREAKER_DRAIN_TIMEOUT_S)
    return seconds


def timed_out(exc: BaseException) -> bool:
    """Whether a failed send only ran out of time (Redis, or this process, was slow), as against
    a connection refused or reset. Both redis-py's and the builtin TimeoutError."""
    return isinstance(exc, TimeoutError | redis.TimeoutError)


class RedisBreaker:
    """The state, the backlog and the probing thread of one process (see the module)."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self._lock = threading.Lock()
        self._open = False
        # Every failure since the breaker opened was a timeout (see the module).
        self._only_timeouts = True
        self._backlog: deque[Send] = deque()
        self._prober: threading.Thread | None = None
        self.dropped = 0  # sends dropped from a full backlog (their record is durable elsewhere)
        self.opened_at: float | None = None
        self.stopped = False  # set by breaker_reset: an old probing thread ends

    @property
    def enabled(self) -> bool:
        return bool(settings.REDIS_BREAKER and settings.REDIS_URL)

    @property
    def is_open(self) -> bool:
        return self._open

    def send(self, action: Send, *, describe: str) -> bool:
        """Run `action` now unless Redis is known to be down; keep it for later if it is, or
        if it fails now. Never raises. True when it was sent now."""
        if not self.enabled:  # REDIS_BREAKER=0: every send tries Redis and waits, as before
            try:
                action()
            except Exception as exc:  # noqa: BLE001  (the change is committed: log, never raise)
                logger.warning("%s failed (%r); not retried here", describe, exc)
                return False
            return True
        with self._lock:
            if self._open:
                self._keep(action)
                return False
        try:
            action()
        except Exception as exc:  # noqa: BLE001  (any failure to reach Redis: refused, timed out)
            logger.warning(
                "%s failed (%r): Redis taken as down, sends kept until it answers", describe, exc
            )
            with self._lock:
                self._keep(action)
                self._trip(timed_out(exc))
            return False
        return True

    def _keep(self, action: Send) -> None:
        if len(self._backlog) >= settings.REDIS_BREAKER_BACKLOG:
            self._backlog.popleft()
            self.dropped += 1
        self._backlog.append(action)

    def _trip(self, only_timed_out: bool) -> None:
        """Open (under the lock) and start probing, once."""
        if not self._open:
            self._open = True
            self.opened_at = time.monotonic()
            self._only_timeouts = only_timed_out
        else:
            self._only_timeouts = self._only_timeouts and only_timed_out
        if self._prober is None or not self._prober.is_alive():
            self._prober = threading.Thread(target=self._probe, name="redis-breaker", daemon=True)
            self._prober.start()

    def _probe(self) -> None:
        answered = 0
        while not self.stopped:
            # At once, not a probe interval later: after a timeout Redis is usually there.
            if ping(probe_url(), settings.REDIS_BREAKER_PROBE_TIMEOUT_S):
                answered += 1
            else:
                answered = 0
                self._only_timeouts = False  # not a busy moment: Redis itself was away
            # After a refusal, two answers in a row: a Redis that has just started has no
            # subscribers yet (the daphne processes' hubs reconnect within a second), and what
            # is published before they are back reaches nobody. It also keeps a flapping Redis
            # open. After timeouts only, Redis did not restart: one answer is enough.
            needed = 1 if self._only_timeouts else 2
            if answered >= needed and self._drain():
                return
            time.sleep(settings.REDIS_BREAKER_PROBE_SECONDS)

    def _drain(self) -> bool:
        """Send the backlog in order; close when it is empty. False if a send failed again."""
        sent = 0
        while True:
            with self._lock:
                if not self._backlog:
                    outage = time.monotonic() - (self.opened_at or time.monotonic())
                    self._open = False
                    self.opened_at = None
                    logger.warning(
                        "redis answers again after %.1f s; %s kept sends sent, %s dropped",
                        outage, sent, self.dropped,
                    )  # fmt: skip
                    self.dropped = 0
                    return True
                action = self._backlog.popleft()
            _drain_thread.active = True
            try:
                action()
            except Exception as exc:  # noqa: BLE001  (down again: keep it at the front, probe on)
                with self._lock:
                    self._backlog.appendleft(action)
                    self._only_timeouts = self._only_timeouts and timed_out(exc)
                return False
            finally:
                _drain_thread.active = False
            sent += 1

    def pending(self) -> int:
        return len(self._backlog)


_breaker: RedisBreaker | None = None
_breaker_lock = threading.Lock()


def breaker() -> RedisBreaker:
    """This process's breaker. A forked child (a Celery or gunicorn worker) starts its own:
    it inherits the parent's object but not its probing thread."""
    global _breaker
    with _breaker_lock:
        if _breaker is None or _breaker.pid != os.getpid():
            _breaker = RedisBreaker()
        return _breaker


def breaker_reset() -> None:
    """Forget the state and backlog (tests: one test's outage must not reach the next)."""
    global _breaker
    with _breaker_lock:
        if _breaker is not None:
            _breaker.stopped = True
        _breaker = None
