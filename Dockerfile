# One image for every Beacon process (web, worker, beat); docker-compose.yml picks the command.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY . .
RUN pip install --upgrade pip && pip install . \
    && python manage.py collectstatic --noinput -v 0 \
    && useradd --system beacon && chown -R beacon /app
USER beacon
EXPOSE 8000
CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "cad.asgi:application"]
