"""The board snapshot sent when a client has missed too much to replay."""

from cad.events import latest_seq


def board_snapshot(*, bcu: str | None) -> dict:
    """Everything a board needs to redraw, at the seq it reflects.

    The seq is read first: anything committed after it arrives as a live event afterwards, so
    the client may see a change twice (harmless) but never miss one.
    """
    from incidents.selectors import incidents_for_board
    from resources.selectors import units_for_board

    seq = latest_seq()
    return {
        "type": "snapshot",
        "seq": seq,
        "data": {"incidents": incidents_for_board(bcu=bcu), "units": units_for_board(bcu=bcu)},
    }
