"""Beacon settings: one file, driven by the environment.

With nothing set, Beacon runs on the embedded default: SQLite, the in-memory channel layer and
Celery tasks executed in-process. DATABASE_URL switches to PostgreSQL, REDIS_URL to the Redis
channel layer and a real Celery broker. DJANGO_ENV=production hardens everything for deployment.
"""

import base64
import hashlib
import os
import sys
from datetime import timedelta
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


PRODUCTION = os.environ.get("DJANGO_ENV", "development") == "production"

DEBUG = env_bool("DEBUG", not PRODUCTION)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured("SECRET_KEY must be set when DJANGO_ENV=production")
    # Development only: a fixed key so sessions survive restarts of `make run`.
    SECRET_KEY = "dev-only-beacon-key-not-for-production-use-3f9a8c7d6e5b4a3928171605"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "" if PRODUCTION else "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    # API tokens that expire and are stored only as digests (docs/decisions/0008-api-tokens.md).
    "knox",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "django_guid",
    "cad",
    "resources",
    "incidents",
    "duties",
    "radio",
]

MIDDLEWARE = [
    # First, so everything below (and the tasks it queues) logs with the request's id.
    "django_guid.middleware.guid_middleware",
    "cad.ops.logs.RequestLogMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "cad.web.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "cad.accounts.middleware.LoginRequiredEverywhere",
    "cad.accounts.sessions.IdleSessionMiddleware",
    "cad.accounts.sessions.SecondFactorMiddleware",
]

ROOT_URLCONF = "cad.urls"
ASGI_APPLICATION = "cad.asgi.application"
WSGI_APPLICATION = "cad.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "cad.accounts.context_processors.roles",
                "cad.accounts.context_processors.preferences",
                "cad.web.training.training",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL", "")
# Persistent connections only where a thread serves one request after another: gunicorn's
# threads, Celery workers, the radio bridge's one database thread. Under ASGI (daphne: pages,
# REST and the board's sockets) Django runs sync code on threads that come and go, so a kept
# connection is never reused or closed and they pile up until PostgreSQL refuses more; Django's
# docs say to disable them there. cad/asgi.py is being imported exactly when daphne loads these
# settings (in every other process, and in tests, it is not). ASGI_DB_CONN_MAX_AGE exists only
# to measure the old behaviour (docs/benchmarks.md).
UNDER_ASGI = "cad.asgi" in sys.modules
CONN_MAX_AGE = int(
    os.environ.get("ASGI_DB_CONN_MAX_AGE", "0")
    if UNDER_ASGI
    else os.environ.get("DB_CONN_MAX_AGE", "60")
)
# The pool under ASGI (below); DB_POOL=0 measures without it.
DB_POOL = os.environ.get("DB_POOL", "1").lower() not in {"0", "false", "no"}
DB_POOL_SIZE = int(os.environ.get("DB_POOL_SIZE", "20"))
DB_POOL_OVERFLOW = int(os.environ.get("DB_POOL_OVERFLOW", "20"))
# The recommendation's hot queries are prepared once on each PostgreSQL connection and then only
# executed, so PostgreSQL stops planning them every time (decision 0028). PgBouncer in transaction
# pooling mode cannot keep a statement prepared on one server connection for the next
# transaction: set DB_SERVER_PREPARE=0 behind it.
DB_SERVER_PREPARE = env_bool("DB_SERVER_PREPARE", True)
if DATABASE_URL:
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL, conn_max_age=CONN_MAX_AGE, conn_health_checks=CONN_MAX_AGE > 0
        )
    }
    DATABASES["default"].setdefault("OPTIONS", {})
    # A stuck statement must not hold a despatcher's request (and its row locks) for ever.
    DATABASES["default"]["OPTIONS"].setdefault(
        "options", f"-c statement_timeout={int(os.environ.get('DB_STATEMENT_TIMEOUT_MS', '15000'))}"
    )
    DATABASES["default"]["OPTIONS"].setdefault("connect_timeout", 5)
    if UNDER_ASGI and DB_POOL:
        # Under daphne every request and every socket's database call would otherwise open a
        # connection of its own: a PostgreSQL backend started, its catalog caches filled and
        # thrown away, about 50 ms of CPU each, a third of a 2-core machine in the soak
        # (docs/decisions/0026-database-connections-kept.md). The pool keeps the connections
        # and hands them to whichever thread serves the next request; Django still "closes"
        # its connection after each request, which returns it. A connection is pinged as it
        # is taken, so one broken by a PostgreSQL restart is replaced, not handed out.
        DATABASES["default"]["ENGINE"] = "cad.db_pool"
        DATABASES["default"]["POOL_OPTIONS"] = {  # type: ignore[typeddict-unknown-key]
            "POOL_SIZE": DB_POOL_SIZE,
            "MAX_OVERFLOW": DB_POOL_OVERFLOW,
            # A request waits this long for a connection, then fails as the database being
            # unavailable (503), rather than queueing without end.
            "TIMEOUT": 10,
            "RECYCLE": 15 * 60,
            "PRE_PING": True,
        }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("SQLITE_PATH", str(BASE_DIR / "db.sqlite3")),
            # Several writers (web, in-process tasks) share one file: wait rather than fail.
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: channel layer and Celery broker -----------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    # Redis pub/sub (the default): one PUBLISH per board stream, read once by each daphne
    # process and fanned out to its sockets there. The list-based layer ("lists") pushes one
    # copy per socket and pops each with four Redis round trips, which cost the live board 10x
    # a bare broadcast at 200 desks (docs/benchmarks.md). Both deliver at most once; the board
    # consumer's gap filling from the Event table covers that either way (decision 0004).
    CHANNEL_LAYER = os.environ.get("CHANNEL_LAYER", "pubsub")
    if CHANNEL_LAYER not in {"pubsub", "lists"}:
        raise ImproperlyConfigured("CHANNEL_LAYER must be 'pubsub' or 'lists'")
    # Redis pub/sub channels ignore the database number: deployments (or test runs) that share
    # one Redis keep apart by prefix.
    CHANNEL_LAYER_PREFIX = os.environ.get("CHANNEL_LAYER_PREFIX", "asgi")
    # A connect to a Redis that is gone fails in a second, not the kernel's minutes. No read
    # timeout: the subscriber's reads wait for messages; a publish's wait is bounded by
    # REDIS_PUBLISH_TIMEOUT_S in cad/live/events.py.
    _LAYER_HOST = {
        "address": REDIS_URL,
        "socket_connect_timeout": float(os.environ.get("REDIS_CONNECT_TIMEOUT_S", "1")),
    }
    if CHANNEL_LAYER == "pubsub":
        CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
                "CONFIG": {"hosts": [_LAYER_HOST], "prefix": CHANNEL_LAYER_PREFIX},
            }
        }
    else:
        CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "channels_redis.core.RedisChannelLayer",
                "CONFIG": {
                    "hosts": [_LAYER_HOST],
                    "prefix": CHANNEL_LAYER_PREFIX,
                    # channels-redis forgets group members after a day by default; a control
                    # room never closes, so membership lasts a week and the board consumer
                    # re-joins its groups on every heartbeat (see cad/live/consumers.py).
                    "group_expiry": 7 * 24 * 3600,
                    # A full channel drops messages silently. Give each browser room for a busy
                    # minute; anything still lost shows up as a gap in `seq` and is filled.
                    "capacity": 5000,
                    "expiry": 60,
                },
            }
        }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# The cache holds request throttles' counters (cad/api/throttles.py), which every process must
