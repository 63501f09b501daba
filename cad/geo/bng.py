"""British National Grid (OSGB36 eastings and northings) to WGS84 latitude and longitude.

Inverse transverse Mercator on the Airy 1830 ellipsoid, then the OSGB36→WGS84 7-parameter
Helmert transformation (Ordnance Survey, "A guide to coordinate systems in Great Britain",
2020; Helmert accurate to about 5 m, no OSTN15 grid). Used for the London Fire Brigade
extract's grid references (bench/recommend_lfb.py checks it against LFB's own lat/lon: median
error a few metres) and by the demand simulator (duties/simulation/sources.py). pyproj would do
this with the OSTN15 grid, but it is a compiled dependency for two callers that need ~5 m.
"""

from math import atan2, cos, degrees, radians, sin, sqrt, tan

AIRY_A, AIRY_B = 6377563.396, 6356256.909
WGS_A, WGS_B = 6378137.000, 6356752.3142
F0, LAT0, LON0, E0, N0 = 0.9996012717, radians(49.0), radians(-2.0), 400000.0, -100000.0
# OSGB36 → WGS84. The OS guide gives WGS84→OSGB36 as tx −446.448, ty +125.157, tz −542.060 m,
# scale +20.4894 ppm, rx −0.1502″, ry −0.2470″, rz −0.8421″; this is its reverse (signs flipped).
TX, TY, TZ = 446.448, -125.157, 542.060
S_PPM = -20.4894
RX, RY, RZ = (radians(v / 3600) for v in (0.1502, 0.2470, 0.8421))


def _meridional_arc(lat: float) -> float:
    n = (AIRY_A - AIRY_B) / (AIRY_A + AIRY_B)
    dl, sl = lat - LAT0, lat + LAT0
    return (
        AIRY_B
        * F0
        * (
            (1 + n + 1.25 * n**2 + 1.25 * n**3) * dl
            - (3 * n + 3 * n**2 + 21 / 8 * n**3) * sin(dl) * cos(sl)
            + (15 / 8 * n**2 + 15 / 8 * n**3) * sin(2 * dl) * cos(2 * sl)
            - 35 / 24 * n**3 * sin(3 * dl) * cos(3 * sl)
        )
    )


def bng_to_osgb36(easting: float, northing: float) -> tuple[float, float]:
    """Inverse transverse Mercator (OS guide, annex C): radians on the Airy 1830 ellipsoid."""
    e2 = 1 - AIRY_B**2 / AIRY_A**2
    lat, m = LAT0, 0.0
    while True:
        lat = (northing - N0 - m) / (AIRY_A * F0) + lat
        m = _meridional_arc(lat)
        if abs(northing - N0 - m) < 0.00001:
            break
    s, t = sin(lat), tan(lat)
    nu = AIRY_A * F0 / sqrt(1 - e2 * s * s)
    rho = AIRY_A * F0 * (1 - e2) / (1 - e2 * s * s) ** 1.5
    eta2 = nu / rho - 1
    sec = 1 / cos(lat)
    vii = t / (2 * rho * nu)
    viii = t / (24 * rho * nu**3) * (5 + 3 * t**2 + eta2 - 9 * t**2 * eta2)
    ix = t / (720 * rho * nu**5) * (61 + 90 * t**2 + 45 * t**4)
    x = sec / nu
    xi = sec / (6 * nu**3) * (nu / rho + 2 * t**2)
    xii = sec / (120 * nu**5) * (5 + 28 * t**2 + 24 * t**4)
    xiia = sec / (5040 * nu**7) * (61 + 662 * t**2 + 1320 * t**4 + 720 * t**6)
    de = easting - E0
    lat_out = lat - vii * de**2 + viii * de**4 - ix * de**6
    lon_out = LON0 + x * de - xi * de**3 + xii * de**5 - xiia * de**7
    return lat_out, lon_out


def _to_cartesian(lat: float, lon: float, a: float, b: float) -> tuple[float, float, float]:
    e2 = 1 - b * b / (a * a)
    nu = a / sqrt(1 - e2 * sin(lat) ** 2)
    return nu * cos(lat) * cos(lon), nu * cos(lat) * sin(lon), (1 - e2) * nu * sin(lat)


def _from_cartesian(x: float, y: float, z: float, a: float, b: float) -> tuple[float, float]:
    e2 = 1 - b * b / (a * a)
    p = sqrt(x * x + y * y)
    lat = atan2(z, p * (1 - e2))
    for _ in range(10):
        nu = a / sqrt(1 - e2 * sin(lat) ** 2)
        lat = atan2(z + e2 * nu * sin(lat), p)
    return lat, atan2(y, x)


def bng_to_wgs84(easting: float, northing: float) -> tuple[float, float]:
    lat, lon = bng_to_osgb36(easting, northing)
    x, y, z = _to_cartesian(lat, lon, AIRY_A, AIRY_B)
    s = S_PPM * 1e-6
    x2 = TX + (1 + s) * x - RZ * y + RY * z
    y2 = TY + RZ * x + (1 + s) * y - RX * z
    z2 = TZ - RY * x + RX * y + (1 + s) * z
    lat_w, lon_w = _from_cartesian(x2, y2, z2, WGS_A, WGS_B)
    return degrees(lat_w), degrees(lon_w)
