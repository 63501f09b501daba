"""Soak: the whole system under a steady control-room load for a long time (issue 23, point 4).

    DATABASE_URL=postgres://postgres@127.0.0.1/beacon_x REDIS_URL=redis://127.0.0.1:6379/4 \
        .venv/bin/python bench/soak.py --duration 3600          (the issue's size, an hour)
    ... --small        (CI size, as tests/test_bench_soak.py runs it: 30 s, 200 units, 6 sockets)

What runs, all on this machine, against a throw-away database (bench_soak[_<tag>]_<name>) and
the Redis database of REDIS_URL, which it FLUSHES first (radio_ingest.py says why):
- daphne (cad.asgi, channels-redis) for the board sockets and gunicorn (cad.wsgi) for the REST
  API, as docs/operations.md's proxy splits them (`--api daphne`: REST on daphne too), two
  Celery workers (the `radio` queue, and `default`, `recommend` and `texts`), Celery beat (so
  the beat jobs run as in production, among them the event-log prune), the real radio bridge
  (`manage.py radio_bridge`);
- the load gateway of bench/radio_ingest.py: `--units` units reporting positions at
  `--radio-rate` messages/s in total, with the protocol's acks and resends (it counts what was
  never acked);
- a scripted despatcher: `--incident-rate` incidents/s created through the API (as a call
  handler), each assigned a unit of its BCU at once and closed `--incident-life` s later;
- `--sockets` board sockets (`--central` of them all-London desks, the rest BCU desks in turn),
  each reconnecting and resyncing from its last seq when dropped, as board.js does.

Each `--window` s it prints: creates (count, failures, p50/p99 of the request), push (p50/p99
from the create request's start to its `incident.created` at each desk that should see it),
radio lag (p50/p99 from a fix's `sent_at` to the first `unit.updated` that brings it to a desk,
including the consumer's hold; bench/fix_delivery.py says why "first"), the event log (rows,
pruned through), the database's size and the RSS of every process it started. At the end:
lost (radio messages never acked, acked but not stored or never applied; incidents a desk should
have seen and neither saw nor had in a snapshot), RSS growth of each server process after
`--warmup`, the database's growth per hour, and a verdict.

Retention is exercised: events are kept `--retention` s (EVENT_RETENTION_HOURS), beat prunes
every `--prune-every` s, and the soak writes an on-demand replay checkpoint each window (as the
beat's checkpoint job does every few minutes), so the prune has a base. Clock: time.time().

Vacuum: a production PostgreSQL runs autovacuum, which reclaims what the prune deletes and what
each applied radio message and moved unit leaves behind. A server with `autovacuum = off` (this
workplace's machines) would instead grow by gigabytes an hour and slow every write as its tables
bloat, which measures the server's configuration, not Beacon. There the soak stands in for it
from its own connection: every `--vacuum-every` s it vacuums and analyzes what autovacuum would,
by autovacuum's rules and pace (bench/autovacuum_stand_in.py), and the report says what it did.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import multiprocessing
import os
import random
import signal
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from queue import Empty

import radio_ingest  # first: it puts the repository on sys.path and sets Django up (see below)

# radio_ingest gave this process a long statement timeout, for making and dropping the
# throw-away database on a busy machine; the servers get the usual one back.
STATEMENT_TIMEOUT_MS = radio_ingest.STATEMENT_TIMEOUT_MS
ROOT = radio_ingest.ROOT

import redis  # noqa: E402
import websockets  # noqa: E402
from autovacuum_stand_in import Round, server_rules, stand_in_round  # noqa: E402
from board_fanout import daphne, frame_messages  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from fix_delivery import NewFixes  # noqa: E402
from soak_verdict import soak_verdict  # noqa: E402
from throwaway_database import database_url, throwaway_database  # noqa: E402

from tests.servers import free_port  # noqa: E402

BCUS = ["CN", "CE", "CW", "NA", "NE", "NW", "SE", "SW"]
CELL = 0.11  # each BCU a square borough this many degrees wide, in a 4 x 2 grid
LAT0, LON0 = radio_ingest.LAT0, radio_ingest.LON0
SERVERS = ("daphne", "gunicorn", "celery-radio", "celery-default", "beat", "bridge")
# The soak's own load (the desks, the despatcher, the radio gateway) shares the machine with the
# servers. Where the machine has no CPU to spare, a desk starved of it stops reading and daphne
# keeps its frames: in stop 33's runs every desk's socket backed up at once, tens of MB in all,
# and daphne's RSS rose 137 -> 182 MB while its hub was never a second behind. So the load runs
# at this nice value where it may (root, CAP_SYS_NICE), and the servers, PostgreSQL and Redis at
# theirs: any wait for the CPU then falls on the servers, which in production would not share
# their machine with the desks at all.
HARNESS_NICE = -5


def favour_harness(pid: int = 0) -> bool:
    """Run this thread (pid 0; threads it starts inherit it) or that process's main thread at
    HARNESS_NICE. False where not permitted."""
    try:
        os.setpriority(os.PRIO_PROCESS, pid, HARNESS_NICE)
    except PermissionError:
        return False
    return True


def cell_centre(k: int) -> tuple[float, float]:
    return LAT0 + CELL / 2 + CELL * (k // 4), LON0 + CELL / 2 + CELL * (k % 4)


# --- figures ------------------------------------------------------------------------------------


class Histogram:
    """Milliseconds in bins (1 ms below 1 s, 10 ms to 10 s, 100 ms beyond): percentiles of
    millions of samples in a few kilobytes, to within a bin."""

    def __init__(self) -> None:
        self.bins: Counter[int] = Counter()
        self.n = 0

    def add(self, ms: float) -> None:
        ms = max(ms, 0.0)
        step = 1 if ms < 1000 else 10 if ms < 10_000 else 100
        self.bins[int(ms // step) * step] += 1
        self.n += 1

    def pct(self, p: float) -> float | None:
        if not self.n:
            return None
        target, seen = p / 100 * (self.n - 1), 0
        for value in sorted(self.bins):
            seen += self.bins[value]
            if seen > target:
                return float(value)
        return float(max(self.bins))


class Window:
    def __init__(self, index: int, start: float) -> None:
        self.index, self.start = index, start
        self.create, self.push, self.radio = Histogram(), Histogram(), Histogram()
        self.created = self.failed = self.closed = self.unassigned = 0
        self.failures: Counter[int] = Counter()  # failed creates by HTTP status (0: no answer)
        self.samples: list[dict] = []  # RSS and database, every --sample s


class Figures:
    def __init__(self, t0: float, window: float) -> None:
        self.t0, self.length = t0, window
        self.windows: list[Window] = []
        # The despatcher's threads and the event loop both write (re-entrant: `at` takes it too).
        self.lock = threading.RLock()

    def at(self, t: float) -> Window:
        index = max(0, int((t - self.t0) // self.length))
        with self.lock:
            while len(self.windows) <= index:
                start = self.t0 + len(self.windows) * self.length
                self.windows.append(Window(len(self.windows), start))
            return self.windows[index]


# --- the scripted despatcher (threads: http.client is blocking) --------------------------------


class Despatcher:
    """Creates, assigns and closes incidents at a steady rate through the REST API."""

    def __init__(self, port: int, handler_token: str, desk_token: str, figures: Figures,
                 rate: float, life: float) -> None:  # fmt: skip
        self.port, self.figures, self.rate, self.life = port, figures, rate, life
        self.handler = {"Authorization": f"Token {handler_token}",
                        "Content-Type": "application/json"}  # fmt: skip
        self.desk = {"Authorization": f"Token {desk_token}", "Content-Type": "application/json"}
        self.local = threading.local()
        self.rng = random.Random(23)
        self.free: dict[str, deque[str]] = {}  # call signs free to send, per BCU
        self.sent_at: dict[str, float] = {}  # summary -> when its create request started
        self.incidents: dict[int, dict] = {}  # id -> {"bcu", "summary"}
        self.closes: deque[tuple[float, int, str, str]] = deque()  # (due, id, unit, bcu)
        self.pool = ThreadPoolExecutor(max_workers=24, thread_name_prefix="despatcher")
        self.stop = threading.Event()
        self.late = 0  # jobs started more than a second after their time (the pool was full)

    def _post(self, path: str, body: dict, headers: dict) -> tuple[int, dict]:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request("POST", path, body=json.dumps(body), headers=headers)
            response = conn.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException):
            conn.close()
            self.local.conn = None
            return 0, {}
        try:
            return response.status, json.loads(raw or b"{}")
        except ValueError:
            return response.status, {}

    def _incident(self, n: int, due: float) -> None:
        if time.time() - due > 1.0:
            with self.figures.lock:
                self.late += 1
        k = self.rng.randrange(8)
        lat, lon = cell_centre(k)
        summary = f"soak {n}"
        body = {"type": "VIOL", "grade": "I", "summary": summary,
                "location": {"lat": lat + self.rng.uniform(-0.05, 0.05),
                             "lon": lon + self.rng.uniform(-0.05, 0.05),
                             "address": f"{n} Soak Street"},
                "caller": {"name": "Soak Caller", "phone": "07700900000"}}  # fmt: skip
        t0 = time.time()
        self.sent_at[summary] = t0
        status, incident = self._post("/api/v1/incidents/", body, self.handler)
        elapsed = (time.time() - t0) * 1000
        with self.figures.lock:
            window = self.figures.at(t0)
            window.create.add(elapsed)
            if status == 201:
                window.created += 1
            else:
                window.failed += 1
                window.failures[status] += 1
        if status != 201:
            return
        bcu = incident["location"]["bcu"]
        self.incidents[incident["id"]] = {"bcu": bcu, "summary": summary}
        free = self.free.get(bcu) or deque()  # no BCU (outside every borough): nobody to send
        for _ in range(3):
            try:
                unit = free.popleft()
            except IndexError:
                break
            status, _ = self._post(f"/api/v1/incidents/{incident['id']}/assign/", {"unit": unit},
                                   self.desk)  # fmt: skip
            if status == 200:
                self.closes.append((time.time() + self.life, incident["id"], unit, bcu))
                return
            free.append(unit)  # 409: busy elsewhere; try the next
        with self.figures.lock:
            self.figures.at(t0).unassigned += 1
        self.closes.append((time.time() + self.life, incident["id"], "", bcu))

    def _close(self, incident_id: int, unit: str, bcu: str) -> None:
        status, _ = self._post(f"/api/v1/incidents/{incident_id}/close/",
                               {"closing_code": "NFA"}, self.desk)  # fmt: skip
        if status == 200:
            with self.figures.lock:
                self.figures.at(time.time()).closed += 1
        if unit:
            self.free[bcu].append(unit)

    def run(self, seconds: float) -> None:
        """Schedule the incidents (and their closes) until `seconds` have passed, then finish
        the closes that are due within the incidents' life."""
        favour_harness()  # this thread and the pool's, which it starts (HARNESS_NICE)
        start = time.time()
        n = 0
        while not self.stop.is_set():
            now = time.time()
            if now - start >= seconds:
                break
            while start + n / self.rate <= now:
                self.pool.submit(self._incident, n, start + n / self.rate)
                n += 1
            self._due_closes(now)
            time.sleep(0.02)
        deadline = time.time() + self.life + 5
        while self.closes and time.time() < deadline and not self.stop.is_set():
            self._due_closes(time.time())
            time.sleep(0.1)
        # Stopped (an interrupted soak): do not wait for requests to a server being stopped.
        interrupted = self.stop.is_set()
        self.pool.shutdown(wait=not interrupted, cancel_futures=interrupted)

    def _due_closes(self, now: float) -> None:
        while self.closes and self.closes[0][0] <= now:
            _, incident_id, unit, bcu = self.closes.popleft()
            self.pool.submit(self._close, incident_id, unit, bcu)


