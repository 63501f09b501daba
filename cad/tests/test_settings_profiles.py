"""The one settings file switches between the embedded default and real services."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = (
    "import json, django; from django.conf import settings; django.setup();"
    "print(json.dumps({'db': settings.DATABASES['default']['ENGINE'],"
    "'layer': settings.CHANNEL_LAYERS['default']['BACKEND'],"
    "'group_expiry': settings.CHANNEL_LAYERS['default'].get('CONFIG', {}).get('group_expiry'),"
    "'broker': settings.CELERY_BROKER_URL, 'eager': settings.CELERY_TASK_ALWAYS_EAGER,"
    "'keyprefix': settings.CELERY_BROKER_TRANSPORT_OPTIONS.get('global_keyprefix'),"
    "'debug': settings.DEBUG}))"
)
# Variables the tests below set themselves; whatever the run's environment has is left out.
SET_BY_TESTS = (
    "DATABASE_URL", "REDIS_URL", "DJANGO_ENV", "SECRET_KEY", "DEBUG", "CHANNEL_LAYER",
    "CELERY_KEY_PREFIX", "TRAINING",
)  # fmt: skip


def _settings_with(env: dict[str, str]) -> dict:
    clean = {k: v for k, v in os.environ.items() if k not in SET_BY_TESTS}
    clean.update(env, DJANGO_SETTINGS_MODULE="cad.settings")
    out = subprocess.run(  # noqa: S603  (our own interpreter and probe)
        [sys.executable, "-c", PROBE], cwd=ROOT, env=clean, capture_output=True, text=True,
        check=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_embedded_default():
    s = _settings_with({})
    assert s["db"] == "django.db.backends.sqlite3"
    assert s["layer"] == "channels.layers.InMemoryChannelLayer"
    assert s["eager"] is True and s["broker"] == "memory://"
    assert s["debug"] is True


def test_postgres_and_redis_from_environment():
    s = _settings_with(
        {"DATABASE_URL": "postgres://u:p@db:5432/beacon", "REDIS_URL": "redis://cache:6379/0"}
    )
    assert s["db"] == "django.db.backends.postgresql"
    assert s["layer"] == "channels_redis.pubsub.RedisPubSubChannelLayer"
    assert s["eager"] is False and s["broker"] == "redis://cache:6379/0"


def test_task_queues_under_a_prefix_of_their_own_and_training_within_it():
    redis_only = {"REDIS_URL": "redis://cache:6379/0"}
    assert _settings_with(redis_only)["keyprefix"] is None
    prefixed = {**redis_only, "CELERY_KEY_PREFIX": "bench-1:"}
    assert _settings_with(prefixed)["keyprefix"] == "bench-1:"
    assert _settings_with({**redis_only, "TRAINING": "true"})["keyprefix"] == "training:"
    assert _settings_with({**prefixed, "TRAINING": "true"})["keyprefix"] == "bench-1:training:"


def test_list_based_channel_layer_on_request():
    s = _settings_with({"REDIS_URL": "redis://cache:6379/0", "CHANNEL_LAYER": "lists"})
    assert s["layer"] == "channels_redis.core.RedisChannelLayer"
    assert s["group_expiry"] >= 7 * 24 * 3600  # not the one-day default


# A Fernet key, as production must set (cad/accounts/totp_keys.py).
TOTP_KEY = "q7Jx0n2Yb3m9Zr3wWl5mX4m0oQ1aZlV1cZb3xG2sY1E="


def test_production_profile_passes_check_deploy():
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG"}}
    env.update(
        DJANGO_ENV="production",
        SECRET_KEY="x7#kQ2!vL9@pR4$wZ8^mN1&bT6*yH3(cF5)jD0-gS2+eU7=aV4%iO9",
        TOTP_ENCRYPTION_KEYS=TOTP_KEY,
        ALLOWED_HOSTS="cad.example.org",
        DJANGO_SETTINGS_MODULE="cad.settings",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_secret_key():
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    env.update(DJANGO_ENV="production", DJANGO_SETTINGS_MODULE="cad.settings")
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


PRODUCTION_RESPONSE_PROBE = """
import json, django
django.setup()
from django.conf import settings
from django.test import Client