# share: Redis when there is one, else this process's memory (the embedded default runs one
# process).
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "beacon"),
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 60
CELERY_TASK_SOFT_TIME_LIMIT = 45
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_DEFAULT_QUEUE = "default"
# Celery's Django fixup closes every database connection before and after every task unless
# this is set, so a worker opened a PostgreSQL backend per task (about 50 ms of the server's
# CPU each: a quarter of a core at the radio's batch rate in the soak). Set, it closes them
# only every this many tasks; cad/celery.py closes one that broke or outlived CONN_MAX_AGE
# around every task instead, as Django does around a request (decision 0026).
CELERY_DB_REUSE_MAX = int(os.environ.get("CELERY_DB_REUSE_MAX", "1000"))
# Recommendations get their own queue so a burst of radio traffic cannot delay them.
CELERY_TASK_ROUTES = {
    # A name is matched before the patterns: the nightly training (minutes of work) must not
    # hold a recommend worker.
    "resources.tasks.train_travel_model": {"queue": "default"},
    "resources.tasks.*": {"queue": "recommend"},
    "radio.tasks.*": {"queue": "radio"},
    # Texts to the public (issue 15) wait on their own queue: a Notify outage backs up texts,
    # never recommendations or radio. Messages about online reports (acknowledgements) have one
    # of their own: a worker takes from both in turn, so a burst of reports never holds a
    # caller's despatch text behind it (docs/public-contact.md).
    "incidents.tasks.send_caller_message": {"queue": "texts"},
    "incidents.tasks.send_report_message": {"queue": "report_texts"},
    "incidents.tasks.requeue_caller_messages": {"queue": "texts"},
}
# Where the resilience snapshot (duties/resilience/snapshot.py) is written every 5 minutes:
# a directory the control room's laptops can read when the CAD is down (a share or a synced
# folder), kept out of the web root.
RESILIENCE_SNAPSHOT_DIR = os.environ.get(
    "RESILIENCE_SNAPSHOT_DIR", str(BASE_DIR / "var" / "resilience")
)
CELERY_BEAT_SCHEDULE = {
    # Applies any radio message whose task was lost (broker restart, worker killed), so a status
    # stored for the gateway is never silently dropped.
    "radio-sweep": {
        "task": "radio.tasks.apply_pending_radio_messages",
        "schedule": 30.0,
        "options": {"queue": "radio", "expires": 25},
    },
    # A despatch message not delivered within RADIO_DELIVERY_ALERT_SECONDS alerts the desks.
    "radio-undelivered-alert": {
        "task": "radio.tasks.alert_undelivered_radio_messages",
        "schedule": 10.0,
        "options": {"queue": "radio", "expires": 9},
    },
    "purge-idempotency-keys": {
        "task": "cad.tasks.purge_idempotency_keys",
        "schedule": 24 * 3600.0,
    },
    # Expired API tokens: a request reads only its own (cad/accounts/authentication.py).
    "purge-expired-tokens": {
        "task": "cad.tasks.purge_expired_tokens",
        "schedule": 3600.0,
        "options": {"expires": 3000},
    },
    # Hourly, in capped batches, so a first run over years of closed incidents catches up in
    # days without one long transaction (incidents/retention.py).
    # Issue 15: the untriaged online-report alert, and texts whose task was lost.
    "online-reports-overdue": {
        "task": "incidents.tasks.alert_overdue_online_reports",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    "caller-texts-sweep": {
        "task": "incidents.tasks.requeue_caller_messages",
        "schedule": 60.0,
        "options": {"queue": "texts", "expires": 55},
    },
    "erase-expired-personal-data": {
        "task": "incidents.tasks.erase_expired_personal_data",
        "schedule": 3600.0,
        "options": {"expires": 3000},
    },
    # Issue 17: a file to work from when the server can't be reached.
    "resilience-snapshot": {
        "task": "duties.tasks.write_resilience_snapshot",
        "schedule": 300.0,
        "options": {"expires": 240},
    },
    # Replay checkpoints (cad/live/replay.py): the task writes one only when it is due.
    "write-board-checkpoint": {
        "task": "cad.tasks.write_board_checkpoint",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    # Issue 22: the learned router retrained nightly at 04:10 UTC, a quiet hour.
    "train-travel-model": {
        "task": "resources.tasks.train_travel_model",
        "schedule": crontab(hour=4, minute=10),
        "options": {"expires": 3 * 3600},
    },
}
# The live-board event log keeps this long (cad/live/retention.py, decision 0018): resync and
# replay work within it; a board further behind gets a snapshot. Hours, so a soak can use 0.1.
EVENT_RETENTION_HOURS = float(os.environ.get("EVENT_RETENTION_HOURS", str(31 * 24)))
EVENT_PRUNE_EVERY_SECONDS = float(os.environ.get("EVENT_PRUNE_EVERY_SECONDS", "600"))
if EVENT_RETENTION_HOURS <= 0 or EVENT_PRUNE_EVERY_SECONDS <= 0:
    raise ImproperlyConfigured("EVENT_RETENTION_HOURS and EVENT_PRUNE_EVERY_SECONDS must be > 0")
CELERY_BEAT_SCHEDULE["prune-event-log"] = {
    "task": "cad.tasks.prune_event_log",
    "schedule": EVENT_PRUNE_EVERY_SECONDS,
    "options": {"expires": EVENT_PRUNE_EVERY_SECONDS * 0.9},
}
# How long a board socket holds unit positions to send only the newest per unit; statuses and
# incidents never wait. Issue 4 allows 1-2 s; the hold is up to half of a radio fix's way to the
# board at issue 22's 1 s p99, so a quarter second (was half) leaves the rest more room. Its cost
# is a frame per desk per hold, about 47 µs of daphne's CPU each (bench/board_fanout.py
# --positions): while positions flow, 2 % of a core per 100 desks, 1 % more than at half a
# second. A browser's load is set by how often units report, not by this: at one fix per unit
# every 2.5 s the hold rarely merges two.
BOARD_POSITION_HOLD_SECONDS = float(os.environ.get("BOARD_POSITION_HOLD_SECONDS", "0.25"))
# Events are published after commit by several processes, so a board socket often receives an
# event just before the one it follows. It parks the early one this long, waiting for the other,
# before filling the gap from the Event table (a query per socket). A publish that arrives at all
# arrives within REDIS_PUBLISH_TIMEOUT_S (0.3 s) of being sent, after which it counts as failed;
# half a second covers that with room.
BOARD_GAP_GRACE_SECONDS = float(os.environ.get("BOARD_GAP_GRACE_SECONDS", "0.5"))
# At most this many events wait behind a gap on one socket (messages shared with the hub, so
# memory is small); past it the gap is filled at once. Half a second at 2,000 events/s.
BOARD_GAP_PARK_LIMIT = int(os.environ.get("BOARD_GAP_PARK_LIMIT", "1000"))
# A board socket with more than this written and not yet taken by the network is closed: its
# desk has stopped reading, and daphne would otherwise keep every later frame for it in memory.
# The desk reconnects and resyncs (cad/live/send_buffer.py). A slow desk stays far below it.
BOARD_SEND_BUFFER_LIMIT_BYTES = int(
    os.environ.get("BOARD_SEND_BUFFER_LIMIT_BYTES", str(16 * 1024 * 1024))
)
# A board socket re-checks its user's session, roles and scope at least this often (besides
# being told at once when they change, and at the moment its session would go idle).
BOARD_RECHECK_SECONDS = float(os.environ.get("BOARD_RECHECK_SECONDS", "60"))
if not 0 < BOARD_RECHECK_SECONDS <= 60:
    raise ImproperlyConfigured("BOARD_RECHECK_SECONDS must be more than 0 and at most 60")
RADIO_GATEWAY_ADAPTER = os.environ.get("RADIO_GATEWAY_ADAPTER", "radio.adapters.LoggingAdapter")
# The gateway's WebSocket (docs/radio-protocol.md): the bridge and WebSocketGatewayAdapter
# connect to it; a token, if set, is sent as `Authorization: Bearer`.
RADIO_GATEWAY_URL = os.environ.get("RADIO_GATEWAY_URL", "ws://127.0.0.1:8765/")
RADIO_GATEWAY_TOKEN = os.environ.get("RADIO_GATEWAY_TOKEN", "")
RADIO_SWEEP_AFTER_SECONDS = int(os.environ.get("RADIO_SWEEP_AFTER_SECONDS", "30"))
# GPS fixes of one stored batch are applied by one task (radio/positions.py); 0 = one task per
# message, as before (bench/radio_ingest.py --apply each compares the two).
RADIO_BATCH_POSITIONS = os.environ.get("RADIO_BATCH_POSITIONS", "1") != "0"
# ... and applied in the transaction that stores them, with no task (decision 0030); 0 = by the
# batch task after commit, as before.
RADIO_POSITIONS_INLINE = os.environ.get("RADIO_POSITIONS_INLINE", "1") != "0"
RADIO_DELIVERY_ALERT_SECONDS = int(os.environ.get("RADIO_DELIVERY_ALERT_SECONDS", "60"))
# How long a task taken by a worker that died unacknowledged (acks_late) waits on Redis before
# another worker takes it again. Longer than any task runs, or a slow task would run twice.
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
    "visibility_timeout": int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", "3600")),
    # A Redis that is gone (a dead host, a dropped route) fails a connect in a second, not the
    # kernel's minutes; and a command on a connection that went quiet gives up in a few seconds.
    # Longer than kombu's 1 s BRPOP poll, which waits on the same sockets in a worker.
    "socket_connect_timeout": float(os.environ.get("REDIS_CONNECT_TIMEOUT_S", "1")),
    "socket_timeout": float(os.environ.get("CELERY_BROKER_SOCKET_TIMEOUT_S", "5")),
}
# Task queues under keys of their own on a shared Redis, as CHANNEL_LAYER_PREFIX and
# CACHE_KEY_PREFIX keep the live layer and the cache apart: workers take only what processes
# with the same prefix queue. A bench's throw-away run sets one (bench/throwaway_database.py).
if os.environ.get("CELERY_KEY_PREFIX"):
    CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"] = os.environ["CELERY_KEY_PREFIX"]
# --- The collector (cad/startup_heap.py) -----------------------------------------------------
# Server processes (daphne, gunicorn, Celery workers, the radio bridge) freeze their start-up
# heap so full garbage collections skip it; about 170 ms each on CI's machine, in some request.
GC_FREEZE_AT_STARTUP = os.environ.get("GC_FREEZE_AT_STARTUP", "1") != "0"
# --- The Redis breaker (issue 23, cad/redis_breaker.py, docs/reliability.md) ---------------------
# Once a publish or a task's enqueue has failed, a process stops waiting on Redis: it keeps the
# sends and makes them when a background ping answers. REDIS_BREAKER=0 turns it off (every send
# tries Redis and waits for its timeouts, as before; the fault suite measures both).
REDIS_BREAKER = os.environ.get("REDIS_BREAKER", "1") != "0"
# The breaker is the retry: Celery's own (three tries over about 0.6 s) would hold the request.
CELERY_TASK_PUBLISH_RETRY = not REDIS_BREAKER
REDIS_BREAKER_PROBE_SECONDS = float(os.environ.get("REDIS_BREAKER_PROBE_SECONDS", "1"))
REDIS_BREAKER_PROBE_TIMEOUT_S = float(os.environ.get("REDIS_BREAKER_PROBE_TIMEOUT_S", "0.5"))
# Kept sends per process while Redis is down (about 100 s of a busy control room's events and
# tasks); the oldest go first. Every event is in the Event table and every task has a sweeper.
REDIS_BREAKER_BACKLOG = int(os.environ.get("REDIS_BREAKER_BACKLOG", "10000"))
# How long a live publish may wait for Redis before it counts as failed: it takes about 1 ms,
# and this is what the one request that finds Redis gone pays. A spurious trip (a process short
# of CPU misses it with Redis well) costs only a delay: the breaker pings at once and sends what
# it kept, each with REDIS_BREAKER_DRAIN_TIMEOUT_S, since no request waits on those.
REDIS_PUBLISH_TIMEOUT_S = float(os.environ.get("REDIS_PUBLISH_TIMEOUT_S", "0.3"))
REDIS_BREAKER_DRAIN_TIMEOUT_S = float(os.environ.get("REDIS_BREAKER_DRAIN_TIMEOUT_S", "1"))
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"

# --- Training (issue 20, decision 0016) ------------------------------------------------------
# A training instance is the same code run as its own processes with TRAINING=true: another
# database, another channel-layer prefix, cache prefix, broker key prefix and cookie names. Every
# query and socket of such a process can only reach training data, because its connections go
# nowhere else: there is no per-query flag to forget.
TRAINING = os.environ.get("TRAINING", "").lower() in {"1", "true", "yes"}
if TRAINING:
    live_name = str(DATABASES["default"]["NAME"])
    if os.environ.get("TRAINING_DATABASE_URL"):
        training_db = dj_database_url.parse(
            os.environ["TRAINING_DATABASE_URL"],
            conn_max_age=CONN_MAX_AGE,
            conn_health_checks=CONN_MAX_AGE > 0,
        )
        if DATABASES["default"]["ENGINE"] == "cad.db_pool" and training_db["ENGINE"] == (
            "django.db.backends.postgresql"
        ):
            # A training daphne serves pages and sockets as the live one does: the same pool.
            training_db["ENGINE"] = "cad.db_pool"
        DATABASES["default"] = {**DATABASES["default"], **training_db}
    elif live_name.endswith(".sqlite3"):
        DATABASES["default"]["NAME"] = live_name.removesuffix(".sqlite3") + "-training.sqlite3"
    else:
        DATABASES["default"]["NAME"] = f"{live_name}_training"
    if str(DATABASES["default"]["NAME"]) == live_name:
        raise ImproperlyConfigured("TRAINING_DATABASE_URL names the live database")
    for layer in CHANNEL_LAYERS.values():
        config = layer.get("CONFIG")
        if isinstance(config, dict):
            config["prefix"] = f"{config['prefix']}-training"
    CACHES["default"]["KEY_PREFIX"] = f"{CACHES['default'].get('KEY_PREFIX', '')}-training"
    # Live workers never take a training task (it would run against the live database).
    CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"] = (
        f"{CELERY_BROKER_TRANSPORT_OPTIONS.get('global_keyprefix', '')}training:"
    )
    # Live and training may be open side by side in one browser on one host (cookies ignore
    # the port): each keeps its own sign-in. The CSRF cookie keeps its name (the pages' scripts
    # read it); it holds no data, only a secret to compare with the form's.
    SESSION_COOKIE_NAME = "beacon_training_session"