# --- the board sockets ----------------------------------------------------------------------------


class Desk:
    """One board socket's view: the incidents it heard of, its snapshots, its cursor."""

    def __init__(self, k: int, bcu: str | None) -> None:
        self.k, self.bcu = k, bcu
        self.cursor = 0
        self.seen: set[int] = set()  # incident ids named by an event it received
        self.snapshots: list[tuple[int, set[int]]] = []  # (seq, incident ids in it)
        self.reconnects = 0
        self.resyncs = 0
        self.fixes = NewFixes()  # a status change's frame repeats the last fix: not timed


async def desk_socket(desk: Desk, url: str, headers: dict, figures: Figures,
                      despatcher: Despatcher, created_seq: dict[int, int],
                      stop: asyncio.Event, ready: asyncio.Event) -> None:  # fmt: skip
    while not stop.is_set():
        try:
            async with websockets.connect(
                url, additional_headers=headers, max_size=2**26, open_timeout=60,
                ping_interval=None,
            ) as ws:  # fmt: skip
                hello = json.loads(await ws.recv())
                if desk.cursor:  # a reconnect: catch up from where it was, as board.js does
                    desk.resyncs += 1
                    await ws.send(json.dumps({"type": "resync", "since": desk.cursor}))
                else:
                    desk.cursor = hello.get("stream_seq", hello.get("seq", 0))
                ready.set()
                async for at, raw in radio_ingest.received(ws, stop):
                    for msg in frame_messages(raw):
                        handle(desk, msg, at, figures, despatcher, created_seq)
        # WebSocketException covers a refused handshake (403 once a session has ended) as well as
        # a closed connection: the first hour-long run ended in a traceback on one (stop 16).
        except (websockets.WebSocketException, OSError, TimeoutError):
            desk.reconnects += 1
            await asyncio.sleep(0.5)