client = Client()
# Through the TLS-terminating proxy, as production is served. The API answers 401/403 without a
# database, which is enough to see the headers every response carries.
secure = client.get("/api/schema/", HTTP_HOST="cad.example.org", HTTP_X_FORWARDED_PROTO="https")
plain = client.get("/api/schema/", HTTP_HOST="cad.example.org")
print(json.dumps({
    "status": secure.status_code,
    "headers": {k.lower(): v for k, v in secure.headers.items()},
    "plain_status": plain.status_code,
    "plain_location": plain.headers.get("Location"),
    "cookies_secure": [settings.SESSION_COOKIE_SECURE, settings.CSRF_COOKIE_SECURE],
    "session_httponly": settings.SESSION_COOKIE_HTTPONLY,
}))
"""


def test_production_responses_carry_the_security_headers():
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "DATABASE_URL", "REDIS_URL"}}
    env.update(
        DJANGO_ENV="production",
        SECRET_KEY="x7#kQ2!vL9@pR4$wZ8^mN1&bT6*yH3(cF5)jD0-gS2+eU7=aV4%iO9",
        TOTP_ENCRYPTION_KEYS=TOTP_KEY,
        ALLOWED_HOSTS="cad.example.org",
        DJANGO_SETTINGS_MODULE="cad.settings",
        MAP_TILE_URL="https://{s}.tiles.example.org/{z}/{x}/{y}.png",
    )
    out = subprocess.run(  # noqa: S603  (our own interpreter and probe)
        [sys.executable, "-c", PRODUCTION_RESPONSE_PROBE], cwd=ROOT, env=env,
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    headers = seen["headers"]

    assert seen["status"] in {401, 403}
    assert headers["strict-transport-security"] == "max-age=31536000; includeSubDomains; preload"
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"
    assert headers["cross-origin-opener-policy"] == "same-origin"
    policy = dict(d.strip().split(" ", 1) for d in headers["content-security-policy"].split(";"))
    assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
    assert policy["object-src"] == "'none'" and policy["frame-ancestors"] == "'none'"
    assert policy["base-uri"] == "'self'" and policy["form-action"] == "'self'"
    assert policy["img-src"] == "'self' data: https://*.tiles.example.org"
    # Plain HTTP is sent to HTTPS; cookies only travel over it.
    assert seen["plain_status"] == 301
    assert seen["plain_location"] == "https://cad.example.org/api/schema/"
    assert seen["cookies_secure"] == [True, True] and seen["session_httponly"] is True


FORWARDED_PROBE = """
import json, django
django.setup()
from django.conf import settings
from django.test import RequestFactory
from cad.audit.trail import source_of

request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.7", HTTP_X_FORWARDED_FOR="203.0.113.9")
print(json.dumps({"trust": settings.TRUST_X_FORWARDED_FOR, "source": source_of(request)}))
"""


def _forwarded(extra: dict[str, str]) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in {"DEBUG", "DATABASE_URL", "REDIS_URL", "TRUST_X_FORWARDED_FOR"}}  # fmt: skip
    env.update(
        DJANGO_ENV="production",
        SECRET_KEY="x7#kQ2!vL9@pR4$wZ8^mN1&bT6*yH3(cF5)jD0-gS2+eU7=aV4%iO9",
        ALLOWED_HOSTS="cad.example.org",
        TOTP_ENCRYPTION_KEYS=TOTP_KEY,
        DJANGO_SETTINGS_MODULE="cad.settings",
        **extra,
    )
    out = subprocess.run(
        [sys.executable, "-c", FORWARDED_PROBE], cwd=ROOT, env=env, capture_output=True,
        text=True, check=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


CONN_PROBE = (
    "import json, os, sys; os.environ['DJANGO_SETTINGS_MODULE'] = 'cad.settings';"
    "import {entry}; from django.conf import settings;"
    "print(json.dumps(settings.DATABASES['default']['CONN_MAX_AGE']))"
)


def _conn_max_age(entry: str, **env: str) -> int:
    clean = {k: v for k, v in os.environ.items() if k not in {"DB_CONN_MAX_AGE"}}
    clean.update(DATABASE_URL="postgres://u:p@db:5432/beacon", **env)
    out = subprocess.run(
        [sys.executable, "-c", CONN_PROBE.format(entry=entry)], cwd=ROOT, env=clean,
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_training_daphne_keeps_the_pool_and_the_statement_timeout():
    """TRAINING_DATABASE_URL replaces where the connections go, not how: it used to put back
    Django's own engine, so a training daphne opened a connection per request."""
    probe = (
        "import json, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'cad.settings';"
        "import cad.asgi; from django.conf import settings; d = settings.DATABASES['default'];"
        "print(json.dumps([d['ENGINE'], d['NAME'], d['HOST'], d['OPTIONS'].get('options')]))"
    )
    env = {k: v for k, v in os.environ.items() if k != "DB_POOL"}
    env.update(
        DATABASE_URL="postgres://u:p@db:5432/beacon", TRAINING="true",
        TRAINING_DATABASE_URL="postgres://t:p@training-db:5432/beacon_drill",
    )  # fmt: skip
    out = subprocess.run(  # noqa: S603  (our own interpreter and probe)
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True,
        check=True,
    )  # fmt: skip
    engine, name, host, options = json.loads(out.stdout.strip().splitlines()[-1])
    assert (engine, name, host) == ("cad.db_pool", "beacon_drill", "training-db")
    assert "statement_timeout" in options


def test_production_does_not_trust_x_forwarded_for_by_default():
    """A client picks its own X-Forwarded-For: trusted by default, it would choose the address
    that the lockout counts and the audit trail records."""
    seen = _forwarded({})
    assert seen == {"trust": False, "source": "10.0.0.7"}
    # Behind a proxy that sets the header, the operator turns it on.
    seen = _forwarded({"TRUST_X_FORWARDED_FOR": "1"})
    assert seen == {"trust": True, "source": "203.0.113.9"}


def test_no_persistent_database_connections_under_asgi():
    """daphne loads cad.asgi: every request closes its connection. gunicorn (cad.wsgi) and
    Celery keep theirs for a minute."""
    assert _conn_max_age("cad.asgi") == 0
    assert _conn_max_age("cad.asgi", DB_CONN_MAX_AGE="60") == 0
    assert _conn_max_age("cad.wsgi") == 60
    assert _conn_max_age("cad.celery, django; django.setup()") == 60