# --- Auth -----------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    # Length beats composition rules (NCSC password guidance).
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Counts failed logins per (username, address) and per address (cad/accounts/lockout.py).
AUTHENTICATION_BACKENDS = ["cad.accounts.backends.GuardedModelBackend"]
LOGIN_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", "5"))
# One address may fail this often across all usernames (a room behind NAT shares one address).
LOGIN_ADDRESS_FAILURE_LIMIT = int(os.environ.get("LOGIN_ADDRESS_FAILURE_LIMIT", "50"))
LOGIN_LOCKOUT_SECONDS = int(os.environ.get("LOGIN_LOCKOUT_SECONDS", "600"))
# TOTP secrets are encrypted at rest with these Fernet keys (cad/accounts/totp_keys.py):
# comma-separated, newest first; the newest encrypts, all decrypt, so a new key can be put in
# front and the old one dropped after `manage.py rotate_totp_keys` (docs/security.md).
TOTP_ENCRYPTION_KEYS = env_list("TOTP_ENCRYPTION_KEYS", "")
if not TOTP_ENCRYPTION_KEYS:
    if PRODUCTION:
        raise ImproperlyConfigured(
            "TOTP_ENCRYPTION_KEYS must be set when DJANGO_ENV=production "
            "(a Fernet key: python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())')"
        )
    # Development only: derived from SECRET_KEY, so `make run` works with nothing set.
    TOTP_ENCRYPTION_KEYS = [
        base64.urlsafe_b64encode(
            hashlib.sha256(f"beacon-totp-key:{SECRET_KEY}".encode()).digest()
        ).decode()
    ]
