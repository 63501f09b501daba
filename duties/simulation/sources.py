"""A real day's calls for the demand simulator (docs/simulation.md): San Francisco fire calls
mapped onto London, or London Fire Brigade incidents, as Beacon incidents (type, grade, place,
time of the call).

Both extracts are in ../shared/data (its README says where they come from). Reading is plain
`csv`; the LFB grid references go through cad/geo/bng.py, as bench/recommend_lfb.py's do.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date, datetime
from math import cos, radians
from pathlib import Path
from zoneinfo import ZoneInfo

from django.conf import settings

from cad.geo.bng import bng_to_wgs84

LONDON = ZoneInfo("Europe/London")
SF_FILE = "sffd_calls_for_service_2020-04-07_to_2020-04-20.csv"
LFB_FILE = "lfb_incidents_2023_sample10k.csv"
SOURCES = ("sf", "lfb")

# --- San Francisco onto London --------------------------------------------------------------
# A similarity transform, north kept up: a call x metres east and y metres north of SF_ORIGIN
# lands SF_SCALE·x east and SF_SCALE·y north of LONDON_ORIGIN. SF_ORIGIN is the mean position
# of the fortnight's calls; LONDON_ORIGIN is Charing Cross, London's traditional centre. SF's
# calls span about 13 km by 14 km and Greater London about 50 km by 45 km; a scale of 3 lays the
# city over inner and most of outer London and keeps every call of the fortnight inside the
# force's area box (settings.FORCE_AREA_BOUNDS). Shapes and the relative density of demand are
# kept (one scale both ways); distances, and so travel times, are London's, not SF's.
SF_ORIGIN = (37.7687, -122.4238)
LONDON_ORIGIN = (51.5073, -0.1276)
SF_SCALE = 3.0
_M_PER_DEG_LAT = 111_320.0


def sf_to_london(lat: float, lon: float) -> tuple[float, float]:
    """Where a San Francisco point lands in London (see the constants above)."""
    north_m = (lat - SF_ORIGIN[0]) * _M_PER_DEG_LAT
    east_m = (lon - SF_ORIGIN[1]) * _M_PER_DEG_LAT * cos(radians(SF_ORIGIN[0]))
    out_lat = LONDON_ORIGIN[0] + SF_SCALE * north_m / _M_PER_DEG_LAT
    out_lon = LONDON_ORIGIN[1] + SF_SCALE * east_m / (
        _M_PER_DEG_LAT * cos(radians(LONDON_ORIGIN[0]))
    )
    return round(out_lat, 6), round(out_lon, 6)


# SF call type → the nearest police incident type (a fire service's call is what a police
# control room would log about the same event). The grade is SF's priority: 3 (lights and
# sirens) and E (emergency) → I, 2 (non-emergency) → S; a traffic collision is an injury
# collision when it is I, damage only when it is S. Anything not listed: CONCERN.
SF_TYPES = {
    "Medical Incident": "COLLAPSE",
    "Alarms": "ALARM",
    "Structure Fire": "DAMAGE",
    "Outside Fire": "DAMAGE",
    "Vehicle Fire": "VEHCRIME",
    "Traffic Collision": "RTCINJ",
    "Citizen Assist / Service Call": "CONCERN",
    "Other": "CONCERN",
    "Gas Leak (Natural and LP Gases)": "HIGHWAY",
    "Electrical Hazard": "HIGHWAY",
    "Fuel Spill": "HIGHWAY",
    "Smoke Investigation (Outside)": "SUSPCIRC",
    "Odor (Strange / Unknown)": "SUSPCIRC",
    "Elevator / Escalator Rescue": "CONCERN",
    "Water Rescue": "CONCERN",
    "Assist Police": "VIOLENCE",
}
SF_GRADES = {"3": "I", "E": "I", "2": "S"}

# LFB incident group / stop code (and special service type) → (type, grade).
LFB_STOP_CODES = {
    "Primary Fire": ("DAMAGE", "I"),
    "Secondary Fire": ("DAMAGE", "S"),
    "Late Call": ("DAMAGE", "S"),
    "AFA": ("ALARM", "S"),
    "False alarm - Good intent": ("CONCERN", "S"),
    "False alarm - Malicious": ("HOAX", "R"),
}
LFB_SPECIAL_SERVICES = {
    "RTC": ("RTCINJ", "I"),
    "Medical Incident": ("COLLAPSE", "I"),
    "Suicide/attempts": ("CONCERN", "I"),
    "Other rescue/release of persons": ("COLLAPSE", "I"),
    "Rescue or evacuation from water": ("CONCERN", "I"),
    "Hazardous Materials incident": ("HIGHWAY", "I"),
    "Animal assistance incidents": ("CONCERN", "S"),
    "Flooding": ("HIGHWAY", "S"),
    "Making Safe (not RTC)": ("HIGHWAY", "S"),
    "Spills and Leaks (not RTC)": ("HIGHWAY", "S"),
}
LFB_DEFAULT = ("CONCERN", "S")  # any other special service: a welfare or assistance call


@dataclass(frozen=True)
class SourceCall:
    """One real call as a Beacon incident would record it. `key` is the source's own number,
    so the simulator's per-call random draws do not depend on database ids or run order."""

    key: str
    received_at: datetime
    lat: float
    lon: float
    type_code: str
    grade: str
    summary: str


