"""The fault suite's own stack: a PostgreSQL cluster and a redis-server of its own, daphne and a
Celery worker pointed at them, a TCP proxy that can slow Redis, a load of incident creates, and
the record each fault keeps (docs/reliability.md).

Nothing here touches the shared PostgreSQL (5432) or Redis (6379): every fault is injected into
a server this module started, on a free port, in a temporary directory.
"""

import asyncio
import contextlib
import gc
import glob
import http.client
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import msgpack  # type: ignore[import-untyped]
import psycopg2
import redis
from websockets.sync.client import connect as ws_connect

from tests.servers import ROOT, PrivateRedis, free_port, venv_bin, wait_for_port

REPORT_DIR = ROOT / "var" / "faults"
# Inside the Camden square of tests/factories.make_geography (51.545, -0.16, half 0.02), spread
# out so that each create does not list all the others as possible duplicates.
LAT, LON, SPREAD = 51.545, -0.16, 0.018


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if found:
        return found[-1]
    which = shutil.which(name)
    if which is None:
        raise RuntimeError(f"PostgreSQL's {name} is needed for the fault suite")
    return which


class PrivatePostgres:
    """A PostgreSQL cluster in a temporary directory, run as the `postgres` user, on a free
    port, that a test may stop, restart and kill."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="beacon-faults-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")

    def _run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess:
        as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        return subprocess.run(  # noqa: S603  (our own command line)
            [*as_postgres, *command], check=check, capture_output=True, text=True, timeout=120
        )

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/beacon"

    def init(self) -> None:
        self._run(_pg_bin("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "-E", "UTF8", "--no-sync")  # fmt: skip
        self.start()
        self._run(_pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                  "beacon")  # fmt: skip

    def _ctl(self, action: str, *extra: str) -> None:
        # fsync off: a stop here is a server crash, never the machine's, so what was written is
        # in the OS's cache. Commits stay synchronous: an acknowledged create must survive it.
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c full_page_writes=off")  # fmt: skip
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"),
                  "-o", options, "-w", "-t", "60", action, *extra)  # fmt: skip

    def start(self) -> None:
        self._ctl("start")
        wait_for_port(self.port)

    def restart(self) -> None:
        """A fast restart: sessions are ended, transactions in flight roll back."""
        self._ctl("restart", "-m", "fast")

    def stop(self) -> None:
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop",
                  check=False)  # fmt: skip

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        conn = psycopg2.connect(self.url, connect_timeout=5)
        try:
            with conn.cursor() as cursor:
                cursor.execute(sql, params)
                return cursor.fetchall()
        finally:
            conn.close()


class LatencyProxy:
    """A TCP proxy in front of Redis (asyncio, its own thread) that can hold every reply for
    `delay` seconds: a slow Redis, not a dead one. Order within a connection is kept."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = free_port()
        self.delay = 0.0
        self.loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        threading.Thread(target=self.loop.run_forever, daemon=True, name="latency-proxy").start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))
        # Cancelled at close: end quietly (asyncio logs a connection callback that raises).
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(
                self._pump(reader, up_writer, slow=False),
                self._pump(up_reader, writer, slow=True),
                return_exceptions=True,
            )

    async def _pump(self, reader, writer, *, slow: bool) -> None:
        queue: asyncio.Queue = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                if data is None:
                    break
                await asyncio.sleep(max(0.0, due - self.loop.time()))
                writer.write(data)
                await writer.drain()

        sender = asyncio.create_task(deliver())
        try:
            while data := await reader.read(65536):
                await queue.put((self.loop.time() + (self.delay if slow else 0.0), data))
        finally:
            await queue.put((0, None))
            with contextlib.suppress(Exception):
                await sender
            writer.close()

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in self._writers:
            writer.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)


