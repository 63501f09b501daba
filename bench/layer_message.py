"""Benchmark: what one radio batch of position events costs on the channel layer.

    .venv/bin/python bench/layer_message.py             (200 fixes a batch, 200 batches)
    .venv/bin/python bench/layer_message.py --small     (CI size: 20 batches)

A gateway batch moves up to 200 units; radio/positions.py publishes their `unit.updated`
events with `cad.live.events.group_messages`, and every daphne process unpacks each layer
message on each desk stream it serves (channels-redis' msgpack serializer). This measures both
ends on the real functions and payloads (`resources.selectors.unit_payload`), with no database
or Redis: the serialized bytes per event, the publisher's serialize time and a daphne's
deserialize time per event, for the central stream (`board.all`). Run it in two checkouts to
compare two versions of the message shape (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cad.settings")
# Run as a script, measure as production runs: no log of every query. Not when a test imports
# the module: its os.environ would reach every server a later test starts.
if __name__ == "__main__":
    os.environ.setdefault("DEBUG", "0")

import django  # noqa: E402

django.setup()

from channels_redis.serializers import registry  # noqa: E402

from cad.live import events  # noqa: E402
from resources.selectors import unit_payload  # noqa: E402

BCUS = ["CN", "AS", "HA", "NA", "EA", "NE", "CE", "SW", "SE", "WA", "NW", "CW"]


def fix_event(seq: int, unit: int, at: datetime) -> dict:
    """A `unit.updated` event as radio/positions.py publishes it for one GPS fix."""
    row = {
        "id": unit, "callsign": f"{BCUS[unit % 12]}{unit:04d}", "type__code": "IRV",
        "status": "available", "status_at": at - timedelta(minutes=40), "deployable": True,
        "lat": 51.5 + (unit % 97) / 1000, "lon": -0.12 - (unit % 89) / 1000,
        "position_at": at, "bcu__code": BCUS[unit % 12], "issi": f"{unit:08d}",
        "emergency": False, "emergency_at": None,
    }  # fmt: skip
    job = None
    if unit % 3 == 0:  # about a third of units are on a job
        job = {
            "incident_id": 9000 + unit, "incident__bcu__code": BCUS[unit % 12],
            "incident__grade": "I", "assigned_at": at - timedelta(minutes=5),
            "en_route_at": at - timedelta(minutes=4), "at_scene_at": None,
            "acknowledged_at": at - timedelta(minutes=4),
        }  # fmt: skip
    data = unit_payload(row, ["TASER"] if unit % 5 == 0 else [], job)
    return {"seq": seq, "type": "unit.updated", "data": data}


def batch_of(first_seq: int, size: int, at: datetime) -> list[tuple[dict, dict, str]]:
    triples = []
    last_on_bcu: dict[str, int] = {}
    for offset in range(size):
        seq, unit = first_seq + offset, (first_seq + offset * 7) % 5000
        event = fix_event(seq, unit, at)
        bcu = event["data"]["bcu"]
        prev = {events.ALL_GROUP: seq - 1, events.bcu_group(bcu): last_on_bcu.get(bcu, 0)}
        last_on_bcu[bcu] = seq
        triples.append((event, prev, f"unit:{event['data']['callsign']}"))
    return triples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--small", action="store_true", help="CI size: 20 batches")
    args = parser.parse_args()
    batches = 20 if args.small else args.batches
    serializer = registry.get_serializer("msgpack")
    at = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    sizes, pack_us, unpack_us = [], [], []
    for index in range(batches):
        messages = events.group_messages(batch_of(1 + index * args.batch, args.batch, at))
        central = messages[events.ALL_GROUP]
        started = time.perf_counter()
        packed = [serializer.serialize(m) for m in central]
        packed_at = time.perf_counter()
        for blob in packed:
            serializer.deserialize(blob)
        done = time.perf_counter()
        sizes.append(sum(len(b) for b in packed) / args.batch)
        pack_us.append((packed_at - started) * 1e6 / args.batch)
        unpack_us.append((done - packed_at) * 1e6 / args.batch)

    def line(name: str, values: list[float], unit: str) -> str:
        ordered = sorted(values)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        return f"{name:<28} median {statistics.median(values):8.1f} {unit}   p99 {p99:8.1f} {unit}"

    print(f"layer messages for {batches} batches of {args.batch} position events (board.all)")
    print(line("bytes per event", sizes, "B"))
    print(line("serialize per event", pack_us, "us"))
    print(line("deserialize per event", unpack_us, "us"))


if __name__ == "__main__":
    main()
