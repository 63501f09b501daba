"""Benchmark: what a lost publish costs the socket server, with many desks on one stream.

    DATABASE_URL=postgres://postgres@127.0.0.1/beacon_dev REDIS_URL=redis://127.0.0.1:6379/9 \
        .venv/bin/python bench/gap_fill.py
    ... --small            (CI size: 20 clients, 40 changes)

Starts daphne (cad.asgi, channels-redis layer) on a free port against a throw-away database
(bench_gap_fill_<name>) and connects `--clients` all-London board sockets. This process then
makes `--changes` unit status changes through the service at `--rate` a second and drops the
publish of every `--lose-every`-th one, as a publisher that died between its commit and its
publish would: every socket then parks the next event behind the same gap and, after the
grace (BOARD_GAP_GRACE_SECONDS), fills it from the Event table (cad/live/consumers.py).

It prints the socket server's CPU per delivery, the reads of the Event table while the load
ran (PostgreSQL's own scan counters for the table, less the publishing callback's read-back in
this process and the numbering trigger's scans, counted over 20 changes before the sockets
connect), snapshots and lost deliveries. Then every socket asks for a snapshot at once (a
snapshot storm, as after a restart) and it prints daphne's CPU for that and how long the last
desk waited. Each socket must end with every change, the lost
ones included: that is what the gap fill is for.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import logging
import os
import sys
import time

import websockets

# First: it puts the repository on sys.path and sets Django up.
from board_fanout import (
    beacon_setup,
    cpu_seconds,
    daphne,
    frame_messages,
    full_stack_missing,
    server_env,
)
from django.db import connection  # noqa: E402
from throwaway_database import throwaway_database

CALIBRATION = 20  # changes made before the sockets connect, to count the writes' own scans


def event_table_scans() -> int:
    """Scans of the Event table since the server started (sequential and by index)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0) FROM pg_stat_user_tables "
            "WHERE relname = 'cad_event'"
        )
        return cursor.fetchone()[0]


def drive(changes: int, rate: float, lose_every: int) -> tuple[int, int]:
    """Status changes through the service, dropping every `lose_every`-th publish (none for 0).
    Returns (publishes dropped, read-backs of the Event table this process made)."""
    from cad.live import events
    from resources import services
    from resources.models import Unit

    units = list(Unit.objects.order_by("callsign"))
    published = events.publish
    counter = itertools.count(1)
    dropped = 0

    def publish(message, prev, **kwargs):
        nonlocal dropped
        # Never the last: a lost last event shows in no later `prev` (a ping finds it).
        if lose_every and next(counter) % lose_every == lose_every // 2:
            dropped += 1
            return
        published(message, prev, **kwargs)

    read_backs = 0

    def count_read_backs(execute, sql, params, many, context):
        nonlocal read_backs
        read_backs += sql.startswith("SELECT id, seq, prev FROM cad_event ")
        return execute(sql, params, many, context)

    events.publish = publish
    try:
        with connection.execute_wrapper(count_read_backs):
            start = time.monotonic()
            for k in range(changes):
                delay = start + k / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                unit = units[k % len(units)]
                unit.refresh_from_db()
                status = "unavailable" if unit.status == "available" else "available"
                services.unit_set_status(unit=unit, status=status, source="bench")
    finally:
        events.publish = published
    with connection.cursor() as cursor:
        # Report this backend's counters when it next goes idle (PostgreSQL 15), not up to
        # 10 s later: the connection may stay open in the pool.
        cursor.execute("SELECT pg_stat_force_next_flush()")
    connection.close()  # the driver's thread is done with it
    return dropped, read_backs


async def snapshot_storm(sockets: list, daphne_pid: int) -> dict[str, float]:
    """Every desk asks for the whole picture at once, as after a restart or a long stall:
    daphne's CPU and the time until the last desk has it."""

    async def snapshot_at(ws) -> None:
        await ws.send(json.dumps({"type": "snapshot"}))
        while not any(m.get("type") == "snapshot" for m in frame_messages(await ws.recv())):
            pass

    cpu_before, t0 = cpu_seconds(daphne_pid), time.monotonic()
    await asyncio.wait_for(asyncio.gather(*(snapshot_at(ws) for ws in sockets)), 60)
    return {"seconds": time.monotonic() - t0, "cpu": cpu_seconds(daphne_pid) - cpu_before}


