"""The throw-away databases the benchmarks work in: made on the configured server, dropped after.

A bench never writes to the configured database, nor to `test_<name>`, which pytest-django
gives its own test database: a bench run beside the suite on the same server would drop it.
Each works in `<prefix>_<configured name>` on PostgreSQL, or a SQLite file
`<prefix>_<pid>.sqlite3` on the embedded default.

Two ways in:

- `throwaway_database(prefix)`, once Django is set up: Django's test-database machinery makes
  it (replacing one a killed run left) and points the default connection at it for the block;
  `database_url()` is then its address for the servers and workers a bench starts.
- `recreate_on_server` / `drop_on_server` / `url_on_server`, from a server's address alone,
  for a bench that starts servers but never sets Django up in its own process.

Inside `throwaway_database` the tasks the bench queues (a create queues its recommendation) go
to Redis keys of the run's own (`CELERY_KEY_PREFIX`, which the servers and workers it starts
inherit), removed after with the database: no worker of the bench's takes most of them, and on
the shared queues they piled up (75,690 in one day's runs) for the next worker on that Redis to
run against incidents of another database.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from urllib.parse import urlsplit

import psycopg2
from django.conf import settings
from django.db import connection
from psycopg2 import sql

from cad import task_messages
from cad.celery import app as celery_app
from tests.redis_keys import delete_keys
from tests.servers import subprocess_database_url


@contextlib.contextmanager
def throwaway_database(prefix: str) -> Iterator[str]:
    """`<prefix>_<configured name>` made, migrated and used by the default connection for the
    block; dropped after, even if the bench failed. Yields its name."""
    db = settings.DATABASES["default"]
    sqlite = db["ENGINE"].endswith("sqlite3")
    db.setdefault("TEST", {})["NAME"] = (
        f"{prefix}_{os.getpid()}.sqlite3" if sqlite else f"{prefix}_{db['NAME']}"
    )
    configured = db["NAME"]
    name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        with own_task_queues(f"{name}-{os.getpid()}:"):
            yield name
    finally:
        _drop(configured)


@contextlib.contextmanager
def own_task_queues(key_prefix: str) -> Iterator[None]:
    """Tasks queued in the block, here or by the processes started in it, go to Redis keys
    beginning `key_prefix` (after any CELERY_KEY_PREFIX already gives), deleted after the block.
    Nothing changes on a broker other than Redis (the embedded default runs tasks in-process)."""
    if not settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
        yield
        return
    inherited = os.environ.get("CELERY_KEY_PREFIX")
    options = celery_app.conf.broker_transport_options
    # The settings' keys begin with CELERY_KEY_PREFIX, their own (training's) follow: so do
    # those of a process started in the block, under the longer variable.
    head = inherited or ""
    tail = str(options.get("global_keyprefix", "")).removeprefix(head)
    os.environ["CELERY_KEY_PREFIX"] = head + key_prefix
    prefix = head + key_prefix + tail
    celery_app.conf.broker_transport_options = {**options, "global_keyprefix": prefix}
    task_messages._forget_producer()  # a producer made before connects with the old keys
    try:
        yield
    finally:
        task_messages._forget_producer()
        celery_app.conf.broker_transport_options = options
        if inherited is None:
            os.environ.pop("CELERY_KEY_PREFIX", None)
        else:
            os.environ["CELERY_KEY_PREFIX"] = inherited
        delete_keys(settings.CELERY_BROKER_URL, prefix)


def _drop(configured: str) -> None:
    """Drop the throw-away database and point the connection back at `configured`. The
    servers and workers a bench started may still hold sessions on it (PostgreSQL refuses to
    drop a database in use), so those are ended first."""
    if connection.vendor == "postgresql":
        name = connection.settings_dict["NAME"]
        connection.close()
        with _server_cursor(url_on_server(database_url(), configured)) as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                [name],
            )
    connection.creation.destroy_test_db(configured, verbosity=0)


def database_url() -> str:
    """The address of the database the default connection uses now (PostgreSQL), for a
    process the bench starts: the one tests give the servers they start."""
    return subprocess_database_url()


def url_on_server(server_url: str, name: str) -> str:
    """`server_url` (a postgres:// address) with its database replaced by `name`."""
    return urlsplit(server_url)._replace(path=f"/{name}", query="", fragment="").geturl()


def recreate_on_server(server_url: str, name: str) -> str:
    """An empty database `name` on `server_url`'s server (one a killed run left is dropped
    first, its sessions ended); returns its address."""
    drop_on_server(server_url, name)
    with _server_cursor(server_url) as cursor:
        cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return url_on_server(server_url, name)


def drop_on_server(server_url: str, name: str) -> None:
    with _server_cursor(server_url) as cursor:
        cursor.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def create_if_missing_on_server(server_url: str, name: str) -> None:
    with _server_cursor(server_url) as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if cursor.fetchone() is None:
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


@contextlib.contextmanager
def _server_cursor(server_url: str) -> Iterator[psycopg2.extensions.cursor]:
    """An autocommit cursor on `server_url`'s own database: CREATE and DROP DATABASE cannot
    run inside a transaction, nor in the database they name."""
    conn = psycopg2.connect(server_url)
    try:
        conn.autocommit = True
        with conn.cursor() as cursor:
            yield cursor
    finally:
        conn.close()
