"""`POST /api/v1/radio/inbound/`: storage before the reply, duplicates, validation, permissions."""

import threading

import pytest
from django.db import connection
from rest_framework.exceptions import ValidationError
from rest_framework.test import APIClient

from cad.models import AuditEvent
from radio import protocol
from radio.models import RadioMessage
from radio.services import radio_messages_receive
from radio.tests.conftest import api, msg
from radio.validation import MAX_BATCH

URL = "/api/v1/radio/inbound/"
State = RadioMessage.State


def _post(user, messages, **kwargs):
    return api(user).post(URL, {"messages": messages}, format="json", **kwargs)


def test_stores_before_reply_and_queues_each_new_message(
    world, queued, django_capture_on_commit_callbacks
):
    issi = world["unit"].issi
    batch = [msg(issi, code=2), msg(issi, "position", lat=51.55, lon=-0.15)]
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(world["gateway"], batch)
    assert response.status_code == 202, response.content
    assert response.json() == {"accepted": 2, "duplicates": 0}
    stored = {m.gateway_id: m for m in RadioMessage.objects.all()}
    assert set(stored) == {batch[0]["id"], batch[1]["id"]}
    first = stored[batch[0]["id"]]
    assert first.state == State.RECEIVED and first.direction == RadioMessage.Direction.INBOUND
    assert first.code == 2 and first.by == world["gateway"] and first.raw == batch[0]
    assert sorted(queued["apply"]) == sorted(m.pk for m in stored.values())
    assert AuditEvent.objects.filter(
        object_type="radio.radiomessage", user=world["gateway"]
    ).exists()


def test_repeated_ids_are_duplicates_in_one_batch_and_across_batches(world, queued):
    issi = world["unit"].issi
    a, b, c = msg(issi, code=2), msg(issi, code=5), msg(issi, code=6)
    first = _post(world["gateway"], [a, b, dict(a, code=9)])
    assert first.status_code == 202 and first.json() == {"accepted": 2, "duplicates": 1}
    second = _post(world["gateway"], [a, c])
    assert second.json() == {"accepted": 1, "duplicates": 1}
    assert RadioMessage.objects.count() == 3
    # The first copy of a repeated id is the one kept.
    assert RadioMessage.objects.get(gateway_id=a["id"]).code == 2


def test_malformed_batch_is_refused_whole_with_errors_per_message(world, queued):
    issi = world["unit"].issi
    good = msg(issi, code=2)
    no_code = msg(issi, "status")
    naive_time = msg(issi, code=2)
    naive_time["sent_at"] = "2026-11-22T14:03:00"
    half_position = msg(issi, "position", lat=51.5)
    bad_kind = msg(issi, "despatch", code=1)
    string_lat = msg(issi, "position", lat="51.5", lon=-0.1)
    response = _post(
        world["gateway"], [good, no_code, naive_time, half_position, bad_kind, string_lat]
    )
    assert response.status_code == 400
    # Errors sit under each failing message's index; the good message has none.
    errors = response.json()["messages"]
    assert set(errors) == {"1", "2", "3", "4", "5"}
    assert "code" in errors["1"]
    assert "sent_at" in errors["2"]
    assert "lon" in errors["3"]
    assert "kind" in errors["4"]
    assert "lat" in errors["5"]
    assert RadioMessage.objects.count() == 0
    assert queued["apply"] == []


@pytest.mark.parametrize(
    "body",
    [[], {"messages": "not a list"}, {"messages": [1, 2]}, {"message": []}, "text"],
)
def test_wrong_shapes_are_400_not_500(world, body):
    response = api(world["gateway"]).post(URL, body, format="json")
    assert response.status_code == 400, response.content
    assert "messages" in response.json()
    assert RadioMessage.objects.count() == 0


def test_fields_we_do_not_know_must_still_be_storable(world, queued):
    # The message is kept whole (RadioMessage.raw, jsonb), and PostgreSQL's jsonb refuses NUL:
    # this was a 500 on PostgreSQL before the serializer looked at unknown fields.
    issi = world["unit"].issi
    good = msg(issi, code=2, vendor={"signal": -71.5, "cell": "N1"})
    nul = msg(issi, code=2, vendor={"note": "a\x00b"})
    nul_key = msg(issi, code=2, **{"x\x00": 1})
    response = _post(world["gateway"], [good, nul, nul_key])
    assert response.status_code == 400, response.content
    errors = response.json()["messages"]
    assert set(errors) == {"1", "2"}
    assert "vendor" in errors["1"] and "x\x00" in errors["2"]
    assert RadioMessage.objects.count() == 0
    assert _post(world["gateway"], [good]).status_code == 202
    assert RadioMessage.objects.get().raw == good


