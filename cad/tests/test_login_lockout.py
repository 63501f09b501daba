"""Login lockout: per (username, address), a per-address spray limit, the token endpoint too."""

from datetime import timedelta

import pytest
from django.utils import timezone

from cad.accounts.lockout import LOCKED_MESSAGE
from cad.models import AuditEvent, LoginFailure

pytestmark = pytest.mark.django_db

PASSWORD = "a-Strong-pass-42"
ROOM = "10.1.1.1"  # a control room behind one NAT address


def login(client, username, password, address=ROOM):
    return client.post(
        "/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=address
    )


def signed_in(response) -> bool:
    return response.status_code == 302 and "/accounts/login/" not in response["Location"]


def fail(client, username, times, address=ROOM):
    for _ in range(times):
        response = login(client, username, "wrong-password", address)
        assert response.status_code == 200


@pytest.fixture
def users(make_user):
    return {
        "carol": make_user("call_handler", username="carol"),
        "chris": make_user("call_handler", username="chris"),
    }


def test_five_failures_lock_the_right_password_out(client, users):
    fail(client, "carol", 4)
    assert signed_in(login(client, "carol", PASSWORD))  # four failures: still allowed
    client.logout()
    fail(client, "carol", 5)
    response = login(client, "carol", PASSWORD)
    assert not signed_in(response)
    assert LOCKED_MESSAGE in response.content.decode()
    assert AuditEvent.objects.filter(action="login", changes__outcome="locked").exists()


def test_the_lock_message_is_the_same_for_unknown_usernames(client, users):
    fail(client, "carol", 5)
    fail(client, "nobody-here", 5)
    known = login(client, "carol", "wrong-password").content.decode()
    unknown = login(client, "nobody-here", "wrong-password").content.decode()
    assert LOCKED_MESSAGE in known and LOCKED_MESSAGE in unknown


def test_one_user_locked_does_not_lock_the_room(client, users):
    fail(client, "carol", 5)
    # Another user at the same NAT address signs in...
    assert signed_in(login(client, "chris", PASSWORD))
    client.logout()
    # ...and carol herself can from another address (another site, a VPN).
    assert signed_in(login(client, "carol", PASSWORD, address="10.2.2.2"))


def test_lock_ends_after_ten_minutes(client, users):
    fail(client, "carol", 5)
    assert not signed_in(login(client, "carol", PASSWORD))
    LoginFailure.objects.update(at=timezone.now() - timedelta(minutes=9))
    assert not signed_in(login(client, "carol", PASSWORD))
    LoginFailure.objects.update(at=timezone.now() - timedelta(minutes=10, seconds=5))
    assert signed_in(login(client, "carol", PASSWORD))


def test_refused_attempts_do_not_extend_the_lock(client, users):
    fail(client, "carol", 5)
    fail(client, "carol", 10)  # knocking while locked
    assert LoginFailure.objects.filter(username="carol").count() == 5


def test_success_clears_the_pairs_failures(client, users):
    fail(client, "carol", 4)
    assert signed_in(login(client, "carol", PASSWORD))
    client.logout()
    fail(client, "carol", 4)
    assert signed_in(login(client, "carol", PASSWORD))


def test_an_address_spraying_usernames_is_refused(client, users, settings):
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 12
    for n in range(12):
        fail(client, f"guess{n}", 1, address="10.9.9.9")  # one try each: no pair lock
    response = login(client, "chris", PASSWORD, address="10.9.9.9")
    assert not signed_in(response)
    assert LOCKED_MESSAGE in response.content.decode()
    # The same users elsewhere are unaffected.
    assert signed_in(login(client, "chris", PASSWORD, address="10.1.1.1"))


def test_the_default_spray_limit_is_fifty(settings):
    assert settings.LOGIN_ADDRESS_FAILURE_LIMIT == 50
    assert settings.LOGIN_FAILURE_LIMIT == 5
    assert settings.LOGIN_LOCKOUT_SECONDS == 600


def test_failures_and_success_are_audited(client, users):
    fail(client, "carol", 1)
    assert signed_in(login(client, "carol", PASSWORD))
    failure = AuditEvent.objects.get(action="login", changes__outcome="failed")
    assert failure.changes["username"] == "carol"
    assert failure.source == ROOM
    assert failure.object_id == str(users["carol"].pk)
    success = AuditEvent.objects.get(action="login", changes__outcome="success")
    assert success.user == users["carol"]


def test_forwarded_for_is_ignored_unless_behind_a_trusted_proxy(client, users, settings):
    settings.TRUST_X_FORWARDED_FOR = False
    for n in range(5):
        client.post("/accounts/login/", {"username": "carol", "password": "nope"},
                    REMOTE_ADDR=ROOM, HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")  # fmt: skip
    # Rotating the header did not dodge the per-address count.
    assert not signed_in(login(client, "carol", PASSWORD))


def test_token_endpoint_is_locked_too(client, users):
    def token(password):
        return client.post(
            "/api/v1/auth/token/", {"username": "carol", "password": password},
            content_type="application/json", REMOTE_ADDR=ROOM,
        )  # fmt: skip

    for _ in range(4):
        assert token("wrong-password").status_code == 400
    assert token("wrong-password").status_code == 429  # the failure that locks says so
    response = token(PASSWORD)
    assert response.status_code == 429
    assert response.json()["code"] == "locked"
    # The login page shares the count: it is locked as well.
    assert not signed_in(login(client, "carol", PASSWORD))


def test_admin_login_goes_through_the_guarded_page(client):
    response = client.get("/admin/login/?next=/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert "next=/admin/" in response["Location"]
