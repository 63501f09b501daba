# One image for every Beacon process (web, api, workers, beat, radio bridge); docker-compose.yml
# picks the command. Two stages: the locked dependencies are built into a virtualenv in a layer
# that is rebuilt only when requirements.txt changes, then copied into a slim runtime.

# The base: Docker Hub's python:3.11-slim. A build where Docker Hub cannot be reached passes a
# local image with the same contract (Debian bookworm, Python 3.11 as `python`, venv, apt):
#   docker build --build-arg BASE_IMAGE=<local image> .   (docs/operations.md, "Docker")
ARG BASE_IMAGE=python:3.11-slim

# --- dependencies: exactly the pins (and hashes) in requirements.txt -------------------------
FROM ${BASE_IMAGE} AS deps
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
COPY requirements.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install --require-hashes -r /tmp/requirements.txt

# --- runtime ---------------------------------------------------------------------------------
FROM ${BASE_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PATH=/opt/venv/bin:$PATH \
    DJANGO_SETTINGS_MODULE=cad.settings DJANGO_ENV=production
# pg_dump/pg_restore for `manage.py db_backup` / `db_restore` (docs/operations.md).
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-client \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /app --shell /usr/sbin/nologin beacon
COPY --from=deps /opt/venv /opt/venv
WORKDIR /app
# The code stays owned by root: the service account can read it, not change it.
COPY . .
# Static files with the manifest that production's storage reads (hashed names, compressed
# copies). The keys only satisfy the production profile's checks (SECRET_KEY, and a Fernet key
# for TOTP_ENCRYPTION_KEYS: base64 of "collectstatic-at-build-time-only"); nothing is signed or
# encrypted at build, and neither stays in the image's environment.
RUN SECRET_KEY=collectstatic-at-build-time-only \
    TOTP_ENCRYPTION_KEYS=Y29sbGVjdHN0YXRpYy1hdC1idWlsZC10aW1lLW9ubHk= \
    python manage.py collectstatic --noinput -v 0
USER beacon
EXPOSE 8000
# The web process's /healthz (minimal: up or down). Other services override this in compose.
# Run as a file with -P (no script directory on sys.path), not `-m cad.ops.probe`: importing
# the `cad` package loads the Celery app, 4-5 s on a busy host, past this 5 s timeout.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-P", "/app/cad/ops/probe.py", "http", "8000"]
CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "cad.asgi:application"]
