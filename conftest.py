"""The one root set of test fixtures: real services when configured, the fast password hasher,
the geography, a cast of users, and the events a test emitted. Plain factory functions are in
tests/factories.py. docs/testing.md says how to use them.

A test that needs PostgreSQL, Redis or Chromium skips (with the reason) only outside CI; in CI
(CI=true) a missing service fails the test instead, so nothing is silently skipped there.
"""

import importlib
import os
import secrets
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import pytest
from django.apps import apps as django_apps
from django.conf import settings
from django.db.models.sql.compiler import SQLCompiler
from django.test import override_settings

from cad import kept
from tests.servers import PrivateRedis

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
# Reference rows that data migrations load, put back after a flush by the same function:
# (app, model, migration, function).
DATA_MIGRATION_ROWS = [
    ("incidents", "CrimeClassification", "0007_crime_reports", "load_hocr_subset"),
    ("incidents", "CrimeClassification", "0011_crime_ho_codes", "fill_ho_codes"),
    ("incidents", "MessageTemplate", "0010_public_contact", "add_templates"),
]
CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
# The API fuzz gate's fresh seed (tests/test_api_fuzz.py): drawn once per run, here so that the
# run's header shows it before any test fails; FUZZ_SEED=<seed> replays one.
os.environ.setdefault("FUZZ_SEED", str(secrets.randbelow(2**32)))
# Importing cad.asgi or cad.wsgi freezes the importing process's heap, as a server's start-up
# should (decision 0035), and test files import them to drive the app in this process. A test
# process keeps CPython's collector as it comes: a test counting on a cycle being collected
# must not find it frozen. The servers tests start as subprocesses still freeze (their settings
# come from the environment, which this leaves alone).
settings.GC_FREEZE_AT_STARTUP = False


def pytest_configure(config) -> None:
    # Workers without tests/xdist_workers.py share one database, Redis database and channel
    # prefix, and then fail each other's tests in ways that look like real bugs. It has to be
    # loaded with -p (before pytest-django reads the settings), which this file is too late to
    # do, so a run that forgot it stops here with the command that works.
    workers = getattr(config.option, "numprocesses", None)
    if workers and not config.pluginmanager.has_plugin("tests.xdist_workers"):
        raise pytest.UsageError(
            "pytest -n needs the workers plugin: add -p tests.xdist_workers "
            "(make test does; docs/testing.md)"
        )


def pytest_report_header(config) -> str:
    return f"API fuzz seed: {os.environ['FUZZ_SEED']} (replay: FUZZ_SEED=<seed> make fuzz)"


@pytest.fixture(autouse=True)
def _nothing_kept() -> None:
    """Values kept per process (cad/kept.py: a type's plan, the newest travel model, coverage's
    points, borough boundaries): a test's rows rolled back send no signal, so each test starts
    with nothing kept."""
    kept.forget_everything()


class _Clock:
    """time.monotonic for the kept values (cad/kept.py), moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def kept_clock(monkeypatch) -> _Clock:
    clock = _Clock()
    # kept.py's own name for it only: the process's clock stays real for everything else.
    monkeypatch.setattr(kept, "monotonic", clock)
    return clock


def _missing(reason: str):
    if IN_CI:
        pytest.fail(f"CI must provide this: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session", autouse=True)
def _fast_password_hasher() -> Iterator[None]:
    """One cheap hasher for the whole suite: a real hash costs about a second per user made.

    See tests/hashers.py for why it is PBKDF2 at one iteration rather than MD5.
    """
    with override_settings(PASSWORD_HASHERS=["tests.hashers.FastPBKDF2PasswordHasher"]):
        yield


@pytest.fixture(autouse=True)
def _redis_breaker_reset() -> Iterator[None]:
    """Each test starts with Redis taken as up: one test's outage (a private Redis stopped)
    must not leave the next one's publishes waiting in a backlog."""
    from cad.redis_breaker import breaker_reset

    breaker_reset()
    yield
    breaker_reset()


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
def stoppable_redis(redis_url):
    """A started redis-server of this test's own, which the test may stop and start again
    (redis_url: Redis is required in CI)."""
    server = PrivateRedis()
    if server.binary is None:
        pytest.fail("redis-server is needed to run a private Redis")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def private_broker(stoppable_redis):
    """The URL of a redis-server of this test's own, for a broker no task left on the shared
    Redis by other tests can reach."""
    return stoppable_redis.url


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


class _Member:
    """One member of the cast: made (through `make_user`) the first time a test asks for it."""

    def __init__(self, role: str | None, bcu: str | None, username: str):
        self.role, self.bcu, self.username = role, bcu, username

    def __set_name__(self, owner, name: str) -> None:
        self.name = name

    def __get__(self, cast: "Cast | None", owner=None):
        if cast is None:
            return self
        if self.name not in cast.made:
            cast.made[self.name] = cast.make(self)
        return cast.made[self.name]