async def run(port: int, cookie: str, clients: int, changes: int, rate: float, lose_every: int,
              daphne_pid: int) -> dict:  # fmt: skip
    headers = {"Cookie": f"sessionid={cookie}", "Origin": f"http://127.0.0.1:{port}"}
    url = f"ws://127.0.0.1:{port}/ws/board/?batch=1"
    # The writes' own scans of the table (the numbering trigger's), per change, with no socket
    # connected yet: subtracted from the run's count below.
    before = await asyncio.to_thread(event_table_scans)
    _, read_backs = await asyncio.to_thread(drive, CALIBRATION, rate, 0)
    await asyncio.sleep(1.5)  # PostgreSQL reports a backend's counters at most once a second
    own = await asyncio.to_thread(event_table_scans) - before - read_backs
    per_change = round(own / CALIBRATION)
    sockets = []
    heads = []
    for k in range(clients):
        ws = await websockets.connect(url, additional_headers=headers, max_size=2**24,
                                      open_timeout=30, ping_interval=None)  # fmt: skip
        heads.append(json.loads(await ws.recv())["seq"])
        sockets.append(ws)
        if k % 20 == 19:
            await asyncio.sleep(0.2)
    received: list[set[int]] = [set() for _ in sockets]
    snapshots = [0]
    start_seq = min(heads)

    async def listen(k: int, ws) -> None:
        try:
            while len(received[k]) < changes:
                for message in frame_messages(await ws.recv()):
                    if message.get("type") == "snapshot":
                        snapshots[0] += 1
                    elif message.get("type") == "unit.updated":
                        received[k].add(message["seq"])
        except websockets.ConnectionClosed:
            return

    listeners = [asyncio.create_task(listen(k, ws)) for k, ws in enumerate(sockets)]
    await asyncio.sleep(0.5)
    scans_before, cpu_before, t0 = (
        await asyncio.to_thread(event_table_scans),
        cpu_seconds(daphne_pid),
        time.monotonic(),
    )
    dropped, read_backs = await asyncio.to_thread(drive, changes, rate, lose_every)
    # Every socket should have every change, the dropped ones by a fill: wait for that.
    _, pending = await asyncio.wait(listeners, timeout=30)
    elapsed = time.monotonic() - t0
    cpu = cpu_seconds(daphne_pid) - cpu_before
    for task in pending:
        task.cancel()
    storm = await snapshot_storm(sockets, daphne_pid)
    for ws in sockets:
        await ws.close()
    expected = set(range(start_seq + 1, start_seq + changes + 1))
    lost = sum(len(expected - got) for got in received)
    # The scans are counted once daphne has stopped: a backend that exits reports its counters,
    # one that stays idle may hold them for seconds.
    not_daphnes = scans_before + read_backs + per_change * changes
    return {"dropped": dropped, "not_daphnes": not_daphnes, "cpu": cpu, "elapsed": elapsed,
            "storm": storm,
            "lost": lost, "snapshots": snapshots[0]}  # fmt: skip


def main() -> int:
    logging.getLogger("websockets").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="CI size")
    parser.add_argument("--clients", type=int, default=None, help="default 100 (20 with --small)")
    parser.add_argument("--changes", type=int, default=None, help="default 400 (40 with --small)")
    parser.add_argument("--rate", type=float, default=10.0, help="status changes per second")
    parser.add_argument("--lose-every", type=int, default=10, help="drop 1 in n publishes")
    parser.add_argument("--units", type=int, default=20, help="units on the board")
    args = parser.parse_args()
    clients = args.clients or (20 if args.small else 100)
    changes = args.changes or (40 if args.small else 400)
    if full_stack_missing():
        return 2

    with throwaway_database("bench_gap_fill"):
        cookie, _ = beacon_setup(units=args.units)
        connection.close()
        pids: list[int] = []
        with daphne(server_env(), pids=pids) as port:
            result = asyncio.run(
                run(port, cookie, clients, changes, args.rate, args.lose_every, pids[0])
            )
        time.sleep(1.0)
        result["reads"] = event_table_scans() - result["not_daphnes"]

    deliveries = changes * clients
    print(f"{clients} all-London sockets, {changes} status changes at {args.rate:g}/s, "
          f"{result['dropped']} publishes dropped (one in {args.lose_every or 'none'}); "
          f"machine: {os.cpu_count()} cores")  # fmt: skip
    print(f"reads of the Event table by the socket server: {result['reads']} "
          f"({result['reads'] / max(1, result['dropped']):.1f} per gap)")  # fmt: skip
    print(f"socket server's CPU: {result['cpu']:.2f} s over {result['elapsed']:.1f} s, "
          f"{1e6 * result['cpu'] / deliveries:.1f} µs per delivery")  # fmt: skip
    print(f"snapshots: {result['snapshots']}; lost deliveries: {result['lost']} of {deliveries}")
    storm = result["storm"]
    print(f"snapshot storm ({clients} desks ask at once, {args.units} units): the last had it "
          f"after {1000 * storm['seconds']:.0f} ms; "
          f"socket server's CPU {storm['cpu']:.2f} s")  # fmt: skip
    return 0 if result["lost"] == 0 and (result["dropped"] > 0 or not args.lose_every) else 1


if __name__ == "__main__":
    sys.exit(main())
