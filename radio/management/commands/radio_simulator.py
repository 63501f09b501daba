"""`manage.py radio_simulator`: a radio gateway for demos, tests and benchmarks.

    manage.py radio_simulator [--host 127.0.0.1] [--port 8765] [--speedup 1]
                              [--position-every 5] [--dwell 900] [--ack-delay 4]
                              [--refresh 60] [--no-patrol] [--seed N]

Serves docs/radio-protocol.md on ws://HOST:PORT/ and simulates the active units that have an
ISSI (radio/simulator.py). It reads the database and never writes to it. Stops on SIGTERM/SIGINT.
"""

import asyncio
import contextlib
import signal
from typing import cast

from django.core.management.base import BaseCommand, CommandError

from radio.simulator import SimConfig, Simulator


class Command(BaseCommand):
    help = "Run a simulated radio gateway: units patrol, answer despatches and drive to jobs."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8765)
        parser.add_argument(
            "--speedup", type=float, default=1.0,
            help="simulated seconds per real second (travel, delays, dwell); 10: a lively demo",
        )  # fmt: skip
        parser.add_argument(
            "--position-every", type=float, default=5.0,
            help="real seconds between a moving unit's position reports",
        )  # fmt: skip
        parser.add_argument(
            "--dwell", type=float, default=900.0, help="simulated seconds at scene before code 2"
        )
        parser.add_argument(
            "--ack-delay", type=float, default=4.0,
            help="simulated seconds until the officer acknowledges a despatch message",
        )  # fmt: skip
        parser.add_argument(
            "--refresh", type=float, default=60.0, help="re-read units every N real seconds"
        )
        parser.add_argument("--no-patrol", action="store_true", help="available units stand still")
        parser.add_argument("--seed", type=int, default=None, help="random seed (repeatable runs)")

    def handle(self, *args, host, port, speedup, position_every, dwell, ack_delay, refresh,
               no_patrol, seed, **options):  # fmt: skip
        if speedup <= 0 or position_every <= 0 or refresh <= 0 or dwell < 0 or ack_delay < 0:
            raise CommandError("times and --speedup must be positive")
        config = SimConfig(
            speedup=speedup,
            position_every=position_every,
            tick=min(0.5, position_every),
            dwell=dwell,
            ack_delay=ack_delay,
            refresh=refresh,
            patrol=not no_patrol,
            seed=seed,
        )
        asyncio.run(self._run(Simulator(config), host, port))

    @staticmethod
    async def _run(simulator: Simulator, host: str, port: int) -> None:
        task = cast(asyncio.Task, asyncio.current_task())  # there is one: under asyncio.run
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await simulator.run(host, port)