# Sessions end after this long without user activity; the page warns this long before.
SESSION_IDLE_SECONDS = int(os.environ.get("SESSION_IDLE_SECONDS", "1800"))
SESSION_IDLE_WARNING_SECONDS = int(os.environ.get("SESSION_IDLE_WARNING_SECONDS", "300"))
# API tokens (cad/accounts/tokens.py): `Authorization: Token <key>`, ended by expiry, logout, a new
# password, a role or scope change or deactivation. Only a SHA-512 digest is stored (knox).
TOKEN_TTL_SECONDS = int(os.environ.get("TOKEN_TTL_SECONDS", str(12 * 3600)))
REST_KNOX = {
    "TOKEN_TTL": timedelta(seconds=TOKEN_TTL_SECONDS),
    "AUTO_REFRESH": False,
    "AUTH_HEADER_PREFIX": "Token",  # api.md: `Authorization: Token <token>`
}
# Request throttles (cad/api/throttles.py), "<count>/<second|minute|hour|day>": API sign-in per
# client address, the gazetteer's autocomplete per user, the public endpoints per client address.
THROTTLE_RATES = {
    "auth_token": os.environ.get("THROTTLE_AUTH_TOKEN_RATE", "20/minute"),
    "gazetteer": os.environ.get("THROTTLE_GAZETTEER_RATE", "120/minute"),
    "public": os.environ.get("THROTTLE_PUBLIC_RATE", "10/hour"),
    # Issue 15: the public status link (a token to guess), and the relaxed rate for the
    # addresses in PUBLIC_THROTTLE_RELAXED_NETWORKS (a load test's range, a trusted front end).
    "public_status": os.environ.get("THROTTLE_PUBLIC_STATUS_RATE", "60/minute"),
    "public_relaxed": os.environ.get("THROTTLE_PUBLIC_RELAXED_RATE", "100000/hour"),
}
PUBLIC_THROTTLE_RELAXED_NETWORKS = env_list("PUBLIC_THROTTLE_RELAXED_NETWORKS", "")
# Read X-Forwarded-For (its last hop) only behind a proxy that sets it (cad/audit/trail.py). Off in
# every profile: production is not always behind such a proxy, and a client reaching daphne
# directly would pick the address that the lockout counts and the audit trail records.
TRUST_X_FORWARDED_FOR = env_bool("TRUST_X_FORWARDED_FOR", False)
# Mail: only the admin's "send a reset link" action sends any. Development prints it on the
# console; production sends through the SMTP server configured here.
EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if PRODUCTION
    else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "beacon@localhost")
