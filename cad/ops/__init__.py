"""Running Beacon in production: what operators and their monitoring see of it.

Health (`health.py`: the anonymous `/healthz` and the authenticated `/healthz/detail`, with the
database, Redis, every Celery queue, beat, the radio bridge and the radio backlog), the
heartbeats that long-running processes leave for it (`heartbeats.py`), the protected Prometheus
endpoint and its control-room figures (`metrics.py`), structured JSON logs with a request id
carried into Celery tasks (`logging.py`), the container probe (`probe.py`), and backup and
restore of PostgreSQL (`backup.py`). Higher apps (radio, resources) contribute their own checks
and figures through the registries here, so this package imports nothing above `cad`.
"""