class Stack:
    """daphne (the web and API) and one Celery worker, on `database_url` and `redis_url`."""

    def __init__(self, *, database_url: str, redis_url: str, logs: Path, **env: str) -> None:
        self.logs = logs
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "CHANNEL_LAYER_PREFIX": "faults",
            "DJANGO_SETTINGS_MODULE": "cad.settings",
            "DB_CONN_MAX_AGE": "0",
            # The breaker is on unless the run turns it off (REDIS_BREAKER=0 make faults shows
            # what each fault does without it).
            "REDIS_BREAKER": os.environ.get("REDIS_BREAKER", "1"),
            **env,
        }
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.daphne: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None
        self.beat: subprocess.Popen | None = None

    def _spawn(self, name: str, command: list[str]) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115  (the child holds it)
        return subprocess.Popen(  # noqa: S603  (our own command line)
            command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def start_daphne(self) -> None:
        self.daphne = self._spawn(
            "daphne",
            [venv_bin("daphne"), "-b", "127.0.0.1", "-p", str(self.port), "cad.asgi:application"],
        )
        wait_for_port(self.port, timeout=60)

    def start_worker(self) -> None:
        self.worker = self._spawn("worker", [
            venv_bin("celery"), "-A", "cad", "worker",
            "-Q", "default,radio,recommend,texts,report_texts",
            "-P", "solo", "-n", f"faults-{uuid.uuid4().hex[:6]}@%h", "-l", "info",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
        ])  # fmt: skip

    def start_beat(self) -> None:
        """Celery beat, for the sweepers (the radio sweep every 30 s)."""
        self.beat = self._spawn("beat", [
            venv_bin("celery"), "-A", "cad", "beat", "-l", "info",
            "-s", str(self.logs / "beat-schedule"),
        ])  # fmt: skip

    def start(self) -> "Stack":
        self.start_daphne()
        self.start_worker()
        return self

    @staticmethod
    def _end(process: subprocess.Popen | None, sig: int = signal.SIGTERM) -> None:
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, sig)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def kill_daphne(self) -> None:
        self._end(self.daphne, signal.SIGKILL)

    def stop(self) -> None:
        self._end(self.daphne)
        self._end(self.worker)
        self._end(self.beat)


def manage(database_url: str, *args: str) -> str:
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": "",
           "DJANGO_SETTINGS_MODULE": "cad.settings"}  # fmt: skip
    done = subprocess.run(  # noqa: S603  (our own command line)
        [venv_bin("python"), "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    if done.returncode:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


SEED = """
from knox.models import AuthToken
from cad.accounts.services import user_provision
from incidents.models import IncidentType
from tests.factories import make_geography
make_geography()
IncidentType.objects.get_or_create(code="VIOL", defaults={"name": "Violence",
    "category": "crime", "default_grade": "I"})
user, _ = user_provision(username="faults", role="call_handler", bcu_code=None, password=None)
print("TOKEN", AuthToken.objects.create(user=user)[1])
user_provision(username="faults-desk", role="despatcher", bcu_code=None, password=DESK_PASSWORD)
"""
DESK = "faults-desk"  # a central despatcher: the board's stream is every event
DESK_PASSWORD = "a-Strong-fault-pass-42"


def seed(database_url: str) -> str:
    """Migrate the private database and add a geography, a type and a call handler's token."""
    manage(database_url, "migrate", "--noinput", "-v", "0")
    out = manage(database_url, "shell", "-c", f"DESK_PASSWORD = {DESK_PASSWORD!r}\n{SEED}")
    return next(line.split()[1] for line in out.splitlines() if line.startswith("TOKEN"))


@dataclass
class Answer:
    key: str
    at: float  # monotonic, when sent
    ms: float
    status: int  # 0: no answer (refused, reset)
    incident: int | None = None
    phase: str = ""


@dataclass
class Load:
    """Incident creates at a steady rate from one thread, each with its own Idempotency-Key and
    summary, so what was saved can be matched to what was acknowledged."""

    base: str
    token: str
    rate: float = 10.0
    answers: list[Answer] = field(default_factory=list)
    phase: str = "before"
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="load")
        host, port = self.base.removeprefix("http://").split(":")
        self._address = (host, int(port))
        self._conn: http.client.HTTPConnection | None = None
        self._rng = random.Random(self.run_id)

    def create(self, key: str) -> tuple[int, int | None]:
        body = json.dumps({
            "type": "VIOL", "summary": key,
            "location": {"lat": LAT + self._rng.uniform(-SPREAD, SPREAD),
                         "lon": LON + self._rng.uniform(-SPREAD, SPREAD),
                         "address": "1 Fault Street"},
            "caller": {"name": "Fault Caller", "phone": "07700900000"},
        })  # fmt: skip
        headers = {"Authorization": f"Token {self.token}", "Content-Type": "application/json",
                   "Idempotency-Key": key}  # fmt: skip
        try:
            if self._conn is None:
                self._conn = http.client.HTTPConnection(*self._address, timeout=30)
            self._conn.request("POST", "/api/v1/incidents/", body, headers)
            response = self._conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            if self._conn is not None:
                self._conn.close()
            self._conn = None
            return 0, None
        incident = json.loads(data).get("id") if response.status == 201 else None
        return response.status, incident

    def _run(self) -> None:
        n = 0
        next_at = time.monotonic()
        while not self._stop.is_set():
            n += 1
            key = f"fault-{self.run_id}-{n}"
            t0 = time.monotonic()
            status, incident = self.create(key)
            ms = (time.monotonic() - t0) * 1000
            self.answers.append(Answer(key, t0, ms, status, incident, self.phase))
            next_at += 1 / self.rate
            time.sleep(max(0.0, next_at - time.monotonic()))

    def start(self) -> "Load":
        # The latency measured is the server's: this process's own full collections (pytest's
        # heap, about 200 ms each here) would land inside some of its requests' timings. The
        # servers freeze theirs in the same way (cad/startup_heap.py).
        gc.collect()
        gc.freeze()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)
        gc.unfreeze()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def latency(ms: list[float]) -> dict:
    return {
        "creates": len(ms),
        "p50_ms": round(statistics.median(ms), 1) if ms else None,
        "p90_ms": round(percentile(ms, 90), 1) if ms else None,
        "p99_ms": round(percentile(ms, 99), 1) if ms else None,
        "max_ms": round(max(ms), 1) if ms else None,
    }


