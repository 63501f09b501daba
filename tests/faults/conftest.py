"""Fixtures of the fault suite (tests/faults/): one private PostgreSQL cluster for the session,
migrated and seeded once; a private redis-server and a fresh app stack for each test."""

import shutil

import pytest

from tests.faults.stack import PrivatePostgres, Stack, seed
from tests.servers import PrivateRedis


@pytest.fixture(scope="session")
def fault_postgres():
    """A PostgreSQL cluster of the suite's own (never the shared one on 5432)."""
    if not shutil.which("runuser") and not shutil.which("pg_ctl"):
        pytest.fail("the fault suite needs PostgreSQL's server binaries")
    pg = PrivatePostgres()
    pg.init()
    token = seed(pg.url)
    yield pg, token
    pg.destroy()


@pytest.fixture
def fault_redis():
    server = PrivateRedis()
    if server.binary is None:
        pytest.fail("the fault suite needs redis-server")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def make_stack(tmp_path):
    stacks: list[Stack] = []

    def factory(**kwargs) -> Stack:
        stack = Stack(logs=tmp_path, **kwargs)
        stacks.append(stack)
        return stack.start()

    yield factory
    for stack in stacks:
        stack.stop()
