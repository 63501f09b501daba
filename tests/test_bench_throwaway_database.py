"""bench/throwaway_database.py: the databases the benchmarks work in are made beside the
configured one and dropped after, even while a server the bench started still holds a session.
"""

import importlib
import json
import os
import subprocess
import sys

import psycopg2
import pytest

from tests.servers import ROOT, subprocess_database_url


@pytest.fixture
def helpers(monkeypatch):
    # Only for this import: bench/ holds modules (stats, replay) that would shadow others.
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    return importlib.import_module("throwaway_database")


def databases(server_url: str) -> set[str]:
    conn = psycopg2.connect(server_url)
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT datname FROM pg_database")
            return {row[0] for row in cursor.fetchall()}
    finally:
        conn.close()


def test_an_address_on_the_same_server_keeps_everything_but_the_database(helpers):
    url = "postgres://beacon:p%40ss@db.example:5433/beacon_live?sslmode=require"
    assert helpers.url_on_server(url, "bench_x_beacon_live") == (
        "postgres://beacon:p%40ss@db.example:5433/bench_x_beacon_live"
    )


def test_a_leftover_database_is_replaced_and_dropped_though_in_use(helpers, postgres):
    server = subprocess_database_url()
    name = f"bench_check_{os.getpid()}"
    url = helpers.recreate_on_server(server, name)
    left = psycopg2.connect(url)  # a killed run's leftover, with a table in it
    left.autocommit = True
    with left.cursor() as cursor:
        cursor.execute("CREATE TABLE leftover (id int)")
    try:
        url = helpers.recreate_on_server(server, name)  # the server still holds `left`
        with psycopg2.connect(url) as fresh, fresh.cursor() as cursor:
            cursor.execute("SELECT to_regclass('leftover')")
            assert cursor.fetchone() == (None,)
        fresh.close()
        held = psycopg2.connect(url)  # as a daphne the bench started would
        helpers.drop_on_server(server, name)
        held.close()
        assert name not in databases(server)
    finally:
        left.close()
        helpers.drop_on_server(server, name)


# Run in a fresh interpreter: the helper points Django's default connection elsewhere, which
# this test process's own database must not see.
INSIDE = """
import json, os, sys
import django
sys.path[:0] = [{root!r}, {bench!r}]
os.environ["DJANGO_SETTINGS_MODULE"] = "cad.settings"
django.setup()
import psycopg2
from django.db import connection
from throwaway_database import database_url, throwaway_database
with throwaway_database("bench_check") as name:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_database(), to_regclass('incidents_incident') IS NOT NULL")
        current, migrated = cursor.fetchone()
    held = psycopg2.connect(database_url())  # a server the bench started, not yet gone
print(json.dumps({{"name": name, "current": current, "migrated": migrated,
                  "after": connection.settings_dict["NAME"]}}))
"""


def run_script(template: str, **env: str) -> dict:
    """What `template` (with bench/ on its path) printed last, as JSON, run in a fresh
    interpreter with `env` added to this one's environment."""
    script = template.format(root=str(ROOT), bench=str(ROOT / "bench"))
    done = subprocess.run(  # noqa: S603  (our own interpreter and script)
        [sys.executable, "-c", script], cwd=ROOT, env={**os.environ, **env},
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_bench_works_in_its_own_migrated_database_dropped_after(postgres):
    server = subprocess_database_url()
    configured = server.rsplit("/", 1)[1]
    seen = run_script(INSIDE, DATABASE_URL=server)
    assert seen["name"] == f"bench_check_{configured}"
    assert seen["current"] == seen["name"], "the default connection was not pointed at it"
    assert seen["migrated"] is True
    assert seen["after"] == configured
    assert seen["name"] not in databases(server)


QUEUED = """
import json, os, sys
import django
sys.path[:0] = [{root!r}, {bench!r}]
os.environ["DJANGO_SETTINGS_MODULE"] = "cad.settings"
django.setup()
import redis
from django.conf import settings
from resources.tasks import recommend_for_incident
from throwaway_database import throwaway_database
broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
shared_before = broker.llen("recommend")
with throwaway_database("bench_queues"):
    prefix = os.environ["CELERY_KEY_PREFIX"]
    recommend_for_incident.delay(424242)
    inside = broker.llen(prefix + "recommend")
print(json.dumps({{"prefix": prefix, "inside": inside,
                  "shared_added": broker.llen("recommend") - shared_before,
                  "left": [k.decode() for k in broker.scan_iter(match=prefix + "*")],
                  "env_after": os.environ.get("CELERY_KEY_PREFIX")}}))
"""


def test_a_bench_queues_its_tasks_under_keys_of_its_own_removed_after(postgres, redis_url):
    # An empty prefix to start from: the run's own environment might give one.
    seen = run_script(
        QUEUED, DATABASE_URL=subprocess_database_url(), REDIS_URL=redis_url, CELERY_KEY_PREFIX=""
    )
    assert seen["prefix"].startswith("bench_queues_")
    assert seen["inside"] == 1, "the task was not queued under the run's own keys"
    assert seen["shared_added"] == 0, "the task reached the shared queue"
    assert seen["left"] == []
    assert seen["env_after"] == "", "the environment's prefix was not put back"