def handle(desk: Desk, msg: dict, at: float, figures: Figures, despatcher: Despatcher,
           created_seq: dict[int, int]) -> None:  # fmt: skip
    kind = msg.get("type", "")
    seq = msg.get("seq")
    if kind == "snapshot":
        ids = {i["id"] for i in msg.get("data", {}).get("incidents", [])}
        desk.snapshots.append((msg["seq"], ids))
        desk.cursor = max(desk.cursor, msg["seq"])
        return
    if isinstance(seq, int):
        desk.cursor = max(desk.cursor, seq)
    data = msg.get("data") or {}
    if kind == "unit.updated":
        position = data.get("position")
        if position and position.get("at"):
            fix = datetime.fromisoformat(position["at"]).timestamp()
            if desk.fixes.is_new(str(data.get("callsign")), fix):
                figures.at(at).radio.add((at - fix) * 1000)
    elif kind.startswith("incident.") and isinstance(data.get("id"), int):
        desk.seen.add(data["id"])
        if kind == "incident.created" and isinstance(seq, int):
            created_seq.setdefault(data["id"], seq)
            started = despatcher.sent_at.get(data.get("summary", ""))
            if started is not None:
                with figures.lock:
                    figures.at(started).push.add((at - started) * 1000)


# --- sampling: RSS of every process, the database ---------------------------------------------


def descendants(root: int) -> dict[int, str]:
    """{pid: command line} of every process under `root` (from /proc: no psutil needed)."""
    parents: dict[int, int] = {}
    commands: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                commands[int(entry)] = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = {}, [root]
    while frontier:
        pid = frontier.pop()
        for child, parent in parents.items():
            if parent == pid and child not in found:
                found[child] = commands.get(child, "")
                frontier.append(child)
    return found


def rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def process_label(command: str, pid: int, gateway_pid: int) -> str:
    if pid == gateway_pid:
        return "gateway"
    for needle, label in (("bin/daphne", "daphne"), ("bin/gunicorn", "gunicorn"),
                          ("-Q radio ", "celery-radio"),
                          ("-Q default", "celery-default"), (" beat", "beat"),
                          ("radio_bridge", "bridge")):  # fmt: skip
        if needle in command + " ":
            return label
    return "other"


