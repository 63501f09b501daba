"""Backup and restore of the PostgreSQL database (docs/operations.md, "Backup and restore").

`manage.py db_backup FILE` runs pg_dump in its custom format (compressed; pg_restore can restore
it whole or in part, in parallel). `manage.py db_restore FILE --into NAME` creates a *fresh*
database on the same server and restores into it with pg_restore in one transaction (all or
nothing), then checks what a control room cannot lose: the event sequence is gapless and its
counter is at its last number, and the audit trail is there with its append-only triggers.
It refuses a database that already exists: restoring over live data is a decision for a
person, made by dropping or renaming that database first.

The tools are PostgreSQL's own; the client must be as new as the server (the Docker image
installs Debian's postgresql-client).
"""

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psycopg2
from django.conf import settings
from django.db import connection
from psycopg2 import sql


class BackupError(Exception):
    """The dump or restore failed, or the restored copy is not whole."""


@dataclass(frozen=True)
class Server:
    host: str
    port: str
    user: str
    password: str
    name: str

    @classmethod
    def from_settings(cls) -> "Server":
        db = settings.DATABASES["default"]
        if connection.vendor != "postgresql":  # daphne's ENGINE is the pooled one (cad.db_pool)
            raise BackupError("backup and restore need PostgreSQL (DATABASE_URL)")
        return cls(
            host=db.get("HOST") or "127.0.0.1",
            port=str(db.get("PORT") or 5432),
            user=db.get("USER") or "postgres",
            password=db.get("PASSWORD") or "",
            name=db["NAME"],
        )

    def env(self) -> dict[str, str]:
        """libpq's variables, so no password appears on a command line (or in `ps`)."""
        env = {**os.environ, "PGHOST": self.host, "PGPORT": self.port, "PGUSER": self.user}
        if self.password:
            env["PGPASSWORD"] = self.password
        return env

    def connect(self, dbname: str):
        return psycopg2.connect(
            host=self.host, port=self.port, user=self.user, password=self.password or None,
            dbname=dbname, connect_timeout=10,
        )  # fmt: skip


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupError(f"{name} not found: install PostgreSQL's client tools")
    return path


def _run(args: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(args, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise BackupError(f"{Path(args[0]).name} failed: {result.stderr.strip()[-2000:]}")


def backup(path: Path, *, server: Server | None = None) -> Path:
    """Dump the whole database to `path` (custom format)."""
    server = server or Server.from_settings()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _run(
        [_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges",
         f"--file={path}", server.name],
        server.env(),
    )  # fmt: skip
    return path


def restore(path: Path, *, into: str, server: Server | None = None) -> dict[str, int]:
    """Create database `into` and restore `path` into it; returns what `verify` found."""
    server = server or Server.from_settings()
    if not Path(path).is_file():
        raise BackupError(f"no backup at {path}")
    admin = server.connect("postgres")
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [into])
            if cursor.fetchone():
                raise BackupError(f"database {into!r} exists: restore only into a fresh one")
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(into)))
    finally:
        admin.close()
    _run(
        [_tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error",
         "--single-transaction", f"--dbname={into}", str(path)],
        server.env(),
    )  # fmt: skip
    return verify(into, server=server)


def verify(dbname: str, *, server: Server | None = None) -> dict[str, int]:
    """Check a restored database: a gapless event sequence ending at the counter, the audit
    trail present and still append-only."""
    server = server or Server.from_settings()
    conn = server.connect(dbname)
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT last_seq FROM cad_eventcounter WHERE id = 1")
            row = cursor.fetchone()
            last_seq = row[0] if row else 0
            cursor.execute(
                "SELECT count(*), coalesce(min(seq), 0), coalesce(max(seq), 0) FROM cad_event"
            )
            events, first, last = cursor.fetchone()
            cursor.execute("SELECT count(*) FROM cad_auditevent")
            (audit,) = cursor.fetchone()
            cursor.execute(
                "SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal"
                " AND tgrelid = 'cad_auditevent'::regclass"
            )
            (audit_triggers,) = cursor.fetchone()
    finally:
        conn.close()
    if events and (last - first + 1 != events or last != last_seq):
        raise BackupError(
            f"event sequence not whole: {events} events from {first} to {last}, counter {last_seq}"
        )
    if audit_triggers == 0:
        raise BackupError("the audit trail lost its append-only triggers")
    return {"events": events, "last_seq": last_seq, "audit_events": audit}