# How long a reset link works (Django's default is three days).
PASSWORD_RESET_TIMEOUT = int(os.environ.get("PASSWORD_RESET_TIMEOUT", str(24 * 3600)))
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "Europe/London"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = DEBUG
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # The token scheme first: DRF answers an unauthenticated request with the first
        # class's `WWW-Authenticate`, so anonymous API requests get 401 (not 403).
        "cad.accounts.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # DRF's three, its JSON parser wrapped to answer JSON nested too deep with a 400.
    "DEFAULT_PARSER_CLASSES": [
        "cad.api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "cad.api.schema.BeaconAutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "cad.api.errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Beacon CAD API",
    "DESCRIPTION": "Public interface of the Beacon computer-aided despatch system (v1).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # Swagger UI served from the installed sidecar package, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        # OpenAPI links between operations (create → assign → close …), for clients and fuzzing
        "cad.api.schema.add_links",
    ],
    "ENUM_NAME_OVERRIDES": {
        # The statuses an officer's phone may set are a subset of the unit's: both are named, or
        # the schema's two `status` enums collide (issue 14).
        "UnitStatusEnum": "resources.models.UnitStatus",
        "PhoneStatusEnum": "duties.officer.selectors.PHONE_STATUS_CHOICES",
    },
}

# --- Domain settings --------------------------------------------------------------------------
# The force's area: a generous box around Greater London. Positions outside it are refused.
FORCE_AREA_BOUNDS = {"min_lat": 51.25, "max_lat": 51.72, "min_lon": -0.56, "max_lon": 0.34}
DUPLICATE_RADIUS_M = int(os.environ.get("DUPLICATE_RADIUS_M", "200"))
DUPLICATE_WINDOW_MINUTES = int(os.environ.get("DUPLICATE_WINDOW_MINUTES", "60"))
# Callers' names and numbers are erased this long after an incident closes (incidents/retention.py;
# docs/security.md). Seven years (2,557 days with leap days) unless the force's policy says else.
RETENTION_CLOSED_INCIDENT_DAYS = int(os.environ.get("RETENTION_CLOSED_INCIDENT_DAYS", "2557"))
# Map tiles: none by default. OpenStreetMap's public servers forbid this use in their tile
# policy, and every tile request would tell a third party where despatchers are looking. Without
# tiles both maps still show borough boundaries and markers. Self-hosting: docs/operations.md.
MAP_TILE_URL = os.environ.get("MAP_TILE_URL", "")
# Shown in the maps' corner, as the tiles' licence requires (e.g. "© OpenStreetMap contributors").
MAP_TILE_ATTRIBUTION = os.environ.get("MAP_TILE_ATTRIBUTION", "")
DUTIES_MAX_HOURS_PER_7_DAYS = int(os.environ.get("DUTIES_MAX_HOURS_PER_7_DAYS", "60"))
HEALTHZ_TIMEOUT_S = float(os.environ.get("HEALTHZ_TIMEOUT_S", "2"))

