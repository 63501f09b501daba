"""`make test`'s workers (tests/xdist_workers.py): apart from each other, costliest file first."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest
import redis

from tests.redis_keys import glob_escaped
from tests.xdist_workers import costliest_first, runs_tests, weight, worker_env

ROOT = Path(__file__).resolve().parent.parent

# Written into a scratch directory and run by two workers: each records what Django's settings
# say, once the worker has started (pytest-django has configured Django by then).
PROBE = textwrap.dedent(
    """
    import json, os
    from pathlib import Path
    from django.conf import settings

    def test_record_settings():
        # Without Redis the settings hold no prefix; subprocess servers read the environment.
        layer = settings.CHANNEL_LAYERS["default"].get("CONFIG", {})
        cache = settings.CACHES["default"]
        record = {
            "database": settings.DATABASES["default"]["NAME"],
            "redis": settings.REDIS_URL,
            "layer_prefix": layer.get("prefix", os.environ.get("CHANNEL_LAYER_PREFIX")),
            "cache_prefix": cache.get("KEY_PREFIX", os.environ.get("CACHE_KEY_PREFIX")),
        }
        out = Path(__file__).parent / (os.environ["PYTEST_XDIST_WORKER"] + ".json")
        out.write_text(json.dumps(record))
    """
)


def run_two_workers(directory: Path, test_source: str, **env: str) -> None:
    """Two test files of `test_source` in `directory`, run by `make test`'s two workers (one file
    each: loadfile) in a pytest of their own; it must pass."""
    for name in ("test_probe_a.py", "test_probe_b.py"):
        (directory / name).write_text(test_source)
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "cad.settings", **env}
    environment.pop("PYTEST_XDIST_WORKER", None)  # this suite may itself be running in a worker
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(ROOT / "pyproject.toml"), "--rootdir",
         str(ROOT), "-p", "tests.xdist_workers", "-n", "2", "--dist", "loadfile",
         "-p", "no:cacheprovider", "-q", str(directory)],
        cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr


def test_two_workers_see_their_own_database_redis_and_prefixes(tmp_path):
    run_two_workers(tmp_path, PROBE)
    first = json.loads((tmp_path / "gw0.json").read_text())
    second = json.loads((tmp_path / "gw1.json").read_text())

    assert first["layer_prefix"] != second["layer_prefix"]
    assert first["cache_prefix"] != second["cache_prefix"]
    if os.environ.get("REDIS_URL"):
        assert first["redis"] != second["redis"]
    if os.environ.get("DATABASE_URL"):
        assert second["database"] == f"{first['database']}_s1"


# Queues a task as a create does, and records where it went while the run was still going.
QUEUER = textwrap.dedent(
    """
    import json, os
    from pathlib import Path
    import redis
    from django.conf import settings
    from resources.tasks import recommend_for_incident

    def test_queue_a_task():
        prefix = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix", "")
        recommend_for_incident.delay(424242, "incident_created")
        queued = redis.Redis.from_url(settings.CELERY_BROKER_URL).llen(prefix + "recommend")
        record = {"broker": settings.CELERY_BROKER_URL, "prefix": prefix, "queued": queued,
                  "env": os.environ.get("CELERY_KEY_PREFIX")}
        name = f"{os.environ.get('PYTEST_XDIST_WORKER', 'alone')}-{Path(__file__).stem}.json"
        (Path(__file__).parent / name).write_text(json.dumps(record))
    """
)


def test_each_worker_queues_under_keys_of_its_own_removed_when_it_ends(tmp_path, redis_url):
    run_two_workers(tmp_path, QUEUER, CELERY_KEY_PREFIX="outer:")
    records = [json.loads(path.read_text()) for path in sorted(tmp_path.glob("*.json"))]
    assert len(records) == 2
    by_process = {(r["broker"], r["prefix"]) for r in records}
    assert len(by_process) == 2  # a prefix of each worker's own, on its own Redis database
    for record in records:
        # After the environment's own prefix, which servers and workers it starts inherit.
        assert record["prefix"].startswith("outer:test-") and record["env"] == record["prefix"]
        assert record["queued"] >= 1, "the task was not queued under the process's keys"
    for broker, prefix in by_process:
        client = redis.Redis.from_url(broker)
        try:
            assert list(client.scan_iter(match=glob_escaped(prefix) + "*")) == []
        finally:
            client.close()


def test_the_processes_that_run_tests_are_the_workers_or_a_run_without_them(monkeypatch):
    def config(numprocesses):
        return SimpleNamespace(known_args_namespace=SimpleNamespace(numprocesses=numprocesses))

    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    assert runs_tests(config(None)) and runs_tests(config(0))  # no -n, or -n 0: this process
    assert not runs_tests(config(2)) and not runs_tests(config("auto"))  # -n's controller
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    assert runs_tests(config(2))


def test_the_first_worker_keeps_the_environment_and_the_others_are_numbered_apart():
    env = {
        "DATABASE_URL": "postgres://u:p@db:5432/beacon",
        "REDIS_URL": "redis://cache:6379/3",
        "CHANNEL_LAYER_PREFIX": "lead",
    }
    assert worker_env(env, 0) == {}
    assert worker_env(env, 2) == {
        "DATABASE_URL": "postgres://u:p@db:5432/beacon_s2",
        "REDIS_URL": "redis://cache:6379/5",
        "CHANNEL_LAYER_PREFIX": "lead-s2",
        "CACHE_KEY_PREFIX": "beacon-s2",
    }
    # The SQLite default: no server URLs to change, only the prefixes.
    assert set(worker_env({}, 1)) == {"CHANNEL_LAYER_PREFIX", "CACHE_KEY_PREFIX"}


def test_files_are_queued_costliest_first_and_never_split():
    def item(relative: str, n: int):
        return SimpleNamespace(path=ROOT / relative, name=f"{relative}#{n}")

    light, fuzz, browser = (
        "tests/test_fixtures.py", "tests/test_api_fuzz.py", "tests/test_browser_board.py"
    )  # fmt: skip
    items = [item(light, 0), item(fuzz, 0), item(light, 1), item(browser, 0), item(fuzz, 1)]

    ordered = [i.name for i in costliest_first(items)]

    assert ordered == [f"{fuzz}#0", f"{fuzz}#1", f"{browser}#0", f"{light}#0", f"{light}#1"]
    assert weight(fuzz, "") > weight(browser, "") > weight(light, "def test_a(): pass\n")


def test_workers_without_the_plugin_stop_before_running_anything():
    # Two workers sharing one database and one prefix fail each other's tests as if they were
    # bugs; a run that forgot `-p tests.xdist_workers` must say so instead. (A file of the
    # repository's, so that the root conftest.py is the one loaded.)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "cad.settings"}
    env.pop("PYTEST_XDIST_WORKER", None)
    probe = (
        "tests/test_xdist_workers.py::test_the_first_worker_keeps_the_environment_and_the_"
        "others_are_numbered_apart"
    )
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "-p", "no:cacheprovider", "-q", probe],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == pytest.ExitCode.USAGE_ERROR, run.stdout + run.stderr
    assert "-p tests.xdist_workers" in run.stderr
    assert "passed" not in run.stdout