def sample_processes(gateway_pid: int) -> dict[str, float]:
    """{"label pid": RSS MB} for this process and everything it started."""
    out = {f"soak {os.getpid()}": rss_mb(os.getpid()) or 0.0}
    for pid, command in descendants(os.getpid()).items():
        label = process_label(command, pid, gateway_pid)
        if label == "other":
            continue
        mb = rss_mb(pid)
        if mb is not None:
            out[f"{label} {pid}"] = mb
    return out


def sample_database() -> dict:
    from django.db.models import Max, Min

    from cad.live.retention import events_pruned_through
    from cad.models import Event

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_database_size(current_database()), "
                       "pg_total_relation_size('cad_event')")  # fmt: skip
        db_bytes, event_bytes = cursor.fetchone()
    span = Event.objects.aggregate(first=Min("seq"), last=Max("seq"))
    # seq is gapless and pruning takes a prefix, so the span is the row count (no count(*)).
    rows = (span["last"] - span["first"] + 1) if span["last"] else 0
    redis_bytes = redis.Redis.from_url(settings.REDIS_URL).info("memory")["used_memory"]
    return {"db_mb": db_bytes / 2**20, "event_mb": event_bytes / 2**20, "event_rows": rows,
            "pruned_through": events_pruned_through(), "last_seq": span["last"] or 0,
            "redis_mb": redis_bytes / 2**20}  # fmt: skip


def autovacuum_on() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SHOW autovacuum")
        return cursor.fetchone()[0] == "on"


def vacuum() -> Round:
    """One round of autovacuum's work, done in its place. Django's autocommit puts each VACUUM
    outside a transaction block, which VACUUM requires."""
    with connection.cursor() as cursor:
        return stand_in_round(cursor, server_rules(cursor))


async def vacuum_loop(every: float, stop: asyncio.Event, rounds: list[Round]) -> None:
    loop = asyncio.get_running_loop()
    try:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)
            if not stop.is_set():
                rounds.append(await loop.run_in_executor(_vacuum_thread, vacuum))
    finally:
        # A lambda: `connection.close` looked up here would be this thread's connection.
        await loop.run_in_executor(_vacuum_thread, lambda: connection.close())


def checkpoint() -> None:
    from cad.live.replay import board_checkpoint_create

    board_checkpoint_create()


# --- setup --------------------------------------------------------------------------------------


def seed(units: int) -> tuple[dict[str | None, str], str, str]:
    """radio_ingest's units and BCUs, a square borough per BCU, an incident type, a closing code;
    returns ({BCU or None: desk cookie}, call handler token, despatcher token)."""
    from django.test import Client
    from knox.models import AuthToken

    from cad.accounts.services import user_provision
    from cad.models import BCU
    from incidents.models import ClosingCode, IncidentType
    from tests.factories import make_borough

    radio_ingest.seed(units)
    for k, code in enumerate(BCUS):
        make_borough(BCU.objects.get(code=code), f"Soak {code}", *cell_centre(k), half=CELL / 2)
    IncidentType.objects.create(code="VIOL", name="Violence", category="crime", default_grade="I")
    ClosingCode.objects.create(code="NFA", name="No further action")
    cookies: dict[str | None, str] = {}
    for scope in [None, *BCUS]:
        user, _ = user_provision(username=f"soak_desk_{scope or 'all'}", role="despatcher",
                                 bcu_code=scope, password="a-Strong-pass-42",
                                 source="bench")  # fmt: skip
        client = Client()
        client.force_login(user)
        cookies[scope] = client.cookies["sessionid"].value
    handler, _ = user_provision(username="soak_handler", role="call_handler", bcu_code=None,
                                password="a-Strong-pass-42", source="bench")  # fmt: skip
    desk, _ = user_provision(username="soak_despatcher", role="despatcher", bcu_code=None,
                             password="a-Strong-pass-42", source="bench")  # fmt: skip
    return (
        cookies,
        str(AuthToken.objects.create(user=handler)[1]),
        str(AuthToken.objects.create(user=desk)[1]),
    )


def free_units(units: int) -> dict[str, deque]:
    free: dict[str, deque] = {code: deque() for code in BCUS}
    for i in range(units):
        free[BCUS[i % 8]].append(f"B{i:05d}")  # radio_ingest.seed: unit i is in BCU i % 8
    return free


# --- the run --------------------------------------------------------------------------------------


_db_thread = ThreadPoolExecutor(max_workers=1)
_vacuum_thread = ThreadPoolExecutor(max_workers=1)  # its own connection: VACUUM takes seconds


async def in_db(fn, *args):
    return await asyncio.get_running_loop().run_in_executor(_db_thread, fn, *args)


