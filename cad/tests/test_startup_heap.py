"""Server processes freeze their start-up heap (cad/startup_heap.py), so a full garbage
collection walks only what was made since and no longer stalls a request (about 170 ms a walk
on CI's machine: the Redis fault test's two slow creates).

The entry points are checked in fresh interpreters and a real Celery worker, since what matters
is what each server process does when it starts; bench/gc_pause.py measures the effect.
"""

import gc
import os
import subprocess
import sys
import time

import pytest

import cad.asgi  # noqa: F401  (imported as other test files import it, to check what it does here)
import cad.wsgi  # noqa: F401
from cad.startup_heap import freeze_startup_heap
from tests.servers import ROOT, venv_bin

# A server's start-up heap is well over 100,000 objects (bench/gc_pause.py prints it); a freeze
# that missed the framework would hold a few thousand at most.
FRAMEWORK_SIZE = 50_000


@pytest.fixture
def thawed():
    """Leave this test process's collector unfrozen, as pytest runs it."""
    yield
    gc.unfreeze()


def test_the_suite_imports_the_entry_points_without_freezing_its_own_heap():
    """Only servers freeze: pytest's processes import cad.asgi and cad.wsgi to call the app
    in-process (conftest.py turns the freeze off for them)."""
    assert gc.get_freeze_count() == 0


def test_freezing_moves_the_heap_out_of_full_collections(settings, thawed):
    settings.GC_FREEZE_AT_STARTUP = True
    frozen = freeze_startup_heap()
    # What it reports is what it froze. A frozen object that dies afterwards (freed by another
    # thread an earlier test left running, say) leaves the frozen generation, so the count can
    # only have fallen since, and by a handful: the whole suite once saw 463,900 then 463,899.
    assert 0 <= frozen - gc.get_freeze_count() < 1000
    assert gc.get_freeze_count() > FRAMEWORK_SIZE
    # Only what is made from now on is walked.
    assert len(gc.get_objects()) < frozen / 10


def test_freezing_can_be_turned_off(settings, thawed):
    settings.GC_FREEZE_AT_STARTUP = False
    before = gc.get_freeze_count()
    assert freeze_startup_heap() == 0
    assert gc.get_freeze_count() == before


def _frozen_after_import(module: str, **env: str) -> int:
    probe = f"import gc, {module}; print(gc.get_freeze_count())"
    done = subprocess.run(  # noqa: S603  (our own interpreter)
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "cad.settings", **env},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return int(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("entry_point", ["cad.asgi", "cad.wsgi"])
def test_daphne_and_gunicorn_freeze_once_the_app_is_built(entry_point):
    assert _frozen_after_import(entry_point) > FRAMEWORK_SIZE
    assert _frozen_after_import(entry_point, GC_FREEZE_AT_STARTUP="0") == 0


def test_a_celery_worker_freezes_once_it_is_ready(tmp_path):
    log = tmp_path / "worker.log"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "cad.settings", "REDIS_URL": ""}
    # REDIS_URL empty: the in-memory broker, so the worker starts with nothing else running.
    with open(log, "wb") as out:
        worker = subprocess.Popen(  # noqa: S603  (our own command line)
            [venv_bin("celery"), "-A", "cad", "worker", "-P", "solo", "-l", "info",
             "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 90  # a bound on a real process starting, not a timing
        while "start-up heap frozen" not in log.read_text() and time.monotonic() < deadline:
            assert worker.poll() is None, log.read_text()[-3000:]
            time.sleep(0.2)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    line = next(
        (line for line in log.read_text().splitlines() if "start-up heap frozen" in line), ""
    )
    assert line, log.read_text()[-3000:]
    frozen = int(line.split("frozen: ")[1].split()[0])
    assert frozen > FRAMEWORK_SIZE