def saved_summaries(pg: PrivatePostgres, run_id: str) -> set[str]:
    rows = pg.query("SELECT summary FROM incidents_incident WHERE summary LIKE %s",
                    (f"fault-{run_id}-%",))  # fmt: skip
    return {row[0] for row in rows}


def report(name: str, load: Load, saved: set[str], *, recovery_s: float | None,
           fault_phase: str, extra: dict | None = None) -> dict:  # fmt: skip
    """What each fault records: requests made, answers by status, what was saved against what
    was acknowledged, latency while the fault lasted, and the time to recover. Printed, and
    written to var/faults/<name>.json for docs/reliability.md."""
    answers = load.answers
    acknowledged = {a.key for a in answers if a.status == 201}
    during = [a.ms for a in answers if a.phase == fault_phase and a.status == 201]
    figures = {
        "fault": name,
        "breaker": os.environ.get("REDIS_BREAKER", "1") != "0",
        "requests": len(answers),
        "by_status": dict(sorted(Counter(str(a.status) for a in answers).items())),
        "acknowledged": len(acknowledged),
        "saved": len(saved),
        "acknowledged_not_saved": len(acknowledged - saved),
        "saved_not_acknowledged": len(saved - acknowledged),
        "during_fault": latency(during),
        "by_phase": {
            phase: latency([a.ms for a in answers if a.phase == phase and a.status == 201])
            for phase in dict.fromkeys(a.phase for a in answers)
        },
        "recovery_s": None if recovery_s is None else round(recovery_s, 2),
        **(extra or {}),
    }
    return record(name, figures)


