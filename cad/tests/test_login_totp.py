"""Two-factor sign-in: RFC vectors, enrolment, codes once only, nothing reachable before it."""

import base64
import hashlib
import time

import pytest

from cad.accounts import totp
from cad.accounts.second_factor import SESSION_KEY
from cad.accounts.totp_keys import secret_decrypt, secret_encrypt
from cad.models import AuditEvent, LoginFailure, TOTPDevice

PASSWORD = "a-Strong-pass-42"


# --- RFC 4226 / RFC 6238 ------------------------------------------------------------------


def test_hotp_matches_rfc_4226_appendix_d():
    key = b"12345678901234567890"
    expected = ["755224", "287082", "359152", "969429", "338314",
                "254676", "287922", "162583", "399871", "520489"]  # fmt: skip
    assert [totp.hotp(key, counter) for counter in range(10)] == expected


@pytest.mark.parametrize(
    "at, sha1, sha256, sha512",
    [
        (59, "94287082", "46119246", "90693936"),
        (1111111109, "07081804", "68084774", "25091201"),
        (1111111111, "14050471", "67062674", "99943326"),
        (1234567890, "89005924", "91819424", "93441116"),
        (2000000000, "69279037", "90698825", "38618901"),
        (20000000000, "65353130", "77737706", "47863826"),
    ],
)
def test_totp_matches_rfc_6238_appendix_b(at, sha1, sha256, sha512):
    seeds = {
        hashlib.sha1: b"12345678901234567890",
        hashlib.sha256: b"12345678901234567890123456789012",
        hashlib.sha512: b"1234567890" * 6 + b"1234",
    }
    step = totp.time_step(at)
    for digest, expected in ((hashlib.sha1, sha1), (hashlib.sha256, sha256),
                             (hashlib.sha512, sha512)):  # fmt: skip
        assert totp.hotp(seeds[digest], step, digits=8, digest=digest) == expected
    # The six-digit code apps show is the last six digits of the same truncation.
    secret = base64.b32encode(seeds[hashlib.sha1]).decode()
    assert totp.totp(secret, at=at) == sha1[-6:]


def test_codes_one_step_either_side_are_accepted_and_no_further():
    secret = totp.new_secret()
    now = 1_700_000_000
    for offset, ok in ((-60, False), (-30, True), (0, True), (30, True), (60, False)):
        code = totp.totp(secret, at=now + offset)
        assert (totp.matching_step(secret, code, at=now) is not None) is ok, offset
    assert totp.matching_step(secret, "12345", at=now) is None
    assert totp.matching_step(secret, "abcdef", at=now) is None


def test_provisioning_uri_names_beacon_and_the_secret():
    uri = totp.provisioning_uri("JBSWY3DPEHPK3PXP", account="sgt")
    assert uri.startswith("otpauth://totp/Beacon%20CAD%3Asgt?")
    assert "secret=JBSWY3DPEHPK3PXP" in uri and "period=30" in uri and "digits=6" in uri


# --- the sign-in flow ---------------------------------------------------------------------


def password_login(client, username, next_url=""):
    data = {"username": username, "password": PASSWORD}
    if next_url:
        data["next"] = next_url
    return client.post("/accounts/login/", data)


def enrolled(user) -> str:
    secret = totp.new_secret()
    device = TOTPDevice.objects.create(user=user, secret_encrypted=secret_encrypt(secret))
    device.confirmed_at = device.created_at
    device.save()
    return secret


def code_for(secret: str, steps_ago: int = 0) -> str:
    return totp.totp(secret, at=time.time() - 30 * steps_ago)


@pytest.mark.django_db
def test_supervisor_cannot_reach_the_roster_before_the_second_factor(client, make_user, geography):
    make_user("supervisor", bcu="CN", username="sgt")
    response = password_login(client, "sgt", next_url="/roster/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/2fa/")
    for path in ("/roster/", "/board/", "/calls/", "/admin/"):
        blocked = client.get(path)
        assert blocked.status_code == 302, path
        assert blocked["Location"].startswith("/accounts/2fa/"), path
    # Not enrolled yet: the verify page sends them to enrolment.
    assert client.get("/accounts/2fa/")["Location"].startswith("/accounts/2fa/enrol/")


@pytest.mark.django_db
def test_api_with_a_pending_session_is_refused(client, make_user, geography):
    make_user("supervisor", bcu="CN", username="sgt")
    password_login(client, "sgt")
    response = client.get("/api/v1/bcus/")
    assert response.status_code == 403
    assert response.json()["code"] == "second_factor_required"


@pytest.mark.django_db
def test_roles_without_a_second_factor_go_straight_in(client, make_user):
    make_user("despatcher", username="dave")
    response = password_login(client, "dave")
    assert response["Location"] == "/"
    assert client.get("/board/").status_code == 200