@pytest.mark.parametrize("number", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_numbers_from_the_bridge_are_refused_not_a_database_error(world, queued, number):
    # The radio bridge decodes frames with json.loads, which reads NaN and Infinity (DRF's
    # parser refuses them for HTTP); jsonb cannot hold them, in a field we know or not.
    issi = world["unit"].issi
    for message in (msg(issi, code=2, vendor=[1, {"rssi": number}]),
                    msg(issi, "position", lat=number, lon=-0.1)):  # fmt: skip
        with pytest.raises(ValidationError) as refused:
            radio_messages_receive(messages=[message], by=world["gateway"], source="radio")
        errors = refused.value.detail["messages"][0]
        assert set(errors) & {"vendor", "lat"}, errors
    assert RadioMessage.objects.count() == 0


def test_a_frame_nested_too_deep_is_not_a_frame():
    # json.loads raises RecursionError here, which the bridge's read loop did not catch.
    assert protocol.decode("[" * 50_000) is None
    assert protocol.decode('{"type": "ack", "ids": [[[1]]]}') == {"type": "ack", "ids": [[[1]]]}


def test_batch_over_the_limit_is_refused_with_a_clear_message(world, queued):
    issi = world["unit"].issi
    response = _post(world["gateway"], [msg(issi, code=2) for _ in range(MAX_BATCH + 1)])
    assert response.status_code == 400
    assert f"At most {MAX_BATCH} messages" in str(response.json()["messages"])
    assert RadioMessage.objects.count() == 0


def test_empty_batch_is_accepted_as_nothing(world, queued):
    response = _post(world["gateway"], [])
    assert response.status_code == 202 and response.json() == {"accepted": 0, "duplicates": 0}


def test_only_the_radio_gateway_may_post(world, make_user, queued):
    batch = [msg(world["unit"].issi, code=2)]
    for role in ("despatcher", "supervisor", "call_handler", "admin"):
        assert _post(make_user(role), batch).status_code == 403, role
    anonymous = APIClient().post(URL, {"messages": batch}, format="json")
    assert anonymous.status_code in (401, 403)
    assert RadioMessage.objects.count() == 0


def test_token_auth_works_for_the_gateway(world, queued):
    token = APIClient().post(
        "/api/v1/auth/token/",
        {"username": world["gateway"].username, "password": "a-Strong-pass-42"},
        format="json",
    )
    assert token.status_code == 200, token.content
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.json()['token']}")
    response = client.post(URL, {"messages": [msg(world["unit"].issi, code=2)]}, format="json")
    assert response.status_code == 202 and response.json()["accepted"] == 1


def test_idempotency_key_replays_the_first_answer(world, queued):
    batch = [msg(world["unit"].issi, code=2)]
    first = _post(world["gateway"], batch, HTTP_IDEMPOTENCY_KEY="k1")
    again = _post(world["gateway"], batch, HTTP_IDEMPOTENCY_KEY="k1")
    assert first.json() == again.json() == {"accepted": 1, "duplicates": 0}
    assert RadioMessage.objects.count() == 1


def test_emergencies_are_queued_before_the_backlog(
    world, queued, django_capture_on_commit_callbacks
):
    issi = world["unit"].issi
    backlog = [msg(issi, "position", lat=51.55, lon=-0.15, ago=300 - i) for i in range(5)]
    alarm = msg(issi, code=0, ago=1)
    with django_capture_on_commit_callbacks(execute=True):
        _post(world["gateway"], [*backlog, alarm])
    assert queued["apply"][0] == RadioMessage.objects.get(gateway_id=alarm["id"]).pk
    assert len(queued["apply"]) == 6


@pytest.mark.django_db(transaction=True)
def test_concurrent_gateways_posting_the_same_ids_count_each_once(postgres, world, queued):
    issi = world["unit"].issi
    batch = [msg(issi, code=2) for _ in range(30)]
    results, errors = [], []
    barrier = threading.Barrier(4)

    def post():
        try:
            barrier.wait()
            response = _post(world["gateway"], batch)
            results.append(response.json())
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sum(r["accepted"] for r in results) == 30
    assert all(r["accepted"] + r["duplicates"] == 30 for r in results)
    assert RadioMessage.objects.count() == 30


def test_end_to_end_with_eager_tasks_applies_after_the_reply(
    world, monkeypatch, django_capture_on_commit_callbacks
):
    from radio import tasks
    from resources.models import Unit

    # As in the embedded default (no REDIS_URL): tasks run in-process after commit.
    monkeypatch.setitem(tasks.apply_radio_message.app.conf, "task_always_eager", True)
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(world["gateway"], [msg(world["unit"].issi, code=7)])
    assert response.status_code == 202
    assert RadioMessage.objects.get().state == State.APPLIED
    unit = Unit.objects.get(pk=world["unit"].pk)
    assert unit.status == "unavailable" and unit.deployable
