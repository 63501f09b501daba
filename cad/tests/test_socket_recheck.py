"""A board socket follows its user: a new role, scope or password re-checks it at once, it
re-checks itself at least every BOARD_RECHECK_SECONDS, and an idle session closes it without
waiting for a heartbeat."""

import time

import pytest
from channels.db import database_sync_to_async
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cad.accounts.services import user_provision
from cad.accounts.sessions import LAST_ACTIVITY_KEY
from cad.live.consumers import BoardConsumer
from cad.models import BCU, UserScope
from cad.tests.test_socket_close import closed_with, fresh_layer, open_board  # noqa: F401
from tests.factories import make_incident

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("close_worker_connections"),
]


@pytest.fixture
async def desk(client, make_user, geography):
    user = await database_sync_to_async(make_user)("despatcher", username="dave")
    await database_sync_to_async(client.force_login)(user)
    return user


@pytest.fixture
async def handler(make_user):
    return await database_sync_to_async(make_user)("call_handler", username="carol")


async def narrowed_to(ws, bcu: str) -> dict:
    """Read until the socket says it now serves `bcu` (a fresh snapshot of that stream)."""
    while True:
        message = await ws.receive_json_from(timeout=5)
        if message.get("type") == "snapshot" and message.get("bcu") == bcu:
            return message


async def events_until(ws, incident_id: int) -> list[dict]:
    seen = []
    while True:
        message = await ws.receive_json_from(timeout=5)
        seen.append(message)
        if message.get("type") == "incident.created" and message["data"]["id"] == incident_id:
            return seen


def _about_as(message: dict) -> bool:
    data = message.get("data") or {}
    return message.get("type", "").startswith("incident.") and (
        (data.get("location") or {}).get("bcu") == "AS"
    )


async def test_narrowing_the_scope_narrows_the_open_socket(client, desk, handler):
    # The failing case: a despatcher's open board kept receiving another BCU's new
    # incidents after their scope was narrowed to CN.
    ws = await open_board(client)
    await database_sync_to_async(user_provision)(
        username="dave", role="despatcher", bcu_code="CN", password=None
    )
    snapshot = await narrowed_to(ws, "CN")
    assert all(i["location"]["bcu"] == "CN" for i in snapshot["data"]["incidents"])
    await database_sync_to_async(make_incident)(handler, where="lambeth", grade="I")
    mine = await database_sync_to_async(make_incident)(handler, where="camden", grade="I")
    seen = await events_until(ws, mine.pk)
    assert not [m for m in seen if _about_as(m)]
    # The socket is still live, on its new stream.
    await ws.send_json_to({"type": "ping"})
    assert (await ws.receive_json_from(timeout=5))["type"] == "pong"
    await ws.disconnect()


async def test_widening_the_scope_sends_the_wider_board(client, make_user, geography, handler):
    user = await database_sync_to_async(make_user)("despatcher", bcu="CN", username="dave")
    await database_sync_to_async(client.force_login)(user)
    ws = await open_board(client)

    def widen():
        scope = UserScope.objects.get(user=user)
        scope.bcu = None  # as the admin's scope form would
        scope.save()

    await database_sync_to_async(widen)()
    await narrowed_to(ws, None)
    theirs = await database_sync_to_async(make_incident)(handler, where="lambeth", grade="I")
    seen = await events_until(ws, theirs.pk)
    assert seen[-1]["data"]["location"]["bcu"] == "AS"
    await ws.disconnect()


async def test_losing_the_board_role_closes_with_4403(client, desk):
    ws = await open_board(client)
    await database_sync_to_async(user_provision)(
        username="dave", role="call_handler", bcu_code=None, password=None
    )
    assert await closed_with(ws) == 4403


async def test_a_new_password_closes_sockets_of_older_sessions(client, desk):
    ws = await open_board(client)

    def new_password():
        desk.set_password("another-Strong-pass-43")
        desk.save()

    await database_sync_to_async(new_password)()
    assert await closed_with(ws) == 4401


async def test_the_socket_rechecks_itself_without_being_told(client, desk, settings):
    settings.BOARD_RECHECK_SECONDS = 0.2
    ws = await open_board(client)

    def narrow_quietly():
        # A queryset update sends no signal: only the socket's own re-check can see it.
        UserScope.objects.filter(user=desk).update(bcu=BCU.objects.get(code="CN"))

    await database_sync_to_async(narrow_quietly)()
    await narrowed_to(ws, "CN")
    await ws.disconnect()


async def test_the_recheck_interval_is_at_most_a_minute(settings):
    assert settings.BOARD_RECHECK_SECONDS <= 60


async def test_an_idle_session_closes_its_socket_without_a_ping(client, desk, settings):
    def nearly_idle():
        session = client.session
        session[LAST_ACTIVITY_KEY] = time.time() - settings.SESSION_IDLE_SECONDS + 2
        session.save()

    await database_sync_to_async(nearly_idle)()
    ws = await open_board(client)
    assert ws.refused_code is None
    # No ping is sent: the socket's own clock closes it when the session goes idle.
    assert await closed_with(ws) == 4401


def test_a_recheck_reads_the_user_their_scope_and_its_bcu_in_one_statement(
    client, make_user, geography
):
    # Every socket re-checks every minute: at 100 desks that is every 0.6 s.
    user = make_user("despatcher", bcu="CN")
    client.force_login(user)
    consumer = BoardConsumer()
    consumer.user_id = user.pk
    consumer.scope = {"session": client.session}
    with CaptureQueriesContext(connection) as queries:
        code, bcu, left = consumer._verdict()
    assert (code, bcu) == (None, "CN") and left > 0
    # The user (with scope and BCU), the session, the roles: no more.
    assert len(queries) <= 3, [q["sql"] for q in queries]
