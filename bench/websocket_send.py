"""Benchmark: the CPU autobahn spends sending one board frame, with and without its debug line's
arguments deferred (cad/live/websocket_frames.py, decision 0033).

In one process, with no network: a real autobahn server protocol in the open state, writing to
Twisted's in-memory transport (emptied between rounds), sends `--frames` text frames the size
of a unit event through `sendMessage`, as daphne's `serverSend` does for every delivery.
Rounds alternate between autobahn as installed and after `defer_frame_log_arguments()`; prints
this process's CPU per frame for each.

    .venv/bin/python bench/websocket_send.py [--frames 20000] [--rounds 5] [--small]
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cad.settings")

from autobahn import util  # noqa: E402
from autobahn.twisted.websocket import (  # noqa: E402
    WebSocketServerFactory,
    WebSocketServerProtocol,
)
from autobahn.websocket import protocol  # noqa: E402
from twisted.internet.testing import StringTransport  # noqa: E402

from cad.live.websocket_frames import defer_frame_log_arguments  # noqa: E402

# About the size of a unit.updated event as a desk receives it.
FRAME = (
    b'{"seq":123456,"type":"unit.updated","data":{"callsign":"CN01","status":"available",'
    b'"position":{"lat":51.5123,"lon":-0.1234,"at":"2026-12-02T12:00:00Z"},"bcu":"CN"}}'
)


def open_protocol():
    """A server protocol connected to Twisted's in-memory transport, moved to the open state
    as its handshake would leave it (version 13, no compression)."""
    proto = WebSocketServerProtocol()
    proto.factory = WebSocketServerFactory()
    proto.makeConnection(StringTransport())
    proto.state = protocol.WebSocketProtocol.STATE_OPEN
    proto.websocket_version = 13
    proto._perMessageCompress = None
    return proto


def per_frame_us(proto, frames: int) -> float:
    c0 = time.thread_time()
    for _ in range(frames):
        proto.sendMessage(FRAME, False)
    elapsed = time.thread_time() - c0
    proto.transport.clear()  # what was "sent", dropped outside the timing
    return elapsed / frames * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", action="store_true", help="CI size: 2,000 frames, 2 rounds")
    parser.add_argument("--frames", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if args.small:
        args.frames, args.rounds = 2000, 2
    originals = protocol.hltype, protocol.hlval
    proto = open_protocol()
    per_frame_us(proto, 1000)  # warm up
    results: dict[str, list[float]] = {"as installed": [], "deferred": []}
    for _ in range(args.rounds):
        protocol.hltype, protocol.hlval = originals
        results["as installed"].append(per_frame_us(proto, args.frames))
        defer_frame_log_arguments()
        results["deferred"].append(per_frame_us(proto, args.frames))
    # The deferred side really ran deferred.
    assert getattr(protocol.hltype, "renders", None) is util.hltype
    print(f"autobahn sendMessage, {len(FRAME)}-byte text frames, {args.frames} a round, "
          f"{args.rounds} rounds alternating:")  # fmt: skip
    for name, values in results.items():
        print(f"  {name:<13} CPU per frame: median {statistics.median(values):.2f} µs "
              f"(min {min(values):.2f}, max {max(values):.2f})")  # fmt: skip


if __name__ == "__main__":
    main()