async def run(args, env: dict, cookies: dict, tokens: tuple[str, str], port: int,
              api_port: int) -> dict:  # fmt: skip
    figures = Figures(time.time(), args.window)
    despatcher = Despatcher(api_port, *tokens, figures, args.incident_rate, args.incident_life)
    despatcher.free = free_units(args.units)
    created_seq: dict[int, int] = {}
    stop, ready = asyncio.Event(), asyncio.Event()
    vacuumer: asyncio.Task | None = None
    vacuums: list[Round] = []  # the stand-in's rounds
    desks_caught_up = float("nan")  # s after the load until every desk had every incident
    desks = [Desk(k, None if k < args.central else BCUS[(k - args.central) % 8])
             for k in range(args.sockets)]  # fmt: skip
    sockets = []
    for desk in desks:
        headers = {"Cookie": f"sessionid={cookies[desk.bcu]}",
                   "Origin": f"http://127.0.0.1:{port}"}  # fmt: skip
        sockets.append(asyncio.create_task(desk_socket(
            desk, f"ws://127.0.0.1:{port}/ws/board/?batch=1", headers, figures, despatcher,
            created_seq, stop, ready)))  # fmt: skip
        if len(sockets) % 20 == 0:
            await asyncio.sleep(0.5)  # connect in waves (bench/board_fanout.py)
    await asyncio.wait_for(ready.wait(), 120)

    gw_port = free_port()
    queue: multiprocessing.Queue = multiprocessing.Queue()
    gateway = multiprocessing.Process(
        target=radio_ingest.gateway_process,
        args=(gw_port, args.units, args.units / args.radio_rate, args.duration, args.drain,
              10.0, queue, False),
        daemon=True,
    )  # fmt: skip
    gateway.start()
    favoured = gateway.pid is not None and favour_harness(gateway.pid)

    async def get():
        # Short waits, so that an interrupted soak is not held up by a thread blocked here.
        while True:
            with contextlib.suppress(Empty):
                return await asyncio.to_thread(queue.get, True, 1.0)
            if not gateway.is_alive():
                raise RuntimeError("the load gateway died")

    try:
        assert (await get())[0] == "listening"
        url = f"ws://127.0.0.1:{gw_port}/"
        bridge = [sys.executable, "manage.py", "radio_bridge", "--url", url]
        if args.hand_over_at is not None:
            bridge += ["--hand-over-at", str(args.hand_over_at)]
        with radio_ingest.subprocess_logged("bridge", bridge, env):
            # The desks' thread, now that the last server (the bridge) has started at its own.
            favoured = favour_harness() and favoured
            _, started = await get()
            figures.t0 = started  # windows count from the start of the load
            figures.windows = []
            drive = asyncio.create_task(asyncio.to_thread(despatcher.run, args.duration))
            sampler = asyncio.create_task(sample_loop(args, figures, gateway.pid or 0, stop))
            if args.stand_in_vacuum:
                vacuumer = asyncio.create_task(vacuum_loop(args.vacuum_every, stop, vacuums))
            _, load_end, _, _ = await get()
            await drive
            _, _, final_stats, never_acked, _ = await get()
            left = await in_db(radio_ingest.received_count)
            deadline = time.time() + args.drain
            while left and time.time() < deadline:
                await asyncio.sleep(1.0)
                left = await in_db(radio_ingest.received_count)
            await asyncio.sleep(radio_ingest.COALESCE_GRACE_S + 1)
            # Then the desks, within the same deadline: a delivery still queued for a desk that
            # is behind is late, not lost (the windows' push p99 shows how late). Counting it
            # lost made a backlog look like loss (stop 17); what is still missing after the
            # drain is counted lost.
            # The pairs still owed are worked out once and then only re-checked: the whole
            # cross product (an hour's incidents times the desks) each second would hold up the
            # event loop the desks' sockets are read on.
            pending = unheard(owed(despatcher.incidents, desks), created_seq)
            while pending and time.time() < deadline:
                await asyncio.sleep(1.0)
                pending = unheard(pending, created_seq)
            desks_caught_up = time.time() - load_end
    finally:
        # Also on SIGTERM/SIGINT (main): stop the despatcher's thread, which asyncio.run would
        # otherwise wait for, and the gateway, before main stops the servers.
        despatcher.stop.set()
        stop.set()
        if gateway.is_alive():
            gateway.terminate()
    stop.set()
    await asyncio.gather(*sockets, sampler, *([vacuumer] if vacuumer else []))
    gateway.join(timeout=10)
    stored = await in_db(lambda: radio_ingest.db_outcome([])["stored"])
    await in_db(lambda: connection.close())
    return {"figures": figures, "desks": desks, "despatcher": despatcher,
            "created_seq": created_seq, "final_stats": final_stats,
            "never_acked": len(never_acked), "left": left, "stored": stored,
            "started": started, "load_end": load_end, "vacuums": vacuums, "favoured": favoured,
            "desks_caught_up": desks_caught_up}  # fmt: skip


async def sample_loop(args, figures: Figures, gateway_pid: int, stop: asyncio.Event) -> None:
    """Every --sample s: RSS and the database into the current window; at each window's end an
    on-demand replay checkpoint (the prune's base) and the window's line."""
    printed = 0
    next_checkpoint = figures.t0 + args.window
    while not stop.is_set():
        now = time.time()
        sample = {"t": now - figures.t0, "rss": sample_processes(gateway_pid)}
        sample.update(await in_db(sample_database))
        with figures.lock:
            figures.at(now).samples.append(sample)
        if now >= next_checkpoint:
            await in_db(checkpoint)
            next_checkpoint += args.window
        while printed < len(figures.windows) - 1:
            print_window(figures.windows[printed], figures)
            printed += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), args.sample)
    for window in figures.windows[printed:]:
        print_window(window, figures)


