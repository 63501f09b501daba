# One image for every Beacon process (web, api, workers, beat, radio bridge); docker-compose.yml
# picks the command. Two stages: the locked dependencies are built into a virtualenv in a layer
# that is rebuilt only when requirements.txt changes, then copied into a slim runtime.

# --- dependencies: exactly the pins (and hashes) in requirements.txt -------------------------
FROM python:3.11-slim AS deps
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
COPY requirements.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install --require-hashes -r /tmp/requirements.txt

# --- runtime ---------------------------------------------------------------------------------
FROM python:3.11-slim
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
# copies). The key only satisfies the production profile's check; nothing is signed at build.
RUN SECRET_KEY=collectstatic-at-build-time-only python manage.py collectstatic --noinput -v 0
USER beacon
EXPOSE 8000
# The web process's /healthz (minimal: up or down). Other services override this in compose.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-m", "cad.ops.probe", "http", "8000"]
CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "cad.asgi:application"]
