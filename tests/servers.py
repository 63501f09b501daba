"""Throwaway servers for tests: a private Redis we can stop, and the app under daphne."""

import os
import shutil
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listening on port {port} after {timeout}s")


class PrivateRedis:
    """A redis-server on a free port that a test may stop and start again."""

    def __init__(self):
        self.binary = shutil.which("redis-server")
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.process:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


# daphne's options as the Makefile and docker-compose.yml run it (a test holds them to it):
# handshakes may wait 30 s in a reconnect storm (default 5 s), and a message may be 8 MiB, not
# 1 MiB: autobahn refuses to *send* a larger one, and an all-London snapshot at 5,000 units is
# about 1.6 MB (docs/operations.md).
DAPHNE_OPTIONS = [
    "--websocket_connect_timeout", "30", "--websocket-max-message-size", str(8 * 2**20),
]  # fmt: skip


# gunicorn's options as docker-compose.yml runs it (a test holds them to it). gunicorn closes an
# idle keep-alive connection after 2 s by default, while a proxy keeps its upstream connections
# open far longer (nginx: 60 s) and reuses them. A request sent down a connection gunicorn has
# just closed fails, and a proxy does not retry a POST: the soak's despatcher saw a fifth of
# its creates fail that way (docs/benchmarks.md). So gunicorn keeps them longer than the proxy.
GUNICORN_OPTIONS = ["--keep-alive", "75"]


@contextmanager
def daphne_server(env: dict[str, str], *, inherit: bool = True):
    """Serve cad.asgi under daphne with `env` (added to this process's environment, or on its
    own with inherit=False, so a test can leave DATABASE_URL out); yields the base URL."""
    port = free_port()
    process = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "daphne") if (ROOT / ".venv/bin/daphne").exists()
         else "daphne", "-b", "127.0.0.1", "-p", str(port), *DAPHNE_OPTIONS,
         "cad.asgi:application"],
        cwd=ROOT, env={**os.environ, **env} if inherit else env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def subprocess_database_url() -> str:
    """The URL of the test database this run made (for servers started as subprocesses)."""
    db = settings.DATABASES["default"]
    auth = quote(db["USER"] or "", safe="")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"], safe="")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def venv_bin(name: str) -> str:
    path = ROOT / ".venv" / "bin" / name
    return str(path) if path.exists() else name


@contextmanager
def server_process(command: list[str], env: dict[str, str], port: int, log_path: Path):
    """Run a server command (its output to `log_path`) until the block ends; waits for its
    port. On a start-up failure the log's tail is in the exception."""
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        try:
            wait_for_port(port, timeout=60)
        except TimeoutError as exc:
            raise TimeoutError(
                f"{command[0]} did not start:\n{log_path.read_text()[-3000:]}"
            ) from exc
        yield process
    finally:
        stop_process(process)


def stop_process(process: subprocess.Popen) -> None:
    """SIGTERM, and SIGKILL if it has not gone within 20 s."""
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def wait_until(what: str, check, timeout: float = 60.0):
    """check()'s first truthy result, polled every 0.1 s; AssertionError after `timeout` s
    (an upper bound on waiting for a real process, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"gave up waiting for {what}")