# --- the report ---------------------------------------------------------------------------------


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def window_row(window: Window) -> dict:
    last = window.samples[-1] if window.samples else {}
    rss: dict[str, list[float]] = {}
    for sample in window.samples:
        for name, mb in sample["rss"].items():
            rss.setdefault(name, []).append(mb)
    return {
        "window": window.index, "created": window.created, "failed": window.failed,
        "failures": dict(window.failures),
        "closed": window.closed, "unassigned": window.unassigned,
        "create_p50": window.create.pct(50), "create_p99": window.create.pct(99),
        "push_n": window.push.n, "push_p50": window.push.pct(50), "push_p99": window.push.pct(99),
        "radio_n": window.radio.n, "radio_p50": window.radio.pct(50),
        "radio_p99": window.radio.pct(99),
        "event_rows": last.get("event_rows"), "event_mb": last.get("event_mb"),
        "pruned_through": last.get("pruned_through"), "last_seq": last.get("last_seq"),
        "db_mb": last.get("db_mb"), "redis_mb": last.get("redis_mb"),
        "rss_mb": {name: sum(v) / len(v) for name, v in sorted(rss.items())},
    }  # fmt: skip


def print_window(window: Window, figures: Figures) -> None:
    r = window_row(window)
    start = window.index * figures.length
    rss = ", ".join(f"{name.split()[0]} {mb:,.0f}" for name, mb in r["rss_mb"].items())
    # 0 is no answer at all (a refused or dropped connection).
    statuses = ", ".join(f"{status}: {n}" for status, n in sorted(r["failures"].items()))
    statuses = f" [by status {statuses}]" if statuses else ""
    print(
        f"[{start:>5.0f}-{start + figures.length:<5.0f}s] creates {r['created']} "
        f"(failed {r['failed']}{statuses}, unassigned {r['unassigned']}, closed {r['closed']}) "
        f"p50/p99 {fmt(r['create_p50'])}/{fmt(r['create_p99'])} ms | "
        f"push p50/p99 {fmt(r['push_p50'])}/{fmt(r['push_p99'])} ms "
        f"(n={r['push_n']:,}) | radio lag p50/p99 {fmt(r['radio_p50'])}/{fmt(r['radio_p99'])} ms "
        f"(n={r['radio_n']:,}) | events {fmt(r['event_rows'])} rows {fmt(r['event_mb'])} MB, "
        f"pruned to #{fmt(r['pruned_through'])} of #{fmt(r['last_seq'])} | db "
        f"{fmt(r['db_mb'])} MB, redis {fmt(r['redis_mb'])} MB | RSS MB (mean): {rss}",
        flush=True,
    )


def owed(incidents: dict, desks: list[Desk]) -> list[tuple[int, Desk]]:
    """Every (incident, desk) where the desk should hear of the incident (all-London desks, and
    its BCU's) and has received no event naming it."""
    return [
        (incident_id, desk)
        for incident_id, info in list(incidents.items())
        for desk in desks
        if (desk.bcu is None or desk.bcu == info["bcu"]) and incident_id not in desk.seen
    ]


def snapshot_covers(desk: Desk, incident_id: int, created_seq: dict[int, int]) -> bool:
    """Did the desk get a snapshot taken after the incident was created?"""
    seq = created_seq.get(incident_id)
    return seq is not None and any(s >= seq for s, _ in desk.snapshots)


def unheard(pairs: list[tuple[int, Desk]], created_seq: dict[int, int]) -> list[tuple[int, Desk]]:
    """The pairs whose desk has still neither an event naming the incident nor a snapshot after
    it."""
    return [(incident_id, desk) for incident_id, desk in pairs
            if incident_id not in desk.seen
            and not snapshot_covers(desk, incident_id, created_seq)]  # fmt: skip


def undelivered(incidents: dict, desks: list[Desk], created_seq: dict[int, int]) -> tuple[int, int]:
    """(deliveries missing, deliveries covered only by a snapshot): for every incident created,
    every desk that should hear of it must have received an event naming it, or a snapshot
    taken after it was created."""
    pairs = owed(incidents, desks)
    missing = len(unheard(pairs, created_seq))
    return missing, len(pairs) - missing