def record(name: str, figures: dict) -> dict:
    """Print a fault's figures and keep them in var/faults/ (a run without the breaker apart)."""
    if os.environ.get("REDIS_BREAKER", "1") == "0":
        name = f"{name}-no-breaker"
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    (REPORT_DIR / f"{name}.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(f"\nfault {name}: {json.dumps(figures)}")
    return figures


class Published:
    """Every board event published on a Redis, read straight from it (subscribed to the central
    desks' stream), so a test sees what reached the channel layer whatever the app's processes
    think. Reconnects every 50 ms while Redis is away, so it is listening again well within the
    breaker's settling time (two probes) once Redis is back."""

    def __init__(self, redis_url: str) -> None:
        self.url = redis_url
        self.seqs: dict[int, float] = {}
        self._stop = threading.Event()
        self._ready = threading.Event()
        threading.Thread(target=self._run, daemon=True, name="published").start()
        self._ready.wait(10)

    def _run(self) -> None:
        while not self._stop.is_set():
            client = redis.Redis.from_url(self.url, socket_connect_timeout=0.2)
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe("faults__group__board.all")
                self._ready.set()
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=0.2)
                    if message and message.get("type") == "message":
                        self._take(message["data"])
            except (redis.RedisError, OSError):
                time.sleep(0.05)
            finally:
                with contextlib.suppress(Exception):
                    pubsub.close()
                    client.close()

    def _take(self, data: bytes) -> None:
        payload = msgpack.unpackb(data, raw=False)
        for item in payload.get("items") or [payload]:
            seq = item.get("seq")
            if seq is not None:
                self.seqs.setdefault(seq, time.monotonic())

    def close(self) -> None:
        self._stop.set()


def sign_in(base: str, username: str, password: str) -> str:
    """Sign in through the login form as a browser does; returns the Cookie header."""
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.request("GET", "/accounts/login/")
    page = conn.getresponse()
    html = page.read().decode()
    cookies = _cookies(page)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]
    body = urllib.parse.urlencode({"username": username, "password": password,
                                   "csrfmiddlewaretoken": token})  # fmt: skip
    conn.request("POST", "/accounts/login/", body, {
        "Content-Type": "application/x-www-form-urlencoded", "Referer": f"{base}/accounts/login/",
        "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items()),
    })  # fmt: skip
    answer = conn.getresponse()
    answer.read()
    cookies.update(_cookies(answer))
    conn.close()
    if answer.status != 302 or "sessionid" not in cookies:
        raise RuntimeError(f"sign-in failed: {answer.status}")
    return "; ".join(f"{k}={v}" for k, v in cookies.items())


def _cookies(response: http.client.HTTPResponse) -> dict[str, str]:
    found = {}
    for header in response.headers.get_all("Set-Cookie") or []:
        name, _, rest = header.partition("=")
        found[name.strip()] = rest.split(";", 1)[0]
    return found


class Board:
    """A despatcher's board socket that behaves as static/js/live.js does: on `hello` it
    remembers the seq, on every event the seq, and when the socket drops it reconnects (every
    0.2 s) and sends `resync` from the last seq it holds. Records what it received."""

    def __init__(self, ws_url: str, cookie: str, origin: str) -> None:
        self.ws_url, self.cookie, self.origin = ws_url, cookie, origin
        self.first: int | None = None
        self.last = 0
        self.received: list[int] = []
        self.drops = 0
        self.resynced_at: list[float] = []
        self.snapshots = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="board")
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with ws_connect(self.ws_url, additional_headers={
                    "Cookie": self.cookie, "Origin": self.origin}, open_timeout=5,
                ) as ws:  # fmt: skip
                    self._session(ws)
            except Exception:  # noqa: BLE001  (down: try again, as the page does)
                pass
            if not self._stop.is_set():
                self.drops += 1
                time.sleep(0.2)

    def _session(self, ws) -> None:
        while not self._stop.is_set():
            try:
                frame = json.loads(ws.recv(timeout=0.5))
            except TimeoutError:
                continue
            kind = frame.get("type")
            if kind == "hello":
                if self.first is None:
                    self.first = self.last = frame["seq"]
                else:
                    ws.send(json.dumps({"type": "resync", "since": self.last}))
            elif kind == "resynced":
                self.last = max(self.last, frame["seq"])
                self.resynced_at.append(time.monotonic())
            elif kind == "snapshot":
                self.snapshots += 1
                self.last = max(self.last, frame.get("seq", 0))
            elif "seq" in frame and "data" in frame:
                self.received.append(frame["seq"])
                self.last = max(self.last, frame["seq"])

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def kill_redis(server: PrivateRedis) -> None:
    """SIGKILL, as a crash: no goodbye to its clients."""
    if server.process is not None:
        server.process.kill()
        server.process.wait(timeout=10)
        server.process = None
