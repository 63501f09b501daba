"""Throttling on a shared cache (429 with Retry-After), and a lockout that parallel guesses
cannot race past: the check and the failure record are one atomic step."""

import threading

import pytest
from django.contrib.auth.models import AbstractBaseUser
from django.db import connections
from django.test import Client
from rest_framework.test import APIRequestFactory

from cad.api.throttles import PublicAddressThrottle
from cad.models import LoginFailure

PASSWORD = "a-Strong-pass-42"


@pytest.fixture
def counted_password_checks(monkeypatch):
    """How many times a password was actually checked (the expensive, guessable step)."""
    calls = {"n": 0}
    lock = threading.Lock()
    original = AbstractBaseUser.check_password

    def check_password(self, raw_password):
        with lock:
            calls["n"] += 1
        return original(self, raw_password)

    monkeypatch.setattr(AbstractBaseUser, "check_password", check_password)
    return calls


def _in_parallel(n: int, attempt) -> list[int]:
    """Run `attempt(i)` in n threads released together; their status codes."""
    barrier, codes, lock = threading.Barrier(n), [], threading.Lock()

    def run(i):
        try:
            barrier.wait()
            code = attempt(i)
            with lock:
                codes.append(code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return codes


@pytest.mark.django_db(transaction=True)
def test_twenty_parallel_wrong_passwords_reach_the_check_at_most_the_limit(
    postgres, make_user, counted_password_checks, settings
):
    make_user("call_handler", username="carol")
    counted_password_checks["n"] = 0  # (make_user set a password, which checks nothing)

    def wrong(i):
        return Client().post(
            "/accounts/login/", {"username": "carol", "password": f"wrong-{i}"},
            REMOTE_ADDR="10.5.5.5",
        ).status_code  # fmt: skip

    codes = _in_parallel(20, wrong)
    assert codes == [200] * 20  # every one answered (the form again), none with a 5xx
    assert counted_password_checks["n"] <= settings.LOGIN_FAILURE_LIMIT
    assert LoginFailure.objects.filter(username="carol").count() == settings.LOGIN_FAILURE_LIMIT


@pytest.mark.django_db(transaction=True)
def test_twenty_parallel_wrong_passwords_at_the_token_endpoint(
    postgres, make_user, counted_password_checks, settings
):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "auth_token": "100/min"}
    make_user("radio_gateway", username="gw")
    counted_password_checks["n"] = 0

    def wrong(i):
        return Client().post(
            "/api/v1/auth/token/", {"username": "gw", "password": f"wrong-{i}"},
            content_type="application/json", REMOTE_ADDR="10.5.5.6",
        ).status_code  # fmt: skip

    codes = _in_parallel(20, wrong)
    assert set(codes) <= {400, 429} and codes.count(429) >= 20 - settings.LOGIN_FAILURE_LIMIT
    assert counted_password_checks["n"] <= settings.LOGIN_FAILURE_LIMIT


@pytest.mark.django_db(transaction=True)
def test_the_spray_limit_holds_under_parallel_guesses_too(
    postgres, make_user, counted_password_checks, settings
):
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 6
    for n in range(12):
        make_user("call_handler", username=f"user{n}")
    counted_password_checks["n"] = 0

    def spray(i):
        return Client().post(
            "/accounts/login/", {"username": f"user{i}", "password": "wrong"},
            REMOTE_ADDR="10.5.5.7",
        ).status_code  # fmt: skip

    _in_parallel(12, spray)
    assert counted_password_checks["n"] <= 6


# --- DRF throttles ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_token_endpoint_is_throttled_per_address(client, make_user, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "auth_token": "3/min"}
    make_user("radio_gateway", username="gw")

    def token(address):
        return client.post("/api/v1/auth/token/", {"username": "gw", "password": PASSWORD},
                           content_type="application/json", REMOTE_ADDR=address)  # fmt: skip

    assert [token("10.6.6.6").status_code for _ in range(3)] == [200, 200, 200]
    refused = token("10.6.6.6")
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert token("10.6.6.7").status_code == 200  # another address has its own allowance


@pytest.mark.django_db
def test_the_gazetteer_is_throttled_per_user(client, make_user, settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "gazetteer": "2/min"}
    client.force_login(make_user("call_handler", username="carol"))
    assert client.get("/api/v1/gazetteer/", {"q": "high"}).status_code == 200
    assert client.get("/api/v1/gazetteer/", {"q": "high s"}).status_code == 200
    refused = client.get("/api/v1/gazetteer/", {"q": "high st"})
    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1
    other = Client()
    other.force_login(make_user("call_handler", username="chris"))
    assert other.get("/api/v1/gazetteer/", {"q": "high"}).status_code == 200


def test_the_default_rates(settings):
    assert set(settings.THROTTLE_RATES) >= {"auth_token", "gazetteer", "public"}


def test_throttles_use_redis_when_it_is_configured(settings):
    backend = settings.CACHES["default"]["BACKEND"]
    if settings.REDIS_URL:
        assert backend == "django.core.cache.backends.redis.RedisCache"
    else:
        assert backend == "django.core.cache.backends.locmem.LocMemCache"


def test_the_counter_is_atomic_across_threads(redis_url, settings):
    """Forty requests at once from one address against a limit of ten: exactly ten pass.
    (A read-then-write counter lets most of them through.)"""
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "public": "10/min"}
    factory = APIRequestFactory()
    allowed, lock = [], threading.Lock()

    def hit(i):
        request = factory.post("/api/v1/public/reports/", REMOTE_ADDR="10.7.7.7")
        ok = PublicAddressThrottle().allow_request(request, None)
        with lock:
            allowed.append(ok)
        return 0

    _in_parallel(40, hit)
    assert allowed.count(True) == 10
