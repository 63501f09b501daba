"""The board snapshot sent when a client has missed too much to replay."""

from collections.abc import Callable
from typing import Any

from cad.live.events import latest_seq

# Each feature app registers the part of the board it owns (AppConfig.ready): `incidents` the
# queue, `resources` the units. `cad` sits below them and never imports them.
_sections: dict[str, Callable[..., Any]] = {}


def register_snapshot_section(name: str, selector: Callable[..., Any]) -> None:
    """`selector(bcu=...)` → that section's rows, as the board's events carry them."""
    _sections[name] = selector


def board_snapshot(*, bcu: str | None) -> dict[str, Any]:
    """Everything a board needs to redraw, at the seq it reflects.

    The seq is read first: anything committed after it arrives as a live event afterwards, so
    the client may see a change twice (harmless) but never miss one.
    """
    seq = latest_seq()
    return {
        "type": "snapshot",
        "seq": seq,
        "data": {name: selector(bcu=bcu) for name, selector in _sections.items()},
    }
