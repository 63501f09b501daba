import pytest

from resources.recommend import kept


class Clock:
    """time.monotonic for the recommendation's kept values, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def kept_clock(monkeypatch) -> Clock:
    clock = Clock()
    # kept.py's own name for it only: the process's clock stays real for everything else.
    monkeypatch.setattr(kept, "monotonic", clock)
    return clock
