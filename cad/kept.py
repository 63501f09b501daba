"""Reference rows a process keeps instead of reading them on every request.

The recommendation reads some things that change seldom and never in the middle of a call: the
newest trained travel model, a type's response plan, the coverage screen's sample points. Each
is kept per process for a few seconds, so a recommendation makes one round trip (its candidates)
where it made three. A TTL of 0 reads every time (tests and a deployment that wants no delay).
Why a TTL and not a signal alone: an edit made in another process (the admin on gunicorn, a
training on the `default` worker) sends no signal here. Where an edit in this process can be
seen at once, the caller forgets the kept values itself (engine.plan_cache_clear).

Where the key itself names the version (a borough's boundary by its row's `xmin`,
cad/geo/geometry.py), the TTL is infinite and a change is seen at once by the key changing.
"""

import threading
import weakref
from collections.abc import Callable, Hashable
from time import monotonic
from typing import Generic, TypeVar

V = TypeVar("V")

# Every Kept made, so tests can start each with nothing kept: a test's rows are rolled back
# without a signal, and a later test must not be answered from them.
_every: "weakref.WeakSet[Kept]" = weakref.WeakSet()


class Kept(Generic[V]):
    """Values by key, each read through `read` and kept for `ttl()` seconds.

    `ttl` is called on every `get`, so a setting changed by a test or at run time applies at
    once. `most` bounds how many keys are kept: past it the oldest read is dropped first.
    """

    def __init__(self, ttl: Callable[[], float], *, most: int = 256) -> None:
        self.ttl = ttl
        self.most = most
        self._values: dict[Hashable, tuple[float, V]] = {}
        self._lock = threading.Lock()
        _every.add(self)

    def get(self, key: Hashable, read: Callable[[], V]) -> V:
        ttl = self.ttl()
        if ttl > 0 and (kept := self._values.get(key)) is not None:
            read_at, value = kept
            if monotonic() - read_at < ttl:
                return value
        value = read()
        if ttl > 0:
            # Two threads that read at once both store; either's value is as fresh as the
            # other's. The lock is for the trimming, which walks the dict.
            with self._lock:
                self._values.pop(key, None)  # re-inserted last: the dict's order is read order
                self._values[key] = (monotonic(), value)
                while len(self._values) > self.most:
                    del self._values[next(iter(self._values))]
        return value

    def forget(self) -> None:
        with self._lock:
            self._values.clear()


def forget_everything() -> None:
    for kept in list(_every):
        kept.forget()
