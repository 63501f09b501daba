"""Celery application. Settings live in cad/settings.py under the CELERY_ prefix."""

import os

from celery import Celery
from celery.signals import task_postrun, task_prerun, worker_process_init, worker_ready
from django.db import close_old_connections

from cad.startup_heap import freeze_startup_heap

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cad.settings")

# Every task's delay() sends through cad.task_messages (decision 0043).
app = Celery("cad", task_cls="cad.task_messages:PreparedSendTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
@task_postrun.connect
def _tidy_connections(sender=None, **kwargs) -> None:
    """Around every task in a worker, close a connection that broke or outlived CONN_MAX_AGE
    and keep the rest, as Django does around every request. Celery's own fixup would close
    them all (CELERY_DB_REUSE_MAX, cad/settings.py says why it is set). A task run in the
    caller's process (eager: `make run`, tests) is skipped: it may be inside the caller's
    transaction."""
    request = getattr(sender, "request", None)
    if request is None or getattr(request, "is_eager", False):
        return
    close_old_connections()


@worker_process_init.connect
@worker_ready.connect
def _freeze_heap(**kwargs) -> None:
    """Once a worker is ready: in each prefork child, and in the main process, which runs the
    tasks itself with the solo pool (cad/startup_heap.py)."""
    freeze_startup_heap()
