"""Freezing what a long-running process built at start-up, so full garbage collections stop
stalling its requests.

CPython's cyclic collector walks every object it tracks in the oldest generation on each full
collection, and one of Beacon's server processes holds about 180,000 of them once Django, DRF,
Channels and the URLconf's views are imported: modules, classes, functions and settings that live
as long as the process. On the 2-core CI machine one walk took 160 to 180 ms, every few seconds
under load, and whichever request was running waited for it. That was the Redis fault test's
pair of 200 ms creates in an outage of 40 ms ones (issue 23): one in daphne, and one in the test
process itself (`tests/faults/stack.py` freezes its own heap for the same reason).

`gc.freeze()` moves everything alive into a permanent generation that collections skip, so a
full collection only walks what was made since; garbage in cycles among the frozen objects is
never collected, which is why it runs once, after start-up, and after a collection. A forked
child (a Celery prefork or gunicorn worker) inherits the frozen generation and keeps its pages
shared with the parent, since the collector no longer writes to those objects' headers.

`GC_FREEZE_AT_STARTUP=0` leaves the collector as CPython sets it, for measuring
(docs/benchmarks.md, "Full garbage collections").
"""

import gc
import logging

from django.conf import settings
from django.urls import get_resolver

logger = logging.getLogger(__name__)


def freeze_startup_heap() -> int:
    """Import the views, collect, and freeze what is left. Returns how many objects were
    frozen (0 when turned off)."""
    if not settings.GC_FREEZE_AT_STARTUP:
        return 0
    # The URLconf imports every view, serializer and form on its first request otherwise, and
    # those would stay in the walked generations for the life of the process.
    get_resolver().url_patterns  # noqa: B018  (the attribute's lookup is what imports them)
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    logger.info("start-up heap frozen: %s objects outside full collections", frozen)
    return frozen
