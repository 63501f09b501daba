"""Redis keys under a prefix, removed: what a run queued under keys of its own leaves behind.

The benches' throw-away runs (bench/throwaway_database.py) and the test suite
(tests/xdist_workers.py) queue their Celery tasks under a `CELERY_KEY_PREFIX` of their own, and
most of those tasks no worker of theirs ever takes; on the shared queues they would wait for the
next worker on that Redis, which would run them against another database's rows with the same
ids.
"""

import redis


def glob_escaped(text: str) -> str:
    """`text` as a literal in a Redis glob pattern (a backslash before each special character)."""
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)


def delete_keys(url: str, prefix: str) -> int:
    """Every key of the Redis at `url` that begins with `prefix`, removed; how many there were."""
    if not prefix:
        raise ValueError("an empty prefix would remove every key")
    client = redis.Redis.from_url(url)
    removed = 0
    try:
        for key in client.scan_iter(match=glob_escaped(prefix) + "*", count=1000):
            removed += client.unlink(key)
    finally:
        client.close()
    return removed
