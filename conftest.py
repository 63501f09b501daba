"""Shared test fixtures: real services when configured, a small cast of users, small factories.

A test that needs PostgreSQL, Redis or Chromium skips (with the reason) only outside CI; in CI
(CI=true) a missing service fails the test instead, so nothing is silently skipped there.
"""

import os
import shutil
import uuid

import pytest
from django.conf import settings

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"


def _missing(reason: str):
    if IN_CI:
        pytest.fail(f"CI must provide this: {reason}")
    pytest.skip(reason)


@pytest.fixture
def postgres(db):
    """Use in tests that need PostgreSQL (row locks, triggers, real concurrency)."""
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        _missing("needs PostgreSQL: set DATABASE_URL")


@pytest.fixture
def redis_url():
    """The Redis URL for tests that need a real channel layer or broker."""
    if not settings.REDIS_URL:
        _missing("needs Redis: set REDIS_URL")
    return settings.REDIS_URL


@pytest.fixture
def chromium_path():
    if not os.path.exists(CHROMIUM):
        _missing("needs Debian's chromium package (apt-get install chromium)")
    return CHROMIUM


@pytest.fixture
async def close_worker_connections():
    """For consumer tests: close the worker thread's database connection at the end, so the
    test database can be dropped."""
    yield
    from channels.db import database_sync_to_async
    from django.db import connections

    await database_sync_to_async(connections.close_all)()


@pytest.fixture
def fresh_layer():
    """For consumer tests: one channel layer per test, so no group membership leaks."""
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture
def make_user(db):
    """make_user("despatcher", bcu="CN") → a user with that role and scope."""
    from cad.accounts.services import user_provision

    counter = {"n": 0}

    def factory(role: str, *, bcu: str | None = None, username: str | None = None, **kwargs):
        counter["n"] += 1
        name = username or f"{role}{counter['n']}"
        user, _ = user_provision(
            username=name, role=role, bcu_code=bcu, password="a-Strong-pass-42", source="test"
        )
        return user

    return factory


@pytest.fixture
def geography(db):
    """Two BCUs with a square borough each and a station: CN (north) and AS (south)."""
    from tests.factories import make_geography

    return make_geography()


@pytest.fixture(autouse=True)
def _rows_from_data_migrations(request):
    """Put back what data migrations create (role groups, radio status codes, event counter).

    Transactional tests end by flushing every table, which also removes rows that migrations
    made; later tests would then run in a world no deployment ever has.
    """
    marker = request.node.get_closest_marker("django_db")
    wants_db = marker is not None or {"db", "transactional_db"} & set(request.fixturenames)
    if not wants_db:
        return
    transactional = "transactional_db" in request.fixturenames or (
        marker is not None and marker.kwargs.get("transaction")
    )
    request.getfixturevalue("transactional_db" if transactional else "db")
    from django.contrib.auth.models import Group

    from cad.accounts.roles import ROLES, apply_role_permissions
    from cad.models import EventCounter
    from radio.models import NATIONAL_STATUS_CODES, StatusCodeMapping

    if Group.objects.filter(name__in=ROLES).count() < len(ROLES):
        apply_role_permissions()
    if not StatusCodeMapping.objects.exists():
        StatusCodeMapping.objects.bulk_create(
            StatusCodeMapping(code=c, description=d, status=s, deployable=dep, emergency=e)
            for c, d, s, dep, e in NATIONAL_STATUS_CODES
        )
    EventCounter.objects.get_or_create(id=1)


@pytest.fixture(autouse=True)
def _cache_of_its_own(settings):
    """Each test counts throttled requests from zero: its own cache key prefix, since the Redis
    cache is shared with other runs and clearing it would flush the broker's queues too."""

    settings.CACHES = {
        alias: {**config, "KEY_PREFIX": f"test-{uuid.uuid4().hex}"}
        for alias, config in settings.CACHES.items()
    }


@pytest.fixture(autouse=True)
def _forced_logins_pass_the_second_factor(monkeypatch):
    """`client.force_login(user)` stands for a finished sign-in, second factor included.

    Supervisors and admins otherwise get only the second-factor pages (cad/accounts/sessions.py).
    Tests of signing in itself go through the login form and the 2FA pages instead
    (cad/tests/test_login_*.py), which this does not touch.
    """
    from django.test.client import ClientMixin

    from cad.accounts.second_factor import SESSION_KEY

    original = ClientMixin.force_login

    def force_login(self, user, backend=None):
        original(self, user, backend)
        session = self.session
        session[SESSION_KEY] = user.pk
        session.save()

    monkeypatch.setattr(ClientMixin, "force_login", force_login)
