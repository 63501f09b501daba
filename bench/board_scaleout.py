"""Benchmark: live-board fan-out through K daphne processes behind nginx (issue 22, point 4).

    DATABASE_URL=postgres://postgres@127.0.0.1/beacon_dev REDIS_URL=redis://127.0.0.1:6379/9 \
        .venv/bin/python bench/board_scaleout.py --clients 1000        (the issue's scale-out)
    ... --clients 500 --daphnes 1                  (the issue's single-process target)
    ... --small                                    (CI size: 60 clients, 2 daphnes, 5 s)
    ... --no-proxy                                 (clients split across the daphnes directly)

Starts K daphnes (cad.asgi, channels-redis layer; bench/board_fanout.py's `daphne`) and gunicorn
(cad.wsgi; `--api daphne` leaves it out) against a throw-away database
(bench_board_scaleout_<name>), and nginx in front of them, run as this script's own process from
a config generated into a temp dir (`nginx_config` below): `/ws/` to the daphnes, the rest to
gunicorn, as docs/operations.md routes them. N board
WebSocket clients, logged in as one central despatcher, connect *through nginx*, spread over
`--client-procs` processes, because one asyncio process parsing 1,000 sockets' events is itself
a limit on 2 cores. This process then drives `POST /api/v1/units/{callsign}/status/`, also
through nginx, at R changes/s. Per change, the latency is from just before its request is sent
to its event's arrival at the *last* of the N clients, and lost events are counted by seq per
client: the same definitions (and code) as board_fanout.py. Clock: time.monotonic(),
system-wide on Linux, so the client processes' arrival times compare with the driver's send
times.

It prints the CPU share of every process it started (each daphne, nginx's workers, each client
process, the driver), read from /proc over the seconds of changes, so a reader can see which one
was the limit: a client process near 100% of a core means the figures are the bench's, not
Beacon's (raise --client-procs, or run the clients on another machine).

Without nginx (Debian: `apt-get install nginx-light`) it prints "skipped: needs nginx" and
exits 0, unless --no-proxy. Exit 1 if any event was lost; the p99 target is reported, not
enforced: on a shared machine it says more about the neighbours than about Beacon.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

# First: it puts the repository on sys.path and sets Django up.
from board_fanout import (
    API_TIMES,
    beacon_setup,
    cpu_seconds,
    daphne,
    drive,
    full_stack_missing,
    run_clients,
    summary,
)
from django.conf import settings
from django.db import connection
from throwaway_database import database_url, throwaway_database

from tests.servers import free_port, wait_for_port

UNITS = 20
SOCKETS_PER_CLIENT_PROCESS = 250  # the default --client-procs: see the module docstring
TARGET_P99_MS = 100  # issue 22, point 4: 500 desks at 20 changes/s


# --- nginx ---------------------------------------------------------------------------------------


def nginx_binary() -> str | None:
    # Debian puts it in /usr/sbin, which a non-root PATH often lacks.
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")


def nginx_config(
    directory: str, port: int, upstreams: list[int], workers: int, app: int | None = None
) -> str:
    """The proxy as docs/operations.md ("The proxy") describes it, in `directory`: `/ws/` to the
    daphnes in `upstreams`, everything else to gunicorn on port `app` (decision 0029), or to
    the daphnes too when there is none."""
    # Started as root (as on the bench machines), nginx would hand its workers to `nobody`,
    # who cannot write the temp dir; as anyone else it ignores the directive.
    user = "user root;" if os.geteuid() == 0 else ""
    servers = "\n".join(f"        server 127.0.0.1:{p};" for p in upstreams)
    rest = "beacon_app" if app else "beacon"
    app_upstream = (
        f"""    upstream beacon_app {{
        server 127.0.0.1:{app};
        keepalive 16;  # gunicorn keeps them longer (GUNICORN_OPTIONS), so none is reused shut
        keepalive_timeout 60s;
    }}
"""
        if app
        else ""
    )
    temp = "\n".join(
        f"    {kind}_temp_path {directory}/{kind};" for kind in ("client_body", "proxy", "fastcgi")
    )
    return f"""{user}
