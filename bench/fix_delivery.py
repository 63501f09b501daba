"""Which `unit.updated` frames bring a desk a new GPS fix: the soak's radio lag (bench/soak.py).

Every `unit.updated` carries the unit's position with the time of its last fix, whatever sent
it: a fix, or a change of status (assigned, at scene, cleared). Timing a status change's frame
from its position's time measures how long ago the unit last reported, not the radio's lag.
After the load stops, a unit cleared 20 s later showed as a 20 s lag: in stop 32's hour, the
drain's 121 closes (each a frame to about 13 desks, of the window's 11,261) made its p99 20.3 s,
while no window under load reached 5 s. So a desk times a frame only for a fix newer than any
it has had for that unit: the first frame that tells it of the fix, whichever event carried it.
"""


class NewFixes:
    """One desk's newest fix per unit."""

    def __init__(self) -> None:
        self._newest: dict[str, float] = {}

    def is_new(self, unit: str, fix_at: float) -> bool:
        """True the first time this desk hears of this fix (and of any later one)."""
        if fix_at <= self._newest.get(unit, float("-inf")):
            return False
        self._newest[unit] = fix_at
        return True
