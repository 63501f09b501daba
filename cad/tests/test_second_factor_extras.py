"""Two-factor, second pass: a QR code at enrolment, the secret encrypted at rest (with key
rotation), ten single-use recovery codes, and lifting a lockout early."""

import os
import re
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection, connections
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from cad.accounts import totp, totp_keys
from cad.accounts.second_factor import (
    SESSION_KEY,
    code_verify,
    device_reset,
    recovery_codes_issue,
)
from cad.models import AuditEvent, LoginFailure, RecoveryCode, TOTPDevice

PASSWORD = "a-Strong-pass-42"


@pytest.fixture(autouse=True)
def _fast_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def password_login(client, username):
    return client.post("/accounts/login/", {"username": username, "password": PASSWORD})


def enrol_in_browser(client, username="sgt") -> tuple[str, str]:
    """Password, enrolment page, first code: returns (secret, the page shown after it)."""
    password_login(client, username)
    client.get("/accounts/2fa/enrol/")
    secret = totp_keys.secret_decrypt(
        TOTPDevice.objects.get(user__username=username).secret_encrypted
    )
    done = client.post("/accounts/2fa/enrol/", {"code": totp.totp(secret), "next": "/roster/"})
    return secret, done.content.decode()


def codes_on(page: str) -> list[str]:
    return re.findall(r'<li class="recovery-code"><code>([a-z0-9-]+)</code></li>', page)


# --- QR code -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_enrolment_shows_a_qr_code_as_inline_svg_without_inline_style(client, make_user):
    make_user("supervisor", username="sgt")
    password_login(client, "sgt")
    page = client.get("/accounts/2fa/enrol/").content.decode()
    svg = re.search(r"<svg[^>]*>.*?</svg>", page, re.S)
    assert svg, "no QR code"
    assert "style=" not in svg.group(0) and "<script" not in svg.group(0)
    assert 'role="img"' in svg.group(0)
    # The page still sends the strict policy (no 'unsafe-inline' for the SVG's sake).
    policy = client.get("/accounts/2fa/enrol/")["Content-Security-Policy"]
    assert "unsafe-inline" not in policy


# --- the secret at rest --------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_secret_is_stored_encrypted(client, make_user):
    user = make_user("supervisor", username="sgt")
    password_login(client, "sgt")
    client.get("/accounts/2fa/enrol/")
    device = TOTPDevice.objects.get(user=user)
    secret = totp_keys.secret_decrypt(device.secret_encrypted)
    assert len(secret) == 32
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM cad_totpdevice WHERE user_id = %s", [user.pk])
        row = cursor.fetchone()
    assert not any(secret in str(value) for value in row)
    assert secret in client.get("/accounts/2fa/enrol/").content.decode()  # shown to the user


def test_production_needs_the_encryption_keys():

    env = {k: v for k, v in os.environ.items() if k != "TOTP_ENCRYPTION_KEYS"}
    env.update(DJANGO_ENV="production", SECRET_KEY="x" * 60, DJANGO_SETTINGS_MODULE="cad.settings")
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=Path(__file__).resolve().parents[2], env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode != 0
    assert "TOTP_ENCRYPTION_KEYS must be set" in result.stderr


@pytest.mark.django_db
def test_rotation_reencrypts_under_the_newest_key(settings, make_user):
    old = Fernet.generate_key().decode()
    settings.TOTP_ENCRYPTION_KEYS = [old]
    device = TOTPDevice.objects.create(
        user=make_user("admin", username="root"),
        secret_encrypted=totp_keys.secret_encrypt("S" * 32),
    )
    new = Fernet.generate_key().decode()
    settings.TOTP_ENCRYPTION_KEYS = [new, old]  # newest first; the old one still reads
    assert totp_keys.secret_decrypt(device.secret_encrypted) == "S" * 32
    call_command("rotate_totp_keys")
    device.refresh_from_db()
    settings.TOTP_ENCRYPTION_KEYS = [new]  # the old key can now be retired
    assert totp_keys.secret_decrypt(device.secret_encrypted) == "S" * 32
    assert AuditEvent.objects.filter(action="update", object_type="cad.totpdevice").exists()


@pytest.mark.django_db(transaction=True)
def test_the_migration_encrypts_existing_secrets(postgres):

    before, after = ("cad", "0007_drop_plaintext_tokens"), ("cad", "0008_totp_secret_encrypted")
    executor = MigrationExecutor(connection)
    executor.migrate([before])
    old_apps = executor.loader.project_state([before]).apps
    user = old_apps.get_model("auth", "User").objects.create(username="legacy")
    old_apps.get_model("cad", "TOTPDevice").objects.create(
        user_id=user.pk, secret="JBSWY3DPEHPK3PXP"
    )
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([after])
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    stored = TOTPDevice.objects.get(user_id=user.pk).secret_encrypted
    assert "JBSWY3DPEHPK3PXP" not in stored
    assert totp_keys.secret_decrypt(stored) == "JBSWY3DPEHPK3PXP"


# --- recovery codes ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_ten_recovery_codes_are_shown_once_and_stored_hashed(client, make_user):
    user = make_user("supervisor", username="sgt")
    _, page = enrol_in_browser(client)
    codes = codes_on(page)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert 'href="/roster/"' in page  # carry on to where they were going
    stored = list(RecoveryCode.objects.filter(user=user).values_list("code_hash", flat=True))
    assert len(stored) == 10
    assert not any(code in h or code.replace("-", "") in h for code in codes for h in stored)
    # Never shown again.
    assert not codes_on(client.get("/roster/").content.decode())
    assert not codes_on(client.get("/accounts/2fa/enrol/", follow=True).content.decode())