# --- Operations (cad/ops/; docs/operations.md) -----------------------------------------------
# Bearer token for monitoring (/healthz/detail, /metrics); unset: only supervisors and admins.
MONITORING_TOKEN = os.environ.get("MONITORING_TOKEN", "")
# How long /healthz/detail waits for workers to answer the queue ping.
HEALTHZ_QUEUE_TIMEOUT_S = float(os.environ.get("HEALTHZ_QUEUE_TIMEOUT_S", "1"))
# Beat sends a task every 10 s (radio-undelivered-alert): silent for longer than this is down.
BEAT_STALE_SECONDS = int(os.environ.get("BEAT_STALE_SECONDS", "60"))
# Whether a radio bridge should be running (compose runs one); off: its check reports "off".
RADIO_BRIDGE_ENABLED = env_bool("RADIO_BRIDGE_ENABLED", False)
RADIO_BRIDGE_HEARTBEAT_SECONDS = float(os.environ.get("RADIO_BRIDGE_HEARTBEAT_SECONDS", "10"))
# An inbound radio message unapplied for longer than this is a stuck pipeline: the sweep
# (RADIO_SWEEP_AFTER_SECONDS, every 30 s) should have applied it by then.
RADIO_BACKLOG_MAX_AGE_SECONDS = int(os.environ.get("RADIO_BACKLOG_MAX_AGE_SECONDS", "120"))