worker_processes {workers};
worker_rlimit_nofile 16384;
daemon off;
pid {directory}/nginx.pid;
error_log {directory}/error.log warn;
events {{ worker_connections 8192; }}
http {{
    access_log off;
{temp}
    # Upgrade when the client asks to; otherwise an empty Connection header, so REST requests
    # can reuse the upstream keepalive connections.
    map $http_upgrade $connection_upgrade {{ default upgrade; '' ''; }}
    upstream beacon {{
        # Sockets live for hours: balance on open connections, so a restarted daphne takes
        # its share of the reconnecting desks instead of staying empty.
        least_conn;
{servers}
        keepalive 16;
    }}
{app_upstream}    server {{
        listen 127.0.0.1:{port};
        proxy_http_version 1.1;
        # Each location sets every header itself: one that sets any inherits none from here.
        location /ws/ {{
            proxy_pass http://beacon;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            # A quiet board sends nothing for minutes; nginx's default 60 s would cut it.
            proxy_read_timeout 1h;
            proxy_send_timeout 1h;
        }}
        location / {{
            proxy_pass http://{rest};
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
        }}
    }}
}}
"""


@contextlib.contextmanager
def nginx(upstreams: list[int], workers: int, pids: list[int], app: int | None = None):
    """nginx on a free port in front of `upstreams` (and gunicorn on `app`, if given), its
    config and log in a temp dir (kept)."""
    binary = nginx_binary()
    assert binary
    directory = tempfile.mkdtemp(prefix="bench-nginx-")
    port = free_port()
    conf = Path(directory) / "nginx.conf"
    conf.write_text(nginx_config(directory, port, upstreams, workers, app))
    # -e: the error log before the config is read (Debian's default is under /var/log).
    command = [binary, "-p", directory, "-c", str(conf), "-e", f"{directory}/error.log"]
    check = subprocess.run([*command, "-t"], capture_output=True, text=True, check=False)
    if check.returncode:
        raise RuntimeError(f"nginx refused its config {conf}:\n{check.stderr}")
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pids.append(process.pid)
    try:
        wait_for_port(port)
        yield port
    finally:
        process.terminate()  # SIGTERM: nginx's fast shutdown
        process.wait(timeout=20)
        print(f"nginx config and log: {directory}")


# --- /proc: CPU, children, sockets --------------------------------------------------------------


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


def established(port: int) -> int:
    """Established TCP connections whose local end is 127.0.0.1:`port` (a server's sockets)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError):
            for line in Path(table).read_text().splitlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                count += state == "01" and int(local.rsplit(":", 1)[1], 16) == port
    return count


# --- the client processes -----------------------------------------------------------------------


def client_process(index: int, groups: list[tuple[str, int, dict]], expect: int, timeout: float,
                   ready: Any, start: Any, out: Any) -> None:  # fmt: skip
    """Connect each group's sockets (url, count, headers), say when all are in, wait for the
    start, then record arrivals with board_fanout.run_clients and send them back."""
    import asyncio
    import logging

    logging.getLogger("websockets").setLevel(logging.WARNING)

    async def main() -> None:
        connected = [asyncio.Event() for _ in groups]
        started = asyncio.Event()
        began = time.monotonic()
        tasks = [
            asyncio.create_task(run_clients(url, n, headers, expect, timeout, event, started))
            for (url, n, headers), event in zip(groups, connected, strict=True)
        ]

        async def all_connected() -> None:
            for event in connected:
                await event.wait()

        all_in = asyncio.create_task(all_connected())
        # A client that fails to connect ends its task with the error: stop waiting then.
        await asyncio.wait([all_in, *tasks], timeout=180, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            if task.done():
                task.result()
        if not all_in.done():
            raise TimeoutError("sockets still connecting after 180 s")
        ready.put((index, began, time.monotonic()))
        await asyncio.to_thread(start.wait)
        started.set()
        received, base = [], []
        for got, seqs in await asyncio.gather(*tasks):
            received += got
            base += seqs
        out.put((index, received, base, None))

    try:
        asyncio.run(main())
    except BaseException:
        ready.put((index, None, traceback.format_exc()))
        out.put((index, [], [], traceback.format_exc()))


def split_clients(clients: int, procs: int, ports: list[int]) -> list[dict[int, int]]:
    """Client k goes to process k % procs and to port k % len(ports): {port: sockets} each."""
    plan: list[dict[int, int]] = [{} for _ in range(procs)]
    for k in range(clients):
        port = ports[k % len(ports)]
        plan[k % procs][port] = plan[k % procs].get(port, 0) + 1
    return plan


def client_timeout(args: argparse.Namespace) -> float:
    return 4 * args.seconds + 60


def measure(args: argparse.Namespace, cookie: str, token: str, socket_ports: list[int],
            api_port: int, daphne_ports: dict[str, int],
            named_pids: dict[str, int]) -> dict:  # fmt: skip
    count = int(args.rate * args.seconds)
    context = multiprocessing.get_context("fork")  # Django is already set up in this process
    ready, out, start = context.Queue(), context.Queue(), context.Event()
    procs = []
    for index, plan in enumerate(split_clients(args.clients, args.client_procs, socket_ports)):
        groups = [
            (f"ws://127.0.0.1:{port}/ws/board/", n,
             {"Cookie": f"sessionid={cookie}", "Origin": f"http://127.0.0.1:{port}"})
            for port, n in plan.items()
        ]  # fmt: skip
        # A client stops at its last event, or at this deadline for one it never gets: room for
        # a driver slowed to a quarter of the rate on a busy machine, so slow is not "lost".
        work = (index, groups, count, client_timeout(args), ready, start, out)
        proc = context.Process(target=client_process, args=work)
        proc.start()
        procs.append(proc)
        named_pids[f"clients {index + 1}"] = proc.pid or 0  # set once started
    try:
        began, done = [], []
        for _ in procs:
            index, t0, t1 = ready.get(timeout=240)
            if t0 is None:
                raise RuntimeError(f"client process {index + 1} failed:\n{t1}")
            began.append(t0)
            done.append(t1)
        connect = max(done) - min(began)
        per_daphne = {name: established(port) for name, port in daphne_ports.items()}
        print(f"connect: {args.clients} sockets in {connect:.2f} s "
              f"({args.client_procs} client processes); server-side connections per daphne: "
              + ", ".join(f"{n} {c}" for n, c in per_daphne.items()))  # fmt: skip
        time.sleep(0.5)
        for k, pid in enumerate(children(named_pids.get("nginx master", -1))):
            named_pids[f"nginx worker {k + 1}"] = pid
        for k, pid in enumerate(children(named_pids.get("gunicorn master", -1))):
            named_pids[f"gunicorn worker {k + 1}"] = pid
        named_pids["driver (this process)"] = os.getpid()
        cpu0 = {name: cpu_seconds(pid) for name, pid in named_pids.items()}
        wall0 = time.monotonic()
        start.set()
        sent = drive(api_port, token, UNITS, args.rate, count)
        wall = time.monotonic() - wall0
        cpu = {name: (cpu_seconds(pid) - cpu0[name]) / wall for name, pid in named_pids.items()}
        received: list[dict[int, float]] = []
        base: list[int] = []
        for _ in procs:
            index, got, seqs, error = out.get(timeout=client_timeout(args) + 60)
            if error:
                raise RuntimeError(f"client process {index + 1} failed:\n{error}")
            received += got
            base += seqs
    finally:
        for proc in procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.terminate()
    first = min(base) + 1
    latencies, lost = [], 0
    for k, t0 in enumerate(sent):
        arrivals = [r.get(first + k) for r in received]
        lost += sum(1 for a in arrivals if a is None)
        got = [a for a in arrivals if a is not None]
        if got:
            latencies.append(max(got) - t0)
    return {"latencies": latencies, "lost": lost, "count": count, "connect_s": connect,
            "connections_per_daphne": per_daphne, "cpu": cpu, "window_s": wall}  # fmt: skip


# --- main ---------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="CI size: 60 clients, 5 s")
    parser.add_argument("--clients", type=int, default=None, help="board sockets (1000)")
    parser.add_argument("--daphnes", type=int, default=2)
    parser.add_argument("--rate", type=float, default=20.0, help="status changes per second")
    parser.add_argument("--seconds", type=float, default=None, help="of changes (15)")
    parser.add_argument(
        "--client-procs",
        type=int,
        default=None,
        help=f"processes the clients are spread over (one per {SOCKETS_PER_CLIENT_PROCESS})",
    )
    parser.add_argument(
        "--nginx-workers",
        default="1",
        help="nginx worker_processes: 1 (default: its CPU is then one figure, and on 2 shared "
        "cores more workers only compete with the daphnes) or auto (one per core, production)",
    )
    parser.add_argument(
        "--no-proxy",
        action="store_true",
        help="no nginx: clients split round-robin across the daphnes, REST straight to gunicorn "
        "(or to the first daphne)",
    )
    parser.add_argument(
        "--api",
        choices=["gunicorn", "daphne"],
        default="gunicorn",
        help="where the proxy sends REST: gunicorn (cad.wsgi, two processes of four threads) "
        "beside the daphnes, as docs/operations.md routes it, or the daphnes",
    )
    parser.add_argument("--layer", choices=["pubsub", "lists"], default="pubsub")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    args.clients = args.clients or (60 if args.small else 1000)
    args.seconds = args.seconds or (5 if args.small else 15)
    args.client_procs = args.client_procs or math.ceil(args.clients / SOCKETS_PER_CLIENT_PROCESS)
    if not args.no_proxy and not nginx_binary():
        print("skipped: needs nginx (Debian: apt-get install nginx-light), or run --no-proxy")
        return 0
    if full_stack_missing():
        return 2

    with throwaway_database("bench_board_scaleout"):
        cookie, token = beacon_setup(units=UNITS)
        connection.close()
        env = {"DATABASE_URL": database_url(), "REDIS_URL": settings.REDIS_URL,
               "LOG_LEVEL": "WARNING", "DB_CONN_MAX_AGE": "60", "DEBUG": "0",
               "CHANNEL_LAYER": args.layer}  # fmt: skip
        named_pids: dict[str, int] = {}
        daphne_ports: dict[str, int] = {}
        with contextlib.ExitStack() as servers:
            for k in range(args.daphnes):
                pids: list[int] = []
                daphne_ports[f"daphne {k + 1}"] = servers.enter_context(daphne(env, pids=pids))
                named_pids[f"daphne {k + 1}"] = pids[0]
            ports = list(daphne_ports.values())
            app = None
            if args.api == "gunicorn":
                pids = []
                app = servers.enter_context(daphne(env, wsgi=True, workers=2, pids=pids))
                named_pids["gunicorn master"] = pids[0]
            if args.no_proxy:
                socket_ports, api_port = ports, app or ports[0]
            else:
                pids = []
                front = servers.enter_context(nginx(ports, args.nginx_workers, pids, app))
                named_pids["nginx master"] = pids[0]
                socket_ports, api_port = [front], front
            result = measure(args, cookie, token, socket_ports, api_port, daphne_ports, named_pids)

    via = "directly" if args.no_proxy else f"via nginx ({args.nginx_workers} worker(s))"
    print(f"layer: {args.layer}; {args.clients} clients over {args.daphnes} daphne(s) {via}; "
          f"REST on {args.api}; "
          f"{args.rate:g} changes/s for {args.seconds:g} s ({result['count']} changes); "
          f"machine: {os.cpu_count()} cores")  # fmt: skip
    api_server = "gunicorn" if args.api == "gunicorn" else "daphne"
    path = f"API ({api_server})" + ("" if args.no_proxy else " via nginx")
    board = summary(f"board ({path} -> Redis -> every daphne -> every client)",
                    result["latencies"])  # fmt: skip
    api = summary("  of which the status-change request itself", API_TIMES)
    achieved = result["count"] / result["window_s"]
    if achieved < 0.95 * args.rate:
        # drive() sends one request at a time, as board_fanout does: a slower API lowers the rate.
        print(f"  the driver reached only {achieved:.1f} changes/s: the API took longer than "
              f"{1000 / args.rate:.0f} ms a request")  # fmt: skip
    if result["window_s"] > client_timeout(args):
        print("  the changes outlasted the clients' deadline: late events count as lost")
    print(f"lost events: {result['lost']} (of {result['count'] * args.clients} deliveries)")
    print(f"CPU over the {result['window_s']:.1f} s of changes (100% = one core): "
          + ", ".join(f"{name} {share:.0%}" for name, share in result["cpu"].items()))  # fmt: skip
    for name, share in result["cpu"].items():
        if name.startswith("clients") and share > 0.8:
            print(f"  {name} was near a full core: the clients may be the limit "
                  "(raise --client-procs)")  # fmt: skip
    load = os.getloadavg()
    print(f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (1/5/15 min)")
    met = board["p99"] < TARGET_P99_MS and result["lost"] == 0
    print(f"target (issue 22: p99 < {TARGET_P99_MS} ms, 0 lost; 500 desks, or 1,000 over two "
          f"daphnes): {'met' if met else 'not met'} at this size")  # fmt: skip
    if args.json:
        figures = {key: value for key, value in result.items() if key != "latencies"}
        figures.update(board=board, api=api, load=load, clients=args.clients,
                       daphnes=args.daphnes, proxy=not args.no_proxy, rest_on=args.api)  # fmt: skip
        args.json.write_text(json.dumps(figures, indent=2))
    return 1 if result["lost"] else 0


if __name__ == "__main__":
    sys.exit(main())
