"""Celery task messages sent as `apply_async` sends them, without working the same things out
again for every message (decision 0043).

Every Beacon task is a `PreparedSendTask` (the app's `task_cls`, cad/celery.py): its `delay()`,
which is how `cad.enqueue` and the sweepers queue work, sends through `send` below. Celery's
own `delay()` routes the task and merges its options again for every message, acquires a
producer from the pool, reads the configuration a dozen times, and kombu makes a new redis
client for the publish: 1,743 Python calls a message, a sixth of the web process's time in an
incident create (docs/benchmarks.md, stop 44). Here the route and options of each task are
worked out once, each thread keeps one producer with one redis client, and the message is
built and sent by Celery's own `create_task_message` and
`send_task_message`, so its headers, the `before_task_publish`/`after_task_publish` signals
(the request id, beat's heartbeat), the queue and the retry policy are Celery's. Tests compare
each message with the one `apply_async` puts on the queue (tests/test_task_messages.py).

Routes are by task name (CELERY_TASK_ROUTES): a router that looked at a call's arguments would
be asked once per task only. A send given options of its own is routed afresh.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from typing import Any

from celery import Task
from celery.result import AsyncResult
from celery.utils import uuid
from celery.utils.nodenames import anon_nodename
from kombu import Producer, Queue
from kombu.common import Broadcast

logger = logging.getLogger(__name__)

# Arguments whose `repr` is Celery's `saferepr` (short, flat, of these types): given as the
# message's argsrepr, so Celery does not walk them in Python. Anything else, Celery's own.
_PLAIN = (int, str, float, bool, type(None))
_REPR_MAX = 256


@dataclass(frozen=True)
class _Prepared:
    """What `apply_async` and `send_task` work out from a task alone."""

    route: dict[str, Any]  # queue, exchange, routing key, expiration: send_task_message's options
    expires: float | None
    time_limit: float | None
    soft_time_limit: float | None
    ignore_result: bool


_prepared: dict[str, _Prepared] = {}


def _prepare(task: Task, given: dict[str, Any]) -> _Prepared:
    """As `Task.apply_async` then `Celery.send_task` merge and route a call's options."""
    # Celery's own (not in its type stubs), as apply_async reads it.
    exec_options = task._get_exec_options()  # type: ignore[attr-defined]
    options = {k: v for k, v in exec_options.items() if v is not None}
    options.update(given)
    options.setdefault("ignore_result", task.ignore_result)
    time_limit = options.pop("time_limit", None)
    soft_time_limit = options.pop("soft_time_limit", None)
    expires = options.pop("expires", None)
    ignore_result = options.pop("ignore_result")
    route = task.app.amqp.router.route(options, task.name, (), {}, task)  # type: ignore[arg-type]
    if expires is not None:
        route["expiration"] = expires  # relative seconds, as send_task gives a number
    return _Prepared(route, expires, time_limit, soft_time_limit, ignore_result)


def _prepared_for(task: Task) -> _Prepared:
    prepared = _prepared.get(task.name)
    if prepared is None:
        prepared = _prepared[task.name] = _prepare(task, {})
    return prepared


class _ThreadProducer(threading.local):
    """Each thread's producer, made in this process (a forked child makes its own)."""

    def __init__(self) -> None:  # run once in each thread that reads it
        self.pid = 0
        self.producer: Producer | None = None
        self.origin = ""
        # Each task's queue bound to this producer's channel, declared through it as Celery's
        # [queue] would be: kombu binds an unbound one afresh on every publish (160 calls).
        self.declare: dict[str, list | None] = {}


_local = _ThreadProducer()


def _producer(task: Task) -> Producer:
    if _local.producer is None or _local.pid != os.getpid():
        app = task.app
        producer = app.amqp.Producer(app.connection_for_write())
        _one_client_per_channel(producer.channel)
        _local.producer = producer
        _local.pid = os.getpid()
        _local.origin = anon_nodename()
        _local.declare = {}
    return _local.producer


