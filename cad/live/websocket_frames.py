"""autobahn's per-frame debug line, made free when debug logging is off (decision 0033).

Every frame daphne sends goes through autobahn's `WebSocketProtocol.sendData`, which logs at
debug level with arguments built before the call: `hltype(self.sendData)` and two `hlval(...)`,
each colouring text with click. txaio drops the line when debug is off, but only after the
arguments were made. py-spy on daphne with 500 desks (bench/board_fanout.py, stop 25): 13.5 % of
the interpreter's time in it, for a line nobody reads.

`defer_frame_log_arguments()` rebinds those two names in autobahn's protocol module to versions
that keep the value and build the text only when a log line is really formatted, so a debug log
reads exactly as before and a quiet one costs a small object per argument. autobahn itself is
unchanged; the rebinding is checked by cad/tests/test_websocket_frames.py, which fails if a new
autobahn release moves or renames what it relies on.
"""

from collections.abc import Callable
from typing import Any

from autobahn import util
from autobahn.websocket import protocol


class Deferred:
    """What `render(*args, **kwargs)` would return, worked out when formatted, not before."""

    __slots__ = ("render", "args", "kwargs")

    def __init__(self, render: Callable[..., str], args: tuple, kwargs: dict[str, Any]):
        self.render, self.args, self.kwargs = render, args, kwargs

    def __str__(self) -> str:
        return self.render(*self.args, **self.kwargs)

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    def __repr__(self) -> str:
        return repr(str(self))


def deferring(render: Callable[..., str]) -> Callable[..., Deferred]:
    def defer(*args: Any, **kwargs: Any) -> Deferred:
        return Deferred(render, args, kwargs)

    defer.renders = render  # type: ignore[attr-defined]  # marks it done, and for the tests
    return defer


def defer_frame_log_arguments() -> None:
    """Rebind autobahn's protocol-module `hltype` and `hlval`; safe to call more than once."""
    for name, render in (("hltype", util.hltype), ("hlval", util.hlval)):
        if not hasattr(getattr(protocol, name), "renders"):
            setattr(protocol, name, deferring(render))
