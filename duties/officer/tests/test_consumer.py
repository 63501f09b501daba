"""The officer's socket (ws/officer/): who gets in, and only their unit and its job come out."""

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from cad.asgi import application
from cad.live.replay import board_checkpoint_create
from cad.live.retention import event_log_prune
from duties.officer.consumer import OfficerConsumer
from incidents.services import incident_log_add
from resources import despatch
from resources.services import unit_set_status
from tests.factories import make_incident
from tests.sockets import CONNECT_S

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("close_worker_connections", "fresh_layer"),
]


async def connect(user) -> tuple[WebsocketCommunicator, bool, int | str | None]:
    communicator = WebsocketCommunicator(OfficerConsumer.as_asgi(), "/ws/officer/")
    communicator.scope["user"] = user  # type: ignore[typeddict-unknown-key]  # as AuthMiddleware
    connected, code = await communicator.connect(timeout=CONNECT_S)
    return communicator, connected, code


async def socket(user) -> tuple[WebsocketCommunicator, dict]:
    communicator, connected, _ = await connect(user)
    assert connected
    hello = await communicator.receive_json_from(timeout=5)
    assert hello["type"] == "hello"
    return communicator, hello


@database_sync_to_async
def send_unit(phone, unit_key="unit"):
    incident = make_incident(phone["handler"], where="camden")
    despatch.assignment_create(incident=incident, unit=phone[unit_key], by=phone["desk"],
                               source="test")  # fmt: skip
    return incident


async def test_anonymous_control_room_and_unlinked_accounts_are_refused(phone, make_user):
    _, connected, code = await connect(AnonymousUser())
    assert not connected and code == 4401
    for user in (phone["desk"], await database_sync_to_async(make_user)("officer")):
        communicator, connected, code = await connect(user)
        assert not connected and code == 4403
        await communicator.disconnect()


async def test_foreign_origin_is_refused_through_the_full_stack(phone):
    communicator = WebsocketCommunicator(
        application, "/ws/officer/", headers=[(b"origin", b"https://evil.example")]
    )
    connected, _ = await communicator.connect(timeout=CONNECT_S)
    assert not connected
    await communicator.disconnect()


async def test_hello_names_the_unit_and_a_despatch_arrives_then_its_job(phone):
    communicator, hello = await socket(phone["user"])
    assert hello["unit"] == "CN01" and hello["incident"] is None
    incident = await send_unit(phone)
    message = await communicator.receive_json_from(timeout=5)
    while message["type"] != "unit.updated":  # the job's own event may come first
        message = await communicator.receive_json_from(timeout=5)
    assert message["data"]["callsign"] == "CN01"
    assert message["data"]["incident"] == incident.pk
    # Now in the job's group: a change to the job reaches the phone.
    await database_sync_to_async(incident_log_add)(
        incident=incident, by=phone["desk"], text="caller says two men", source="test"
    )
    while (message := await communicator.receive_json_from(timeout=5))["type"] != (
        "incident.updated"
    ):
        pass
    assert message["data"]["id"] == incident.pk
    await communicator.disconnect()


async def test_nothing_of_another_unit_or_job_reaches_the_phone(phone):
    communicator, _ = await socket(phone["user"])
    await send_unit(phone, "other")  # CN02 and its job
    await database_sync_to_async(unit_set_status)(
        unit=phone["other"], status="en_route", source="test"
    )
    await database_sync_to_async(unit_set_status)(
        unit=phone["unit"], status="unavailable", source="test"
    )
    message = await communicator.receive_json_from(timeout=5)
    assert message["type"] == "unit.updated"
    assert message["data"]["callsign"] == "CN01" and message["data"]["status"] == "unavailable"
    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()


async def test_resync_sends_only_what_this_phone_missed(phone):
    communicator, hello = await socket(phone["user"])
    await communicator.disconnect()
    await send_unit(phone, "other")
    incident = await send_unit(phone)
    communicator, _ = await socket(phone["user"])
    await communicator.send_json_to({"type": "resync", "since": hello["seq"]})
    seen = []
    while (message := await communicator.receive_json_from(timeout=5))["type"] != "resynced":
        seen.append(message)
    assert seen, "the despatch was missed and must be resent"
    for message in seen:
        data = message["data"]
        assert data.get("callsign") == "CN01" or data.get("id") == incident.pk, message
    await communicator.send_json_to({"type": "resync", "since": "x"})
    assert (await communicator.receive_json_from(timeout=5))["type"] == "error"
    await communicator.send_to(text_data="not json")  # an error, not a closed socket
    assert (await communicator.receive_json_from(timeout=5))["type"] == "error"
    await communicator.disconnect()


@database_sync_to_async
def prune_to_now():
    """A checkpoint now, and the log pruned up to it."""
    board_checkpoint_create()
    assert event_log_prune(older_than=timezone.now()) > 0


async def test_resync_from_a_pruned_seq_gets_a_snapshot(phone):
    communicator, hello = await socket(phone["user"])
    await communicator.disconnect()
    await send_unit(phone)  # missed, then pruned away
    await prune_to_now()
    communicator, _ = await socket(phone["user"])
    await communicator.send_json_to({"type": "resync", "since": hello["seq"]})
    message = await communicator.receive_json_from(timeout=5)
    assert message["type"] == "snapshot", message
    await communicator.disconnect()
