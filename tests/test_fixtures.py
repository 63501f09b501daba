"""The root fixtures themselves: the hasher, the cast and the captured events."""

import pytest
from django.contrib.auth.hashers import check_password, get_hasher
from django.db import transaction
from django.test import override_settings

from cad.accounts.roles import user_bcu_code, user_roles
from cad.live.events import event_emit
from cad.models import AuditEvent
from tests.factories import make_incident

pytestmark = pytest.mark.django_db


def test_the_suite_hashes_fast_and_a_stock_server_still_accepts_the_password(make_user):
    assert get_hasher().iterations == 1
    user = make_user("despatcher")
    assert user.password.startswith("pbkdf2_sha256$1$")
    # A daphne process started by a browser test checks passwords with the default hashers.
    with override_settings(
        PASSWORD_HASHERS=["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    ):  # fmt: skip
        assert check_password("a-Strong-pass-42", user.password)
        assert not check_password("a-wrong-pass-42", user.password)


@pytest.mark.parametrize(
    ("member", "roles", "bcu"),
    [
        ("handler", {"call_handler"}, None),
        ("handler_as", {"call_handler"}, "AS"),
        ("despatcher_all", {"despatcher"}, None),
        ("despatcher_cn", {"despatcher"}, "CN"),
        ("despatcher_as", {"despatcher"}, "AS"),
        ("supervisor_all", {"supervisor"}, None),
        ("supervisor_cn", {"supervisor"}, "CN"),
        ("supervisor_as", {"supervisor"}, "AS"),
        ("admin", {"admin"}, None),
        ("gateway", {"radio_gateway"}, None),
        ("outsider", set(), None),
    ],
)
def test_each_member_of_the_cast_has_its_role_and_scope(cast, member, roles, bcu):
    user = getattr(cast, member)
    assert user_roles(user) == roles and user_bcu_code(user) == bcu
    assert user.check_password("a-Strong-pass-42")
    assert getattr(cast, member) is user  # made once


def test_the_cast_makes_only_the_members_a_test_names(cast):
    before = AuditEvent.objects.filter(object_type="auth.user").count()
    assert cast.despatcher_cn.username == "desp_cn"
    assert AuditEvent.objects.filter(object_type="auth.user").count() == before + 1


@pytest.fixture
def an_event_before_the_test(cast):
    return make_incident(cast.handler)


def test_captured_events_are_the_test_bodys_only(an_event_before_the_test, cast,
                                                 captured_events):  # fmt: skip
    assert captured_events.all() == []
    incident = make_incident(cast.handler, grade="I")
    with pytest.raises(RuntimeError), transaction.atomic():
        event_emit(type="test.rolled_back", data={}, bcus=["CN"])
        raise RuntimeError
    event_emit(type="test.kept", data={"n": 1}, bcus=["AS"])
    assert captured_events.types() == ["incident.created", "test.kept"]
    assert captured_events.of("incident.created")[0].data["id"] == incident.pk
    assert captured_events.last().data == {"n": 1} and len(captured_events) == 2
    captured_events.clear()
    assert list(captured_events) == [] and captured_events.last("test.kept") is None