def report(args, result: dict) -> dict:
    figures, stats = result["figures"], result["final_stats"]
    kept = [w for w in figures.windows if w.samples or w.create.n]
    rows = [window_row(w) for w in kept]
    load_s = result["load_end"] - result["started"]
    missing = max(0, stats["acked"] - result["stored"])
    # Stored but not applied by the end of the drain is a backlog, not a loss: the message is
    # committed and the sweeper applies it. It is reported, and is falling behind.
    radio_lost = result["never_acked"] + missing
    incidents_lost, via_snapshot = undelivered(
        result["despatcher"].incidents, result["desks"], result["created_seq"]
    )
    desks = result["desks"]
    print(f"load: {args.units:,} units at {args.radio_rate:,.0f} radio messages/s, "
          f"{args.incident_rate:g} incidents/s, {args.sockets} sockets ({args.central} all-London) "
          f"for {args.duration:g} s; retention {args.retention:g} s, prune every "
          f"{args.prune_every:g} s; REST on {args.api}; machine: {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    print(f"harness: the desks, the despatcher and the radio gateway at nice {HARNESS_NICE}"
          if result["favoured"] else
          "harness: at the servers' priority (a lower nice value was not permitted)")  # fmt: skip
    print(f"radio: sent {stats['sent']:,} in {load_s:,.0f} s = {stats['sent'] / load_s:,.0f}/s, "
          f"acked {stats['acked']:,}, stored {result['stored']:,}, resent {stats['resent']:,}, "
          f"bridge sessions {stats['sessions']}")  # fmt: skip
    print(f"lost: radio {radio_lost} (never acked {result['never_acked']}, acked but not stored "
          f"{missing}; stored but still not applied when the drain ended: {result['left']:,}); "
          f"incidents {incidents_lost} desk deliveries still missing when the drain ended "
          f"({via_snapshot} covered by a snapshot instead; the desks had every other one "
          f"{result['desks_caught_up']:,.0f} s after the load); "
          f"{len(result['despatcher'].incidents):,} incidents created, "
          f"{result['despatcher'].late} started over 1 s late")  # fmt: skip
    vacuums: list[Round] = result["vacuums"]
    vacuumed = Counter(name for r in vacuums for name in r.vacuumed)
    if args.stand_in_vacuum:
        busy = [r.seconds for r in vacuums]
        most = ", ".join(f"{name} {n}" for name, n in vacuumed.most_common(4))
        print(f"vacuum: the server's autovacuum is off; the soak did its work in its place every "
              f"{args.vacuum_every:g} s, by its rules and pace: {len(vacuums)} rounds, "
              f"{sum(vacuumed.values())} tables vacuumed ({most or 'none'}), "
              f"{sum(len(r.analyzed) for r in vacuums)} analyzed; a round took "
              f"{sum(busy) / max(1, len(busy)):.1f} s on average, {max(busy, default=0):.1f} s "
              f"at most")  # fmt: skip
    print(f"sockets: {sum(d.reconnects for d in desks)} reconnects, "
          f"{sum(d.resyncs for d in desks)} resyncs, "
          f"{sum(len(d.snapshots) for d in desks)} snapshots")  # fmt: skip
    # Growth after warm-up: each server process's mean RSS in the first window after the
    # warm-up against the last full window.
    warm = [r for r, w in zip(rows, kept, strict=True) if w.index * args.window >= args.warmup]
    growth: dict[str, float] = {}
    if len(warm) >= 2:
        first, last = warm[0]["rss_mb"], warm[-1]["rss_mb"]
        for name, mb in first.items():
            if name.split()[0] in SERVERS and name in last and mb:
                growth[name] = (last[name] - mb) / mb * 100
    for name, pct in sorted(growth.items()):
        print(f"RSS {name}: {warm[0]['rss_mb'][name]:,.0f} -> {warm[-1]['rss_mb'][name]:,.0f} MB "
              f"after warm-up ({pct:+.1f} %)")  # fmt: skip
    db_growth = None
    samples = [s for w in figures.windows for s in w.samples if s["t"] >= args.warmup]
    if len(samples) >= 2 and samples[-1]["t"] > samples[0]["t"]:
        hours = (samples[-1]["t"] - samples[0]["t"]) / 3600
        db_growth = (samples[-1]["db_mb"] - samples[0]["db_mb"]) / hours
        print(f"database growth after warm-up: {db_growth:,.0f} MB/hour "
              f"({samples[0]['db_mb']:,.0f} -> {samples[-1]['db_mb']:,.0f} MB); event log "
              f"{samples[-1]['event_rows']:,} rows, {samples[-1]['event_mb']:,.0f} MB, pruned "
              f"through #{samples[-1]['pruned_through']:,}")  # fmt: skip
    lost = radio_lost + incidents_lost
    verdict, reasons = soak_verdict(
        lost=lost, growth=growth, backlog=result["left"],
        lag_p99_ms=[r["radio_p99"] for r in warm], max_lag_s=args.max_radio_lag,
    )  # fmt: skip
    print(f"verdict: {reasons} -> {verdict}")
    return {"args": vars(args), "windows": rows, "lost": lost, "radio_lost": radio_lost,
            "incidents_lost": incidents_lost, "via_snapshot": via_snapshot,
            "desks_caught_up_s": result["desks_caught_up"],
            "incidents": len(result["despatcher"].incidents), "radio_sent": stats["sent"],
            "radio_stored": result["stored"], "radio_backlog": result["left"],
            "rss_growth_pct": growth,
            "db_growth_mb_per_hour": db_growth, "stand_in_rounds": len(vacuums),
            "harness_nice": HARNESS_NICE if result["favoured"] else 0,
            "stand_in_vacuumed": dict(vacuumed),
            "stand_in_round_s": [round(r.seconds, 2) for r in vacuums],
            "verdict": verdict}  # fmt: skip


# CI's size (`--small`, as `make bench` and tests/test_bench_soak.py run it): 30 s in 10 s windows,
# the event log pruned and vacuumed often enough that both happen within them.
SMALL = {"duration": 30.0, "window": 10.0, "units": 200, "radio_rate": 40.0,
         "incident_rate": 1.0, "incident_life": 5.0, "sockets": 6, "central": 2,
         "retention": 15.0, "prune_every": 5.0, "drain": 20.0, "vacuum_every": 10.0}  # fmt: skip