# --- Security ---------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # the dependency-free JS reads it to send X-CSRFToken
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
# The Content-Security-Policy itself is cad/web/csp.py (MIDDLEWARE), the same in every profile.
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    # A load balancer's plain-HTTP health probe gets an answer, not a redirect to HTTPS.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", str(365 * 24 * 3600)))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_AGE = 12 * 3600  # one shift and a bit

# --- Logs (cad/ops/logs.py) -------------------------------------------------------------------
# JSON lines in production (one object per line: time, level, logger, message, request_id,
# task_id, task_name and any extra fields); plain text for a developer's terminal.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "json" if PRODUCTION else "plain")
if LOG_FORMAT not in {"json", "plain"}:
    raise ImproperlyConfigured("LOG_FORMAT must be 'json' or 'plain'")
DJANGO_GUID = {
    "GUID_HEADER_NAME": "X-Request-ID",
    # A proxy's id is kept when it is a UUID; anything else a caller sends is replaced.
    "VALIDATE_GUID": True,
    "RETURN_HEADER": True,
    "EXPOSE_HEADER": False,
}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {
            "()": "django_guid.log_filters.CorrelationId",
            "correlation_id_field": "request_id",
        },
        "task": {"()": "cad.ops.logs.TaskFilter"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "cad.ops.logs.json_formatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id", "task"],
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "django_guid": {"level": "WARNING"},
        # One line per request from cad/ops/logs.py instead of daphne's and gunicorn's own.
        "django.channels.server": {"level": "WARNING"},
    },
}
# Workers log through LOGGING too (JSON, request ids), not Celery's own format.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- Partner agencies and the records system (issue 18: docs/partners.md) ---------------------
# Our agency's EIDO identifier: the `updatedByAgencyReference` of every document we send and
# the tail of every id in it.
EIDO_AGENCY_ID = os.environ.get("EIDO_AGENCY_ID", "beacon.police.example")
# An inbound EIDO document larger than this is refused (400) before it is parsed.
EIDO_MAX_BYTES = int(os.environ.get("EIDO_MAX_BYTES", str(512 * 1024)))
# A shared incident's document not acknowledged by the partner within this time alerts the desks.
PARTNER_DELIVERY_ALERT_SECONDS = int(os.environ.get("PARTNER_DELIVERY_ALERT_SECONDS", "120"))
PARTNER_SEND_RETRIES = int(os.environ.get("PARTNER_SEND_RETRIES", "6"))
PARTNER_SEND_TIMEOUT_SECONDS = float(os.environ.get("PARTNER_SEND_TIMEOUT_SECONDS", "10"))
# A delivery still `queued` this long after it was queued had its task lost: queue it again
# (every minute). Longer than the send's retries take in all: 2 + 4 + ... + 60 s of backoff and
# up to PARTNER_SEND_TIMEOUT_SECONDS an attempt, about 200 s at the defaults.
PARTNER_SWEEP_AFTER_SECONDS = int(os.environ.get("PARTNER_SWEEP_AFTER_SECONDS", "300"))
# Crime reports drafted from calls go to the records system through this adapter (dotted path):
# incidents.crime.adapters.LoggingRecordsAdapter (default) or .JsonHttpsRecordsAdapter.
RECORDS_ADAPTER = os.environ.get(
    "RECORDS_ADAPTER", "incidents.crime.adapters.LoggingRecordsAdapter"
)
RECORDS_URL = os.environ.get("RECORDS_URL", "")
RECORDS_TOKEN = os.environ.get("RECORDS_TOKEN", "")
RECORDS_SEND_RETRIES = int(os.environ.get("RECORDS_SEND_RETRIES", "5"))
# A reviewed report still `submitted` this long after review had its task lost: queue it again
# (hourly). Longer than the send's retries (2, 4, 8 ... 120 s each) take in all.
CRIME_REPORT_SWEEP_AFTER_SECONDS = int(os.environ.get("CRIME_REPORT_SWEEP_AFTER_SECONDS", "3600"))
CELERY_BEAT_SCHEDULE["crime-reports-sweep"] = {
    "task": "incidents.crime.tasks.requeue_crime_reports",
    "schedule": 3600.0,
    "options": {"expires": 3000},
}
CELERY_BEAT_SCHEDULE["partner-deliveries-sweep"] = {
    "task": "resources.partners.tasks.requeue_partner_deliveries",
    "schedule": 60.0,
    "options": {"expires": 55},
}
CELERY_BEAT_SCHEDULE["partner-undelivered-alert"] = {
    "task": "resources.partners.tasks.alert_unacknowledged_partner_deliveries",
    "schedule": 15.0,
    "options": {"expires": 14},
}
# Closing codes that are crime outcomes: closing with one drafts the crime report.
CRIME_CLOSING_CODES = env_list("CRIME_CLOSING_CODES", "CRIME,ARREST")
# Performance figures (docs/stats.md): the share attended within target the force aims at, per
# grade (the trend chart's target line; the MPS aims at 90 % of I-grade calls within 15 min), and
# the forecast incidents per rostered officer per hour above which the roster marks a shift.
STATS_TARGET_PCT = {"I": 90.0, "S": 90.0}
# Response figures from the daily roll-up (incidents.ResponseDay, PostgreSQL only) rather than
# from every response row; off reads the rows (the same numbers, slower over long ranges).
STATS_RESPONSE_ROLLUP = env_bool("STATS_RESPONSE_ROLLUP", True)
FORECAST_DEMAND_PER_OFFICER = float(os.environ.get("FORECAST_DEMAND_PER_OFFICER", "0.5"))