def _declare(task: Task, route: dict[str, Any], producer: Producer) -> list | None:
    """What `send_task_message` declares for `route` ([queue]), bound to `producer`'s channel."""
    kept = _local.declare
    if task.name not in kept:
        queue = route.get("queue")
        channel = producer.channel
        if isinstance(queue, Queue) and not isinstance(queue, Broadcast) and channel is not None:
            kept[task.name] = [queue.bind(channel)]
        else:  # a broadcast, or none: Celery's own choice
            kept[task.name] = None
    return kept[task.name]


def _one_client_per_channel(channel: Any) -> None:
    """kombu's Redis channel makes a new redis client for every publish with its `Client`
    factory, and redis-py's client builds its table of some 170 reply handlers each time: 510
    of a send's 1,290 Python calls. This channel is one thread's alone and a client is only a
    handle on the channel's connection pool, so one client per pool serves every publish (kombu's
    other arguments are read off the pool). (Any other transport, `memory://` in tests, has no
    `Client` and is left alone.)"""
    make = getattr(channel, "Client", None)
    if make is None:
        return
    made: dict[int, Any] = {}

    def client(**kwargs: Any) -> Any:
        key = id(kwargs["connection_pool"])
        if key not in made:
            made[key] = make(**kwargs)
        return made[key]

    channel.Client = client


def _forget_producer() -> None:
    """Drop this thread's producer after a failed send: the next send connects afresh."""
    producer, _local.producer = _local.producer, None
    if producer is not None and producer.connection is not None:
        try:
            producer.connection.release()
        except Exception as exc:  # noqa: BLE001  (a connection already broken; nothing to keep)
            logger.debug("closing the broker connection of a failed send: %r", exc)


def _plain_repr(values: tuple | dict) -> str | None:
    items = values.values() if isinstance(values, dict) else values
    if not all(type(item) in _PLAIN for item in items):
        return None
    text = repr(values)
    return text if len(text) <= _REPR_MAX else None


def send(task: Task, args: tuple, kwargs: dict[str, Any], **options: Any) -> str:
    """Queue `task(*args, **kwargs)` as `task.apply_async(args, kwargs, **options)` would;
    returns the task id. Raises what reaching the broker raises (the caller's breaker keeps it)."""
    if task.typing:  # the argument check apply_async makes
        task.__header__(*args, **kwargs)  # type: ignore[attr-defined]
    prepared = _prepare(task, options) if options else _prepared_for(task)
    app = task.app
    producer = _producer(task)
    declare = None if options else _declare(task, prepared.route, producer)
    task_id = uuid()
    root_id = parent_id = None
    parent = app.current_worker_task  # a task queueing another: Celery's trail of ids
    if parent is not None:
        root_id = parent.request.root_id or parent.request.id
        parent_id = parent.request.id
    message = app.amqp.create_task_message(
        task_id, task.name, args, kwargs,
        expires=prepared.expires,
        reply_to=app.thread_oid,
        time_limit=prepared.time_limit,
        soft_time_limit=prepared.soft_time_limit,
        create_sent_event=app.conf.task_send_sent_event,
        root_id=root_id,
        parent_id=parent_id,
        origin=_local.origin,
        ignore_result=prepared.ignore_result,
        argsrepr=_plain_repr(args),
        kwargsrepr=_plain_repr(kwargs),
    )  # fmt: skip
    try:
        # As send_task: a transport's own error reaches the caller as kombu's.
        with producer.connection._reraise_as_library_errors():  # type: ignore[union-attr]
            if not prepared.ignore_result:
                app.backend.on_task_call(producer, task_id)
            app.amqp.send_task_message(
                producer, task.name, message, declare=declare, **prepared.route
            )
    except BaseException:
        _forget_producer()
        raise
    return task_id


class PreparedSendTask(Task):
    """The app's task class: `delay()` is `apply_async` without options (as Celery documents
    it), sent by `send`; eager apps (no broker: `make run`, SQLite tests) run it as before."""

    def delay(self, *args: Any, **kwargs: Any) -> AsyncResult:
        if self.app.conf.task_always_eager:
            return super().delay(*args, **kwargs)
        return self.AsyncResult(send(self, args, kwargs))