def main() -> int:
    # A SIGTERM (a test's timeout, `kill`) unwinds like Ctrl-C: the `finally`s stop the load, the
    # servers this started (ExitStack) and drop the throw-away database, none is left running.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    radio_ingest.logging.getLogger("websockets").setLevel(radio_ingest.logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=3600.0, help="s of load")
    parser.add_argument("--units", type=int, default=5000)
    parser.add_argument("--radio-rate", type=float, default=2000.0, help="messages/s in all")
    parser.add_argument("--incident-rate", type=float, default=6.0, help="incidents/s")
    parser.add_argument("--incident-life", type=float, default=20.0, help="s from create to close")
    parser.add_argument("--sockets", type=int, default=100)
    parser.add_argument("--central", type=int, default=1, help="how many sockets are all-London")
    parser.add_argument("--window", type=float, default=300.0, help="s per report line")
    parser.add_argument("--warmup", type=float, default=None, help="default: one window")
    parser.add_argument("--sample", type=float, default=None, help="s between samples")
    parser.add_argument("--retention", type=float, default=None,
                        help="s of event log kept (default two windows)")  # fmt: skip
    parser.add_argument("--prune-every", type=float, default=None,
                        help="beat's prune interval (default half a window)")  # fmt: skip
    parser.add_argument("--radio-workers", type=int, default=2, help="radio queue processes")
    parser.add_argument("--drain", type=float, default=120.0, help="max wait after the load")
    parser.add_argument(
        "--vacuum-every",
        type=float,
        default=60.0,
        help="s between the stand-in's rounds where autovacuum is off (autovacuum_naptime's "
        "default)",
    )
    parser.add_argument(
        "--api",
        choices=["wsgi", "daphne"],
        default="wsgi",
        help="where the despatcher's REST calls go: gunicorn (cad.wsgi, --api-workers processes "
        "of four threads) beside daphne, as docs/operations.md's proxy routes them, or daphne, "
        "which also serves the sockets",
    )
    parser.add_argument("--api-workers", type=int, default=2)
    parser.add_argument(
        "--hand-over-at",
        type=int,
        default=None,
        help="the bridge's --hand-over-at (decision 0030): messages waiting at which it leaves "
        "GPS fixes to the radio workers; 0: never; default: the bridge's own",
    )
    parser.add_argument(
        "--max-radio-lag",
        type=float,
        default=10.0,
        help="s: the verdict fails if the radio lag's p99 reaches this in any window after the "
        "warm-up (the drain's included: a backlog caught up late is still late)",
    )
    parser.add_argument("--json", help="also write the report here")
    parser.add_argument("--tag", default="", help="suffix of the throw-away database's name, so "
                        "two soaks (a long one and CI's) can run side by side")  # fmt: skip
    parser.add_argument("--small", action="store_true",
                        help="CI size (SMALL); options given as well win")  # fmt: skip
    if parser.parse_known_args()[0].small:
        parser.set_defaults(**SMALL)
    args = parser.parse_args()
    args.warmup = args.window if args.warmup is None else args.warmup
    args.sample = args.sample or min(30.0, args.window / 5)
    args.retention = args.retention or 2 * args.window
    args.prune_every = args.prune_every or args.window / 2
    if not settings.DATABASE_URL or not settings.REDIS_URL:
        print("needs DATABASE_URL (PostgreSQL) and REDIS_URL: every process shares both")
        return 2

    suffix = f"_{args.tag}" if args.tag else ""
    with throwaway_database(f"bench_soak{suffix}"):
        args.stand_in_vacuum = not autovacuum_on()
        radio_ingest.flush_redis(settings.REDIS_URL)
        cookies, handler_token, desk_token = seed(args.units)
        connection.close()
        env = {"DATABASE_URL": database_url(), "REDIS_URL": settings.REDIS_URL,
               "LOG_LEVEL": "WARNING", "DB_CONN_MAX_AGE": "60", "DEBUG": "0",
               "DB_STATEMENT_TIMEOUT_MS": STATEMENT_TIMEOUT_MS,
               "EVENT_RETENTION_HOURS": str(args.retention / 3600),
               "EVENT_PRUNE_EVERY_SECONDS": str(args.prune_every),
               # The desks sign in once and never click: at the default 30 minutes' idle limit
               # their sessions ended and every board socket was closed and refused from then
               # on (the first hour-long run, stop 16). A despatcher at work is not idle.
               "SESSION_IDLE_SECONDS": str(int(args.duration + args.drain + 3600))}  # fmt: skip
        tag = f"soak-{os.getpid()}"
        celery = [str(ROOT / ".venv/bin/celery"), "-A", "cad"]
        common = ["-l", "warning", "--without-gossip", "--without-mingle", "--without-heartbeat"]
        # The scratch directory outlives the servers (beat writes its schedule there to the end).
        with tempfile.TemporaryDirectory() as scratch, contextlib.ExitStack() as servers:
            port = servers.enter_context(daphne(env))
            api_port = port
            if args.api == "wsgi":
                api_port = servers.enter_context(daphne(env, wsgi=True, workers=args.api_workers))
            servers.enter_context(radio_ingest.subprocess_logged("celery-radio", [
                *celery, "worker", "-Q", "radio", "-c", str(args.radio_workers), *common,
                "-n", f"{tag}-radio@%h"], env))  # fmt: skip
            servers.enter_context(radio_ingest.subprocess_logged("celery-default", [
                *celery, "worker", "-Q", "default,recommend,texts,report_texts", "-c", "1", *common,
                "-n", f"{tag}-default@%h"], env))  # fmt: skip
            servers.enter_context(radio_ingest.subprocess_logged("beat", [
                *celery, "beat", "-l", "warning", "-s", f"{scratch}/beat-schedule",
                "--pidfile", f"{scratch}/beat.pid"], env))  # fmt: skip
            radio_ingest.worker_ping()
            tokens = (handler_token, desk_token)
            result = asyncio.run(run(args, env, cookies, tokens, port, api_port))
    summary = report(args, result)
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1, default=str))
    # The exit status fails on a loss only: the speed and memory verdict is for the full size.
    return 0 if summary["lost"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