# --- The public's side (issue 15; docs/public-contact.md) -------------------------------------
# Texts and emails: `log` (default) stores what would be sent and sends nothing; `notify` sends
# through GOV.UK Notify with the key and the two templates below (each only `((body))`, and
# `((subject))` for email); or a dotted path to a backend class.
NOTIFY_BACKEND = os.environ.get("NOTIFY_BACKEND", "log")
NOTIFY_API_KEY = os.environ.get("NOTIFY_API_KEY", "")
NOTIFY_SMS_TEMPLATE_ID = os.environ.get("NOTIFY_SMS_TEMPLATE_ID", "")
NOTIFY_EMAIL_TEMPLATE_ID = os.environ.get("NOTIFY_EMAIL_TEMPLATE_ID", "")
# Notify's callbacks carry this as `Authorization: Bearer <token>`; empty refuses every callback.
NOTIFY_CALLBACK_TOKEN = os.environ.get("NOTIFY_CALLBACK_TOKEN", "")
if PRODUCTION and NOTIFY_BACKEND == "notify" and not NOTIFY_API_KEY:
    raise ImproperlyConfigured("NOTIFY_API_KEY must be set when NOTIFY_BACKEND=notify")
# Sending retries (a transient Notify error): this many attempts in all, then failed.
NOTIFY_MAX_ATTEMPTS = int(os.environ.get("NOTIFY_MAX_ATTEMPTS", "5"))
# A reply of one of these words stops all texts to that number.
TEXT_OPT_OUT_WORDS = tuple(w.upper() for w in env_list("TEXT_OPT_OUT_WORDS", "STOP"))
# A message still queued after this long had its task lost: the sweeper queues it again.
CALLER_TEXT_SWEEP_AFTER_SECONDS = int(os.environ.get("CALLER_TEXT_SWEEP_AFTER_SECONDS", "120"))
# An online report untriaged this long raises the supervisors' alert.
ONLINE_REPORT_TRIAGE_ALERT_MINUTES = int(os.environ.get("ONLINE_REPORT_TRIAGE_ALERT_MINUTES", "60"))