@pytest.mark.django_db
def test_a_recovery_code_stands_in_for_a_totp_code_once(client, make_user):
    user = make_user("supervisor", username="sgt")
    _, page = enrol_in_browser(client)
    code = codes_on(page)[3]
    client.logout()
    password_login(client, "sgt")
    ok = client.post("/accounts/2fa/", {"code": code.upper()})  # case and dashes do not matter
    assert ok.status_code == 302 and client.session[SESSION_KEY] == user.pk
    assert AuditEvent.objects.filter(
        user=user, action="login", changes__outcome="recovery_code", changes__remaining=9
    ).exists()
    client.logout()
    password_login(client, "sgt")
    assert client.post("/accounts/2fa/", {"code": code}).status_code == 400
    assert LoginFailure.objects.filter(username="sgt", second_factor=True).count() == 1


@pytest.mark.django_db
def test_the_token_endpoint_takes_a_recovery_code_as_otp(client, make_user):
    make_user("supervisor", username="sgt")
    _, page = enrol_in_browser(client)
    code = codes_on(page)[0]

    def token(otp):
        return client.post("/api/v1/auth/token/", {"username": "sgt", "password": PASSWORD,
                           "otp": otp}, content_type="application/json")  # fmt: skip

    assert token(code).status_code == 200
    assert token(code).status_code == 400


@pytest.mark.django_db(transaction=True)
def test_one_recovery_code_used_twice_at_once_lets_one_in(postgres, make_user):
    user = make_user("supervisor", username="sgt")
    TOTPDevice.objects.create(
        user=user, secret_encrypted=totp_keys.secret_encrypt(totp.new_secret()),
        confirmed_at=timezone.now(),
    )  # fmt: skip
    code = recovery_codes_issue(user=user, source="test")[0]
    results, barrier = [], threading.Barrier(8)

    def attempt(n):
        try:
            barrier.wait()
            results.append(code_verify(user=user, code=code, source=f"10.0.0.{n}"))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 7 + [True]


@pytest.mark.django_db
def test_resetting_the_device_removes_the_recovery_codes(make_user, monkeypatch):
    user = make_user("supervisor", username="sgt")
    TOTPDevice.objects.create(user=user, secret_encrypted=totp_keys.secret_encrypt("A" * 32))
    recovery_codes_issue(user=user, source="test")
    device_reset(user=user)
    assert not RecoveryCode.objects.filter(user=user).exists()


# --- lifting a lockout ---------------------------------------------------------------------


def _lock(username: str, source: str = "10.1.1.1", n: int = 5):
    now = timezone.now()
    LoginFailure.objects.bulk_create(
        LoginFailure(username=username, source=source, at=now - timedelta(seconds=i))
        for i in range(n)
    )


@pytest.mark.django_db
def test_the_unlock_command_lifts_a_lockout_and_is_audited(client, make_user):
    make_user("call_handler", username="carol")
    _lock("carol")
    locked = client.post("/accounts/login/", {"username": "carol", "password": PASSWORD},
                         REMOTE_ADDR="10.1.1.1")  # fmt: skip
    assert locked.status_code == 200  # refused
    call_command("unlock_login", "carol")
    response = client.post("/accounts/login/", {"username": "carol", "password": PASSWORD},
                           REMOTE_ADDR="10.1.1.1")  # fmt: skip
    assert response.status_code == 302
    row = AuditEvent.objects.get(action="login", changes__outcome="unlocked")
    assert row.source == "cli" and row.changes["username"] == "carol"
    assert row.changes["failures_cleared"] == 5


@pytest.mark.django_db
def test_the_unlock_command_can_lift_an_address(make_user):
    _lock("guess1", source="10.9.9.9", n=3)
    _lock("guess2", source="10.9.9.9", n=3)
    _lock("carol", source="10.1.1.1", n=2)
    call_command("unlock_login", "--address", "10.9.9.9")
    assert list(LoginFailure.objects.values_list("username", flat=True).distinct()) == ["carol"]


@pytest.mark.django_db
def test_an_admin_action_lifts_a_lockout_and_is_audited(client, make_user):
    admin_user = make_user("admin", username="root")
    _lock("carol")
    _lock("chris", n=2)
    client.force_login(admin_user)
    listing = client.get("/admin/cad/loginfailure/")
    assert listing.status_code == 200 and "carol" in listing.content.decode()
    chosen = LoginFailure.objects.filter(username="carol").values_list("pk", flat=True)[:1]
    response = client.post(
        "/admin/cad/loginfailure/",
        {"action": "lift_lockout", "_selected_action": [str(pk) for pk in chosen]},
    )
    assert response.status_code == 302
    assert not LoginFailure.objects.filter(username="carol").exists()
    assert LoginFailure.objects.filter(username="chris").count() == 2
    row = AuditEvent.objects.get(action="login", changes__outcome="unlocked")
    assert row.user == admin_user and row.changes["failures_cleared"] == 5
    # The admin cannot otherwise edit or delete the failure records.
    assert client.get(f"/admin/cad/loginfailure/{chosen[0]}/delete/").status_code == 403


@pytest.mark.django_db
def test_only_admins_may_lift_a_lockout(client, make_user):
    _lock("carol")
    client.force_login(make_user("supervisor", username="sgt"))
    pk = LoginFailure.objects.values_list("pk", flat=True)[0]
    response = client.post(
        "/admin/cad/loginfailure/", {"action": "lift_lockout", "_selected_action": [str(pk)]}
    )
    assert response.status_code == 302 and "/login/" in response["Location"]  # not staff
    assert LoginFailure.objects.filter(username="carol").count() == 5
