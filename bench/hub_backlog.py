"""Benchmark: what the board hub spends on desks that are busy when messages arrive.

A desk is busy while it fills a gap, answers a resync or sends a snapshot (it holds its lock,
cad/live/consumers.py); whatever the hub reads for it meanwhile must wait and keep its order.
When daphne falls behind, gap fills wait for database threads and many desks are busy at once
(stop 24's soak profile: `BoardHub._deliver`'s task per waiting delivery was 5.5 % of daphne's
interpreter time).

In one process, with no database and no sockets: `--desks` stand-in desks on one stream, all
busy, `--messages` layer messages handed to the hub while they are, then every desk freed.
Prints this process's CPU for the hand-outs while busy and for the catch-up, per delivery, and
checks every desk got every message in order. Runs against whatever cad/live/hub.py is in the
tree, so a worktree of an earlier commit gives the before figure.

    .venv/bin/python bench/hub_backlog.py [--desks 100] [--messages 50] [--rounds 5] [--small]
"""

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cad.settings")
# Run as a script, measure as production runs: no log of every query. Not when a test imports
# the module: its os.environ would reach every server a later test starts.
if __name__ == "__main__":
    os.environ.setdefault("DEBUG", "0")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

from cad.live.hub import BoardHub  # noqa: E402

STREAM = "board.all"


class Desk:
    """Holds its lock while busy; records the seqs it is handed, by either path."""

    def __init__(self):
        self.lock = asyncio.Lock()
        self.got: list[int] = []

    def board_events_now(self, items, stream, run=None):
        return False  # the awaited path and the backlog are what this measures

    async def board_events(self, items, stream, run=None):
        async with self.lock:
            self.got.extend(item["seq"] for item in items)

    async def board_backlog(self, take):
        async with self.lock:
            for delivery in take():
                self.got.extend(item["seq"] for item in delivery.items)


class Layer:
    """Enough of a channel layer for `BoardHub.join`; the bench hands messages in directly."""

    async def new_channel(self, prefix="bench."):
        return prefix + "1"

    async def group_add(self, group, channel):
        return None

    async def receive(self, channel):
        await asyncio.Event().wait()  # nothing comes this way


async def one_round(n_desks: int, n_messages: int) -> tuple[float, float]:
    hub = BoardHub(Layer())
    desks = [Desk() for _ in range(n_desks)]
    for desk in desks:
        await hub.join(STREAM, desk)
        await desk.lock.acquire()
    messages = [
        {"type": "board.event", "seq": seq, "prev": seq - 1, "text": f'{{"seq":{seq}}}'}
        for seq in range(1, n_messages + 1)
    ]
    c0 = time.thread_time()
    for message in messages:
        await hub._handle(STREAM, message)  # what the hub's pump does with each layer message
        await asyncio.sleep(0)  # the pump yields to the loop between reads
    c1 = time.thread_time()
    for desk in desks:
        desk.lock.release()
    expected = list(range(1, n_messages + 1))
    while any(desk.got != expected for desk in desks):
        await asyncio.sleep(0)
    c2 = time.thread_time()
    for pump in hub.pumps.values():
        pump.cancel()
    await asyncio.gather(*hub.pumps.values(), return_exceptions=True)
    return c1 - c0, c2 - c1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", action="store_true", help="CI size: 20 desks, 10 messages")
    parser.add_argument("--desks", type=int, default=100)
    parser.add_argument("--messages", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if args.small:
        args.desks, args.messages, args.rounds = 20, 10, 2
    settings.REDIS_URL = ""  # the hub's figures stay in this process
    busy, catch_up = [], []
    for _ in range(args.rounds):
        b, c = asyncio.run(one_round(args.desks, args.messages))
        busy.append(b)
        catch_up.append(c)
    deliveries = args.desks * args.messages
    print(f"{args.desks} busy desks, {args.messages} messages each, {args.rounds} rounds; "
          f"every desk got every message in order")  # fmt: skip
    for name, values in (("while busy", busy), ("catching up", catch_up)):
        per = [v / deliveries * 1e6 for v in values]
        print(f"  {name:<12} CPU per delivery: median {statistics.median(per):.2f} µs "
              f"(min {min(per):.2f}, max {max(per):.2f})")  # fmt: skip
    total = [(b + c) / deliveries * 1e6 for b, c in zip(busy, catch_up, strict=True)]
    print(f"  in all       CPU per delivery: median {statistics.median(total):.2f} µs")


if __name__ == "__main__":
    main()