class SourceError(Exception):
    """The day cannot be read: no such file, or the source has no calls that day."""


def data_dir() -> Path:
    return Path(settings.BASE_DIR).parent / "shared" / "data"


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def sf_calls(day: date, path: Path) -> list[SourceCall]:
    """The calls SF received on `day` (its local date), at the same local time of day in
    London: one per call number (the file has a row per unit sent; the first row carries the
    call). Calls without a location are left out."""
    calls: dict[str, SourceCall] = {}
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            number = row["Call Number"]
            if number in calls:
                continue
            received = datetime.strptime(row["Received DtTm"], "%m/%d/%Y %I:%M:%S %p")
            if received.date() != day:
                continue
            where = row["Location"].strip("() ").split(",")
            lat, lon = (_float(where[0]), _float(where[1])) if len(where) == 2 else (None, None)
            if lat is None or lon is None:
                continue
            lat, lon = sf_to_london(lat, lon)
            grade = SF_GRADES.get(row["Priority"], "S")
            type_code = SF_TYPES.get(row["Call Type"], "CONCERN")
            if type_code == "RTCINJ" and grade != "I":
                type_code = "RTCDAM"
            calls[number] = SourceCall(
                key=f"sf-{number}", received_at=received.replace(tzinfo=LONDON),
                lat=lat, lon=lon, type_code=type_code, grade=grade,
                summary=f"Simulated from San Francisco call {number}: {row['Call Type']}",
            )  # fmt: skip
    return sorted(calls.values(), key=lambda c: (c.received_at, c.key))


def lfb_calls(day: date, path: Path) -> list[SourceCall]:
    """The LFB sample's incidents of `day` (London date and time of the call), placed by their
    grid reference (exact, else the 50 m rounded one)."""
    calls = []
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["DateOfCall"] != day.isoformat():
                continue
            e = _float(row["Easting_m"]) or _float(row["Easting_rounded"])
            n = _float(row["Northing_m"]) or _float(row["Northing_rounded"])
            if e is None or n is None:
                continue
            lat, lon = bng_to_wgs84(e, n)
            if row["IncidentGroup"] == "Special Service":
                kind = row["SpecialServiceType"] or "Special Service"
                type_code, grade = LFB_SPECIAL_SERVICES.get(kind, LFB_DEFAULT)
            else:
                kind = row["StopCodeDescription"]
                type_code, grade = LFB_STOP_CODES.get(kind, LFB_DEFAULT)
            received = datetime.combine(
                day, datetime.strptime(row["TimeOfCall"], "%H:%M:%S").time(), tzinfo=LONDON
            )
            calls.append(SourceCall(
                key=f"lfb-{row['IncidentNumber']}", received_at=received, lat=round(lat, 6),
                lon=round(lon, 6), type_code=type_code, grade=grade,
                summary=f"Simulated from LFB incident {row['IncidentNumber']}: {kind}",
            ))  # fmt: skip
    return sorted(calls, key=lambda c: (c.received_at, c.key))


def day_calls(source: str, day: date, *, data: Path | None = None) -> list[SourceCall]:
    """The calls of one real day from `source` ("sf" or "lfb"), in time order."""
    if source not in SOURCES:
        raise SourceError(f"source must be one of {', '.join(SOURCES)}")
    path = (data or data_dir()) / (SF_FILE if source == "sf" else LFB_FILE)
    if not path.exists():
        raise SourceError(f"{path} not found")
    calls = (sf_calls if source == "sf" else lfb_calls)(day, path)
    if not calls:
        raise SourceError(f"{path.name} has no calls on {day.isoformat()}")
    return calls
