"""Travel-time routers: how long each candidate unit needs to reach an incident.

A router answers for many origins and one destination at once (one OSRM `table` call, not one
per unit). It raises RouterError when it cannot answer at all; it returns None for a single
origin it cannot route (OSRM: no road link). The engine falls back to straight line for either.

The constants of the default router and where they come from:
docs/decisions/0005-recommendation.md.
"""

import json
import logging
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Protocol

from resources.recommend.conf import conf
from resources.recommend.geo import haversine_m

logger = logging.getLogger(__name__)


class RouterError(Exception):
    """The router could not answer (down, timed out, malformed reply)."""


@dataclass(frozen=True)
class Origin:
    lat: float
    lon: float
    urban_speed_kmh: float
    blue_light_speed_kmh: float


@dataclass(frozen=True)
class Leg:
    seconds: float
    road_m: float | None  # None when the router only estimates
    # What the time is based on, in words, when the router knows better than "estimated"
    # (the learned router: "usually 6 min from here at this hour, from 214 past attendances").
    note: str = ""
    # Of the nearest past incidents, the share where a unit from this origin arrived first
    # (learned router only); the engine takes a little off the score for it.
    first_share: float = 0.0


class Router(Protocol):
    name: str
    by_road: bool  # True when times come from a road network, not an estimate

    def travel(
        self, origins: list[Origin], dest_lat: float, dest_lon: float, *, blue_lights: bool
    ) -> list[Leg | None]: ...


def speed_kmh(origin: Origin, *, blue_lights: bool) -> float:
    speed = origin.blue_light_speed_kmh if blue_lights else origin.urban_speed_kmh
    if not speed or speed <= 0:
        speed = conf("BLUE_LIGHT_SPEED_KMH") if blue_lights else conf("URBAN_SPEED_KMH")
    return float(speed)


class EstimateRouter:
    """Road time estimated from straight-line distance: distance × detour factor ÷ speed.

    Speed is the unit type's (blue-light speed on blue-light grades). No network, never fails,
    microseconds per unit: the default, and the fallback for every other router.
    """

    name = "estimate"
    by_road = False

    def __init__(self, *, detour: float | None = None, mobilise_s: float | None = None):
        self.detour = float(conf("DETOUR_FACTOR") if detour is None else detour)
        self.mobilise_s = float(conf("MOBILISE_S") if mobilise_s is None else mobilise_s)

    def travel(
        self, origins: list[Origin], dest_lat: float, dest_lon: float, *, blue_lights: bool
    ) -> list[Leg | None]:
        legs: list[Leg | None] = []
        for o in origins:
            road_m = haversine_m(o.lat, o.lon, dest_lat, dest_lon) * self.detour
            seconds = self.mobilise_s + road_m / (speed_kmh(o, blue_lights=blue_lights) / 3.6)
            legs.append(Leg(seconds=seconds, road_m=road_m))
        return legs


class OsrmRouter:
    """Road times from an OSRM server's table service (one request for all candidates).

    `GET /table/v1/{profile}/{lon,lat;...}?sources=1;2;..&destinations=0`
    `&annotations=duration,distance`.
    The destination is coordinate 0, the units 1..n. OSRM's car profile has no blue lights, so
    durations are scaled by OSRM_BLUE_LIGHT_FACTOR on blue-light grades.
    """

    name = "osrm"
    by_road = True

    def __init__(
        self,
        base_url: str | None = None,
        *,
        profile: str | None = None,
        timeout_s: float | None = None,
        blue_light_factor: float | None = None,
    ):
        self.base_url = (base_url or conf("OSRM_URL")).rstrip("/")
        if not self.base_url:
            raise RouterError("RECOMMEND_OSRM_URL is not set")
        self.profile = profile or conf("OSRM_PROFILE")
        self.timeout_s = float(timeout_s or conf("OSRM_TIMEOUT_S"))
        self.blue_light_factor = float(
            conf("OSRM_BLUE_LIGHT_FACTOR") if blue_light_factor is None else blue_light_factor
        )

    def url_for(self, origins: list[Origin], dest_lat: float, dest_lon: float) -> str:
        coords = ";".join(
            f"{lon:.6f},{lat:.6f}"
            for lat, lon in [(dest_lat, dest_lon), *((o.lat, o.lon) for o in origins)]
        )
        sources = ";".join(str(i) for i in range(1, len(origins) + 1))
        return (
            f"{self.base_url}/table/v1/{self.profile}/{coords}"
            f"?sources={sources}&destinations=0&annotations=duration,distance"
        )

    def travel(
        self, origins: list[Origin], dest_lat: float, dest_lon: float, *, blue_lights: bool
    ) -> list[Leg | None]:
        if not origins:
            return []
        url = self.url_for(origins, dest_lat, dest_lon)
        if not url.startswith(("http://", "https://")):
            raise RouterError("OSRM URL must be http(s)")
        try:
            with urllib.request.urlopen(url, timeout=self.timeout_s) as reply:  # noqa: S310
                body = json.loads(reply.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            # OSRM answers 400 with a JSON body ({"code": "InvalidQuery", ...}) for bad input.
            raise RouterError(f"OSRM HTTP {exc.code}") from exc
        except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
            raise RouterError(f"OSRM unreachable: {exc}") from exc
        return self.parse(body, len(origins), blue_lights=blue_lights)

    def parse(self, body: dict, n: int, *, blue_lights: bool) -> list[Leg | None]:
        if not isinstance(body, dict) or body.get("code") != "Ok":
            raise RouterError(
                f"OSRM answered {body.get('code') if isinstance(body, dict) else body!r}"
            )
        durations = body.get("durations")
        distances = body.get("distances") or [[None]] * n
        if not isinstance(durations, list) or len(durations) != n:
            raise RouterError("OSRM table has the wrong shape")
        factor = self.blue_light_factor if blue_lights else 1.0
        legs: list[Leg | None] = []
        for row, drow in zip(durations, distances, strict=False):
            seconds = row[0] if isinstance(row, list) and row else None
            road_m = drow[0] if isinstance(drow, list) and drow else None
            # null = OSRM found no route from this unit (e.g. snapped onto an unconnected road)
            legs.append(None if seconds is None else Leg(seconds=seconds * factor, road_m=road_m))
        return legs


def default_router() -> Router:
    """The configured router; OSRM only when a URL is set, else the estimate."""
    if conf("ROUTER") == "osrm" and conf("OSRM_URL"):
        return OsrmRouter()
    return EstimateRouter()
