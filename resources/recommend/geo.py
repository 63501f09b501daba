"""Private geometry for recommendation: kept here so the engine has no dependency on others'
work in progress (cad/geo/geometry.py). Plain spherical maths; good to metres at London's scale."""

from math import asin, cos, radians, sin, sqrt

EARTH_RADIUS_M = 6_371_008.8  # IUGG mean radius


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = radians(lat1), radians(lat2)
    dlat = p2 - p1
    dlon = radians(lon2 - lon1)
    a = sin(dlat / 2) ** 2 + cos(p1) * cos(p2) * sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_M * asin(min(1.0, sqrt(a)))


def box_around(lat: float, lon: float, radius_m: float) -> tuple[float, float, float, float]:
    """(min_lat, max_lat, min_lon, max_lon) of a box holding every point within radius_m."""
    dlat = radius_m / 111_195.0
    dlon = radius_m / (111_195.0 * max(cos(radians(lat)), 0.01))
    return lat - dlat, lat + dlat, lon - dlon, lon + dlon


def point_in_ring(lat: float, lon: float, ring: list) -> bool:
    """Ray casting on one GeoJSON ring ([lon, lat] pairs)."""
    inside = False
    j = len(ring) - 1
    for i in range(len(ring)):
        xi, yi = ring[i][0], ring[i][1]
        xj, yj = ring[j][0], ring[j][1]
        if (yi > lat) != (yj > lat) and lon < (xj - xi) * (lat - yi) / (yj - yi) + xi:
            inside = not inside
        j = i
    return inside


def polygons_of(geometry: dict) -> list[list]:
    """The polygons (lists of rings) of a GeoJSON Polygon or MultiPolygon."""
    if geometry.get("type") == "Polygon":
        return [geometry["coordinates"]]
    if geometry.get("type") == "MultiPolygon":
        return list(geometry["coordinates"])
    return []


def point_in_geometry(lat: float, lon: float, geometry: dict) -> bool:
    for rings in polygons_of(geometry):
        inside = rings and point_in_ring(lat, lon, rings[0])
        if inside and not any(point_in_ring(lat, lon, hole) for hole in rings[1:]):
            return True
    return False
