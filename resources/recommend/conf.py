"""Recommendation settings, each overridable as `RECOMMEND_<NAME>` in cad/settings.py.

Read at call time (not import time) so a deployment or a test can change them without a
restart of the module. Where each default comes from: docs/decisions/0005-recommendation.md.
"""

from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    # Straight-line shortlist size before the router is asked (the router is the slow part).
    "SHORTLIST_K": 10,
    # Per response-plan line, at least this many matching units are shortlisted too, so a
    # dog unit 9 km away is still considered when the ten nearest are all response cars.
    "PLAN_SHORTLIST_K": 3,
    # How many results are stored and returned.
    "RESULTS": 10,
    # The first search box's half-width: sized to hold about SEARCH_FILL times the units wanted
    # at the density of free units around the incident (density.py), between these two; it
    # widens until the shortlist is complete. SEARCH_RADIUS_M alone was the first box until
    # issue 22 (stop 39) and is still where no free units are counted near.
    "SEARCH_RADIUS_M": 4000,
    "SEARCH_RADIUS_MIN_M": 500,
    "SEARCH_FILL": 3,
    # Free units per grid square are counted by each process at most this often (seconds).
    "SQUARES_KEPT_S": 10,
    # A position older than this is used, but with a penalty and a reason.
    "STALE_POSITION_S": 600,
    "STALE_PENALTY_S": 120,
    # Units whose scores fall in the same window count as tied; the longest idle goes first.
    "TIE_WINDOW_S": 30,
    # Default router: road distance ≈ straight line × detour factor (circuity).
    "DETOUR_FACTOR": 1.4,
    # Fixed time added to every ETA: getting moving (and, for a unit at station, turnout).
    "MOBILISE_S": 0,
    # Grades that travel on blue lights (the unit type's blue_light_speed_kmh applies).
    "BLUE_LIGHT_GRADES": "I",
    # Speeds for a unit type that has none recorded (km/h).
    "URBAN_SPEED_KMH": 30.0,
    "BLUE_LIGHT_SPEED_KMH": 45.0,
    # "router" to use: "learned" (default: travel times learned from past attendances, the
    # estimate until a model is trained), "estimate" (no network) or "osrm" (needs OSRM_URL).
    "ROUTER": "learned",
    # The learned router (docs/decisions/0021-learned-router.md): days of history it trains on,
    # the fewest attendances worth a model, and the seconds taken off the score of a unit from
    # where the first unit came at every one of the nearest past incidents (scaled by the share).
    "LEARNED_DAYS": 180,
    "LEARNED_MIN_ATTENDANCES": 50,
    "LEARNED_FIRST_BONUS_S": 200,
    # How often the engine asks whether a newer version has been trained (seconds).
    "LEARNED_CHECK_S": 10,
    # How long a process keeps a type's response plan (seconds; an edit in the same process
    # clears it at once, engine.plan_lines). 0 reads it every time.
    "PLAN_CACHE_S": 10,
    "OSRM_URL": "",
    "OSRM_PROFILE": "driving",
    "OSRM_TIMEOUT_S": 2.0,
    # OSRM's car profile knows nothing of blue lights; durations are multiplied by this on
    # blue-light grades (1.0 = trust OSRM as it is).
    "OSRM_BLUE_LIGHT_FACTOR": 1.0,
    # Unsuitable units (lacking the response plan's type or skill): "after" ranks them after
    # every suitable unit, "exclude" leaves them out of the results.
    "UNSUITABLE": "after",
    # A stored result older than this is recomputed when the API is asked.
    "FRESH_S": 120,
    # When a unit becomes free: open unresourced incidents within this radius are refreshed.
    "NEAR_UNIT_RADIUS_M": 8000,
    "NEAR_UNIT_MAX_INCIDENTS": 25,
    # The attendance target an I-grade incident is checked against (national standard).
    "I_GRADE_TARGET_S": 15 * 60,
    # Coverage sampling: grid step inside each borough, and cache lifetime.
    "COVERAGE_GRID_M": 1000,
}


def conf(name: str) -> Any:
    return getattr(settings, f"RECOMMEND_{name}", DEFAULTS[name])
