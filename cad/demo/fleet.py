"""The demo fleet: which units each station has, and their call signs (docs/demo-data.md).

Station units take the station's two-letter code and a number whose first digit says the type,
so a despatcher can read a call sign aloud and know what it is:

    SS1   area car              SS21-SS23 incident response vehicles   SS31 carrier (van)
    SS41  prisoner van          SS51 foot patrol                       SS61 cycle patrol

Force-wide specialist units have their own series, homed at their BCU's first station:
TJ501-TJ524 armed response vehicles (after the Met's "Trojan"), DG01-DG12 dog units,
RT01-RT24 traffic cars. No station code uses the TJ, DG or RT prefixes.
"""

from typing import NamedTuple

from cad.demo.geography import BCUS, BOROUGH_BCU, STATIONS

ISSI_BASE = 2_350_000  # TETRA ISSIs are 24-bit; the demo fleet uses one contiguous block


class UnitPlan(NamedTuple):
    callsign: str
    type_code: str
    station_code: str
    issi: str


def fleet_plan() -> list[UnitPlan]:
    """Every demo unit, in a fixed order (the order also fixes each unit's ISSI)."""
    rows: list[tuple[str, str, str]] = []
    arv = traffic = 0
    for dog, bcu in enumerate(BCUS, start=1):
        stations = [s for s in STATIONS if BOROUGH_BCU[s.borough] == bcu.code]
        for k, station in enumerate(stations):
            code = station.code
            rows.append((f"{code}1", "AREA", code))
            rows += [(f"{code}2{n}", "IRV", code) for n in (1, 2, 3)]
            rows.append((f"{code}31", "VAN", code))
            if k == 0:
                rows.append((f"{code}41", "PRIS", code))
                rows.append((f"{code}61", "CYCLE", code))
            if k < 2:
                rows.append((f"{code}51", "FOOT", code))
        home = stations[0].code
        for _ in range(2):
            arv += 1
            rows.append((f"TJ{500 + arv}", "ARV", home))
        rows.append((f"DG{dog:02d}", "DOG", home))
        for _ in range(2):
            traffic += 1
            rows.append((f"RT{traffic:02d}", "TRAF", home))
    return [
        UnitPlan(callsign, type_code, station, str(ISSI_BASE + i + 1))
        for i, (callsign, type_code, station) in enumerate(rows)
    ]
