"""autobahn's per-frame debug arguments are built only when a debug line is really written
(cad/live/websocket_frames.py, decision 0033)."""

import click
from autobahn import util
from autobahn.websocket import protocol
from autobahn.websocket.protocol import WebSocketProtocol

import cad.asgi  # noqa: F401  (the ASGI entry point applies it, as daphne loads it)
from cad.live.websocket_frames import Deferred, defer_frame_log_arguments


def test_the_asgi_entry_point_rebinds_the_names_sendData_logs_with():
    assert protocol.hltype.renders is util.hltype
    assert protocol.hlval.renders is util.hlval
    # What autobahn's sendData still calls them by (a release that renames them fails here).
    names = WebSocketProtocol.sendData.__code__.co_names
    assert "hltype" in names and "hlval" in names


def test_nothing_is_coloured_until_a_line_is_written(monkeypatch):
    calls = []
    real = click.style

    def counted(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(click, "style", counted)
    func = protocol.hltype(WebSocketProtocol.sendData)
    size = protocol.hlval(1234)
    assert isinstance(func, Deferred) and calls == []
    template = "{func} sent {data_len} bytes"  # as txaio formats a log line, when it does
    line = template.format(func=func, data_len=size)
    assert line == f"{util.hltype(WebSocketProtocol.sendData)} sent {util.hlval(1234)} bytes"
    assert calls  # coloured once the line was formatted


def test_a_deferred_argument_reads_as_the_original_in_str_repr_and_format():
    value = protocol.hlval("peer", color="green", bold=False)
    original = util.hlval("peer", color="green", bold=False)
    assert str(value) == original
    assert repr(value) == repr(original)
    assert f"{value:>40}" == f"{original:>40}"


def test_applying_it_twice_does_not_wrap_the_wrapper():
    before = protocol.hltype
    defer_frame_log_arguments()
    assert protocol.hltype is before
