"""`manage.py radio_bridge`: connect to the radio gateway and store its traffic until stopped.

    manage.py radio_bridge [--url ws://127.0.0.1:8765/] [--user radio-bridge]
                           [--window-ms 50] [--max-group 500] [--silence 30] [--stores 2]
                           [--hand-over-at 500]

Runs until SIGTERM or SIGINT; then it finishes (and acknowledges) the group it is storing and
closes the session. Protocol: docs/radio-protocol.md.
"""

import asyncio
import signal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from cad.startup_heap import freeze_startup_heap
from radio import protocol
from radio.bridge import DEFAULT_USER, Bridge, BridgeConfig, BridgeError, bridge_user


class Command(BaseCommand):
    help = "Bridge the radio gateway to Beacon: store inbound traffic, acknowledge after commit."

    def add_arguments(self, parser):
        parser.add_argument(
            "--url", default=None, help="gateway WebSocket URL (default: RADIO_GATEWAY_URL)"
        )
        parser.add_argument(
            "--user", default=DEFAULT_USER,
            help="account the bridge acts as (group radio_gateway; created if missing)",
        )  # fmt: skip
        parser.add_argument(
            "--window-ms", type=float, default=50,
            help="wait this long for more messages before storing a group",
        )  # fmt: skip
        parser.add_argument(
            "--max-group", type=int, default=protocol.MAX_BATCH,
            help="most messages stored in one transaction (1-500)",
        )  # fmt: skip
        parser.add_argument(
            "--silence", type=float, default=30.0,
            help="seconds without a frame before the connection counts as dead",
        )  # fmt: skip
        parser.add_argument(
            "--flow-window", type=int, default=protocol.BRIDGE_WINDOW,
            help="messages the gateway may keep unacknowledged with us (docs/radio-protocol.md, "
                 "flow control); 0: ask for none, and the gateway resends after 10 s as before",
        )  # fmt: skip
        parser.add_argument(
            "--stats-every", type=float, default=60.0, help="log counters every N seconds"
        )
        parser.add_argument(
            "--stores", type=int, default=BridgeConfig.stores,
            help="groups stored at once, each on its own database connection (1-8)",
        )  # fmt: skip
        parser.add_argument(
            "--hand-over-at", type=int, default=BridgeConfig.hand_over_at,
            help="messages waiting at which a store leaves its GPS fixes to the radio workers "
                 "instead of applying them itself (decision 0030); 0: never",
        )  # fmt: skip

    def handle(
        self, *args, url, user, window_ms, max_group, silence, flow_window, stats_every, stores,
        hand_over_at, **options,
    ):  # fmt: skip
        if not 1 <= max_group <= protocol.MAX_BATCH:
            raise CommandError(f"--max-group must be 1 to {protocol.MAX_BATCH}")
        if not 1 <= stores <= 8:
            raise CommandError("--stores must be 1 to 8")
        if hand_over_at < 0:
            raise CommandError("--hand-over-at must be 0 (never) or more")
        queue_size = BridgeConfig.queue_size
        if not (flow_window == 0 or max_group <= flow_window <= queue_size):
            # Above the queue the bridge would stop reading; below a group it would starve.
            raise CommandError(f"--flow-window must be 0 or from --max-group to {queue_size}")
        if silence <= 1 or window_ms < 0:
            raise CommandError("--silence must be over 1 s and --window-ms not negative")
        try:
            account = bridge_user(user)
        except BridgeError as exc:
            raise CommandError(str(exc)) from exc
        config = BridgeConfig(
            url=url or protocol.gateway_url(),
            headers=protocol.auth_headers(),
            window=window_ms / 1000,
            max_group=max_group,
            silence=silence,
            ping_after=min(10.0, silence / 3),
            stats_every=stats_every,
            flow_window=flow_window,
            heartbeat_every=settings.RADIO_BRIDGE_HEARTBEAT_SECONDS,
            stores=stores,
            hand_over_at=hand_over_at,
        )
        bridge = Bridge(config, user=account)
        freeze_startup_heap()  # the board's lag waits on a full collection too
        self.stdout.write(f"radio bridge: {config.url} as {account.username}")
        asyncio.run(self._run(bridge))

    @staticmethod
    async def _run(bridge: Bridge) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, bridge.stop)
        await bridge.run()