class Cast:
    """One user per role and scope, all with the password "a-Strong-pass-42".

    Each is made on first use, so a test holds only the users it names (audit rows, user lists
    and counts see no one else). Touch them in a synchronous fixture or test: making a user
    queries the database, which async code may not do directly.

    | member            | role            | BCU | username     |
    | ----------------- | --------------- | --- | ------------ |
    | handler           | call_handler    | -   | handler      |
    | handler_as        | call_handler    | AS  | handler_as   |
    | despatcher_all    | despatcher      | -   | desp_all     |
    | despatcher_cn     | despatcher      | CN  | desp_cn      |
    | despatcher_as     | despatcher      | AS  | desp_as      |
    | supervisor_all    | supervisor      | -   | sup_all      |
    | supervisor_cn     | supervisor      | CN  | sup_cn       |
    | supervisor_as     | supervisor      | AS  | sup_as       |
    | admin             | admin           | -   | admin        |
    | gateway           | radio_gateway   | -   | gateway      |
    | outsider          | none (signed in, no role, no officer record) | - | outsider |
    """

    handler = _Member("call_handler", None, "handler")
    handler_as = _Member("call_handler", "AS", "handler_as")
    despatcher_all = _Member("despatcher", None, "desp_all")
    despatcher_cn = _Member("despatcher", "CN", "desp_cn")
    despatcher_as = _Member("despatcher", "AS", "desp_as")
    supervisor_all = _Member("supervisor", None, "sup_all")
    supervisor_cn = _Member("supervisor", "CN", "sup_cn")
    supervisor_as = _Member("supervisor", "AS", "sup_as")
    admin = _Member("admin", None, "admin")
    gateway = _Member("radio_gateway", None, "gateway")
    outsider = _Member(None, None, "outsider")

    def __init__(self, make_user: Callable):
        self.make_user = make_user
        self.made: dict[str, object] = {}

    def make(self, member: _Member):
        # An account with no role is provisioned with one, which is then taken away, as an
        # admin would leave a leaver's account.
        user = self.make_user(member.role or "call_handler", bcu=member.bcu,
                              username=member.username)  # fmt: skip
        if member.role is None:
            user.groups.clear()
        return user


@pytest.fixture
def cast(geography, make_user) -> Cast:
    """The shared cast of users (see `Cast`): `cast.despatcher_cn`, `cast.supervisor_all`, ...

    Per-module worlds build on it and on `geography`, adding only what their tests need.
    """
    return Cast(make_user)


class CapturedEvents:
    """The live-board events stored while the test body ran, oldest first (Event rows).

    Read from the Event table, so it sees what `event_emit` and `events_emit` stored and
    nothing that rolled back, and not the events of the fixtures that built the world. Each
    read queries afresh; `clear()` starts again from now.
    """

    def __init__(self):
        self.since: int | None = None

    def clear(self) -> None:
        from cad.models import Event

        last = Event.objects.order_by("-seq").values_list("seq", flat=True).first()
        self.since = last or 0

    def all(self) -> list:
        from cad.models import Event

        if self.since is None:
            raise RuntimeError("captured_events is read before the test body started")
        return list(Event.objects.filter(seq__gt=self.since).order_by("seq"))

    def types(self) -> list[str]:
        return [event.type for event in self.all()]

    def of(self, type: str) -> list:
        return [event for event in self.all() if event.type == type]

    def last(self, type: str | None = None):
        events = self.of(type) if type else self.all()
        return events[-1] if events else None

    def __iter__(self):
        return iter(self.all())

    def __len__(self) -> int:
        return len(self.all())


@pytest.fixture
def captured_events() -> CapturedEvents:
    """The events the test emits (see `CapturedEvents`); capture starts as the test body does."""
    return CapturedEvents()


@pytest.fixture
def compiled_selects(monkeypatch) -> Callable[[], AbstractContextManager[list[str]]]:
    """`with compiled_selects() as seen:` → the models whose SELECT Django compiled inside the
    block. A read through cad/prepared.py compiles nothing after its first run."""

    @contextmanager
    def counting() -> Iterator[list[str]]:
        seen: list[str] = []
        as_sql = SQLCompiler.as_sql

        def recording(self, *args, **kwargs):
            seen.append(self.query.model.__name__ if self.query.model else "")
            return as_sql(self, *args, **kwargs)

        with monkeypatch.context() as patched:
            patched.setattr(SQLCompiler, "as_sql", recording)
            yield seen

    return counting


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item):
    capture = getattr(item, "funcargs", {}).get("captured_events")
    if isinstance(capture, CapturedEvents):
        capture.clear()


@pytest.fixture(autouse=True)
def _rows_from_data_migrations(request):
    """Put back what data migrations create (role groups, radio status codes, event counter,
    crime classifications, message templates).

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
    from django.db import connection

    if not transactional and connection.vendor == "postgresql":
        # A test inside one transaction never commits, so events would never be numbered
        # (cad_event_number runs at commit): number them as they are written instead.
        # Transactional tests commit for real and take the production path.
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS cad_event_number IMMEDIATE")

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
    # Which tables are empty is decided first: a later migration's rows (0011's codes) go on
    # top of an earlier one's, into a table that is no longer empty by then.
    empty = {(app, model) for app, model, *_ in DATA_MIGRATION_ROWS
             if not django_apps.get_model(app, model).objects.exists()}  # fmt: skip
    for app, model, migration, function in DATA_MIGRATION_ROWS:
        if (app, model) in empty:
            module = importlib.import_module(f"{app}.migrations.{migration}")
            getattr(module, function)(django_apps, None)


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