@pytest.mark.django_db
def test_enrolment_then_sign_in_with_a_code(client, make_user, geography):
    user = make_user("supervisor", bcu="CN", username="sgt")
    password_login(client, "sgt", next_url="/roster/")
    page = client.get("/accounts/2fa/enrol/?next=/roster/")
    assert page.status_code == 200
    secret = secret_decrypt(TOTPDevice.objects.get(user=user).secret_encrypted)
    assert secret in page.content.decode() and "otpauth://totp/" in page.content.decode()
    # Reloading keeps the same secret (the app may already hold it).
    client.get("/accounts/2fa/enrol/")
    assert secret_decrypt(TOTPDevice.objects.get(user=user).secret_encrypted) == secret
    wrong = client.post("/accounts/2fa/enrol/", {"code": "000000"})
    assert wrong.status_code == 400
    done = client.post("/accounts/2fa/enrol/", {"code": code_for(secret), "next": "/roster/"})
    # The recovery codes are shown once, then the page leads on to where they were going.
    assert done.status_code == 200 and 'href="/roster/"' in done.content.decode()
    assert TOTPDevice.objects.get(user=user).confirmed_at is not None
    assert client.get("/roster/").status_code == 200
    # Next time: password, then a code (a fresh one: the enrolment code is spent).
    client.logout()
    response = password_login(client, "sgt")
    assert response["Location"].startswith("/accounts/2fa/")
    assert client.get("/accounts/2fa/enrol/")["Location"].startswith("/accounts/2fa/")
    TOTPDevice.objects.filter(user=user).update(last_step=totp.time_step() - 2)
    ok = client.post("/accounts/2fa/", {"code": code_for(secret)})
    assert ok.status_code == 302
    assert client.session[SESSION_KEY] == user.pk
    assert AuditEvent.objects.filter(user=user, action="login", changes__outcome="success").count()


@pytest.mark.django_db
def test_a_code_is_good_once(client, make_user):
    user = make_user("admin", username="root")
    secret = enrolled(user)
    code = code_for(secret)
    password_login(client, "root")
    assert client.post("/accounts/2fa/", {"code": code})["Location"] == "/"
    client.logout()
    password_login(client, "root")
    replay = client.post("/accounts/2fa/", {"code": code})
    assert replay.status_code == 400
    assert SESSION_KEY not in client.session
    # An older code than the one used is refused too, even inside the drift window.
    assert client.post("/accounts/2fa/", {"code": code_for(secret, 1)}).status_code == 400


@pytest.mark.django_db
def test_admin_reaches_the_admin_only_after_the_code(client, make_user):
    user = make_user("admin", username="root")
    secret = enrolled(user)
    password_login(client, "root", next_url="/admin/")
    assert client.get("/admin/")["Location"].startswith("/accounts/2fa/")
    response = client.post("/accounts/2fa/", {"code": code_for(secret), "next": "/admin/"})
    assert response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


@pytest.mark.django_db
def test_wrong_codes_count_toward_the_lockout(client, make_user):
    user = make_user("supervisor", username="sgt")
    secret = enrolled(user)
    password_login(client, "sgt")
    for _ in range(4):
        assert client.post("/accounts/2fa/", {"code": "000000"}).status_code == 400
    fifth = client.post("/accounts/2fa/", {"code": "000000"})
    # The fifth wrong code locks the pair and ends the pending session.
    assert fifth.status_code == 302 and fifth["Location"] == "/accounts/login/"
    assert LoginFailure.objects.filter(username="sgt", second_factor=True).count() == 5
    response = password_login(client, "sgt")
    assert response.status_code == 200  # locked: the password alone gets nowhere now
    assert client.get("/roster/")["Location"].startswith("/accounts/login/")
    assert secret  # (the right code would not have helped either)


@pytest.mark.django_db
def test_token_for_a_supervisor_needs_a_code(client, make_user):
    user = make_user("supervisor", username="sgt")

    def token(**extra):
        return client.post("/api/v1/auth/token/", {"username": "sgt", "password": PASSWORD,
                           **extra}, content_type="application/json")  # fmt: skip

    assert token().status_code == 400  # not enrolled: set up in the browser first
    secret = enrolled(user)
    missing = token()
    assert missing.status_code == 400 and "otp" in missing.json()
    code = code_for(secret)
    assert token(otp=code).status_code == 200
    assert token(otp=code).status_code == 400  # replayed


@pytest.mark.django_db
def test_cad_user_reset_2fa_removes_the_device(make_user, monkeypatch):
    from django.core.management import call_command

    user = make_user("supervisor", username="sgt")
    enrolled(user)
    monkeypatch.setenv("CAD_USER_PASSWORD", "another-Strong-pass-43")
    call_command("cad_user", "sgt", "--role", "supervisor", "--reset-2fa")
    assert not TOTPDevice.objects.filter(user=user).exists()


@pytest.mark.django_db
def test_cad_user_refuses_a_weak_password(make_user, monkeypatch):
    from django.core.management import CommandError, call_command

    monkeypatch.setenv("CAD_USER_PASSWORD", "short-pass")
    with pytest.raises(CommandError, match="too short"):
        call_command("cad_user", "newbie", "--role", "call_handler")


@pytest.mark.django_db
def test_a_forced_login_without_the_flag_is_still_held(client, make_user):
    # The conftest marks force_login sessions as past the second factor; without the mark
    # (any other way to a session) the supervisor is held at the 2FA pages.
    client.force_login(make_user("supervisor", username="sgt"))
    session = client.session
    del session[SESSION_KEY]
    session.save()
    assert client.get("/roster/")["Location"].startswith("/accounts/2fa/")
