"""The 12 BCUs and 32 boroughs of docs/domain.md, and about 60 real Met police stations.

Borough centres are approximate real centroids (WGS84). Station positions are approximate; the
two-letter station codes are demo codes in the style of the Met's, not the official ones.
"""

from typing import NamedTuple


class BCUData(NamedTuple):
    code: str
    name: str
    boroughs: tuple[str, ...]


class BoroughData(NamedTuple):
    name: str
    lat: float
    lon: float


class StationData(NamedTuple):
    code: str
    name: str
    borough: str
    lat: float
    lon: float


# Names and codes exactly as domain.md's table.
BCUS: tuple[BCUData, ...] = (
    BCUData("AW", "Central West", ("Hammersmith & Fulham", "Kensington & Chelsea", "Westminster")),
    BCUData("SW", "South West", ("Kingston", "Merton", "Richmond", "Wandsworth")),
    BCUData("SN", "South", ("Bromley", "Croydon", "Sutton")),
    BCUData("SE", "South East", ("Bexley", "Greenwich", "Lewisham")),
    BCUData("EA", "East", ("Barking & Dagenham", "Havering", "Redbridge")),
    BCUData("WA", "West", ("Ealing", "Hillingdon", "Hounslow")),
    BCUData("AS", "Central South", ("Lambeth", "Southwark")),
    BCUData("NA", "North", ("Enfield", "Haringey")),
    BCUData("CE", "Central East", ("Hackney", "Tower Hamlets")),
    BCUData("CN", "Central North", ("Camden", "Islington")),
    BCUData("NW", "North West", ("Barnet", "Brent", "Harrow")),
    BCUData("NE", "North East", ("Newham", "Waltham Forest")),
)

BOROUGHS: tuple[BoroughData, ...] = (
    BoroughData("Hammersmith & Fulham", 51.4925, -0.2240),
    BoroughData("Kensington & Chelsea", 51.5020, -0.1940),
    BoroughData("Westminster", 51.5125, -0.1590),
    BoroughData("Kingston", 51.3880, -0.2840),
    BoroughData("Merton", 51.4100, -0.1880),
    BoroughData("Richmond", 51.4400, -0.3070),
    BoroughData("Wandsworth", 51.4520, -0.1910),
    BoroughData("Bromley", 51.3720, 0.0510),
    BoroughData("Croydon", 51.3550, -0.0870),
    BoroughData("Sutton", 51.3570, -0.1730),
    BoroughData("Bexley", 51.4560, 0.1470),
    BoroughData("Greenwich", 51.4730, 0.0640),
    BoroughData("Lewisham", 51.4460, -0.0180),
    BoroughData("Barking & Dagenham", 51.5460, 0.1290),
    BoroughData("Havering", 51.5610, 0.2340),
    BoroughData("Redbridge", 51.5850, 0.0710),
    BoroughData("Ealing", 51.5210, -0.3330),
    BoroughData("Hillingdon", 51.5350, -0.4450),
    BoroughData("Hounslow", 51.4630, -0.3780),
    BoroughData("Lambeth", 51.4580, -0.1180),
    BoroughData("Southwark", 51.4740, -0.0740),
    BoroughData("Enfield", 51.6510, -0.0810),
    BoroughData("Haringey", 51.5870, -0.1080),
    BoroughData("Hackney", 51.5480, -0.0610),
    BoroughData("Tower Hamlets", 51.5150, -0.0340),
    BoroughData("Camden", 51.5450, -0.1630),
    BoroughData("Islington", 51.5480, -0.1090),
    BoroughData("Barnet", 51.6170, -0.2090),
    BoroughData("Brent", 51.5590, -0.2760),
    BoroughData("Harrow", 51.5970, -0.3390),
    BoroughData("Newham", 51.5260, 0.0290),
    BoroughData("Waltham Forest", 51.5930, -0.0160),
)

# The City of London has its own police force. Its centre takes part in generating boundaries
# so that the generated map leaves a City-shaped gap instead of giving the Square Mile to an
# MPS borough; no Borough row is made for it.
CITY_OF_LONDON = BoroughData("City of London", 51.5155, -0.0922)

# Extra sites that shape the generated boundaries where borough centres and stations alone put a
# well-known place in the wrong borough (mostly along the Thames, which a Voronoi map cannot see).
LANDMARKS: tuple[tuple[str, float, float], ...] = (
    ("Westminster", 51.5005, -0.1275),  # Parliament Square
    ("Westminster", 51.5080, -0.1280),  # Trafalgar Square
    ("Lambeth", 51.5010, -0.1160),  # Waterloo
    ("Southwark", 51.5045, -0.0900),  # London Bridge
    ("Tower Hamlets", 51.5080, -0.0760),  # Tower of London
    ("Islington", 51.5265, -0.1030),  # Angel / Finsbury
)

# A convex outline of Greater London (lon, lat) that the generated boroughs are clipped to.
LONDON_OUTLINE: tuple[tuple[float, float], ...] = (
    (-0.510, 51.470), (-0.500, 51.600), (-0.420, 51.640), (-0.200, 51.672),
    (-0.080, 51.692), (0.020, 51.672), (0.200, 51.630), (0.334, 51.560),
    (0.310, 51.495), (0.200, 51.440), (0.150, 51.360), (0.050, 51.290),
    (-0.100, 51.287), (-0.250, 51.325), (-0.330, 51.330), (-0.460, 51.400),
)  # fmt: skip

STATIONS: tuple[StationData, ...] = (
    # Central West (AW)
    StationData("CX", "Charing Cross", "Westminster", 51.5097, -0.1244),
    StationData("CD", "West End Central", "Westminster", 51.5115, -0.1413),
    StationData("AB", "Belgravia", "Westminster", 51.4934, -0.1470),
    StationData("BS", "Kensington", "Kensington & Chelsea", 51.4955, -0.1955),
    StationData("BN", "Notting Hill", "Kensington & Chelsea", 51.5130, -0.2055),
    StationData("FH", "Hammersmith", "Hammersmith & Fulham", 51.4965, -0.2245),
    # South West (SW)
    StationData("VK", "Kingston", "Kingston", 51.4110, -0.3010),
    StationData("VW", "Wimbledon", "Merton", 51.4210, -0.2060),
    StationData("TR", "Richmond", "Richmond", 51.4610, -0.3030),
    StationData("WH", "Lavender Hill", "Wandsworth", 51.4640, -0.1640),
    StationData("WT", "Tooting", "Wandsworth", 51.4275, -0.1680),
    # South (SN)
    StationData("ZD", "Croydon", "Croydon", 51.3725, -0.0985),
    StationData("ZN", "Norbury", "Croydon", 51.4115, -0.1215),
    StationData("PY", "Bromley", "Bromley", 51.4050, 0.0160),
    StationData("PO", "Orpington", "Bromley", 51.3760, 0.0985),
    StationData("ZT", "Sutton", "Sutton", 51.3620, -0.1920),
    # South East (SE)
    StationData("RY", "Bexleyheath", "Bexley", 51.4570, 0.1440),
    StationData("RA", "Plumstead", "Greenwich", 51.4870, 0.0880),
    StationData("RE", "Eltham", "Greenwich", 51.4510, 0.0530),
    StationData("PL", "Lewisham", "Lewisham", 51.4595, -0.0120),
    StationData("PC", "Catford", "Lewisham", 51.4380, -0.0180),
    # East (EA)
    StationData("KD", "Barking", "Barking & Dagenham", 51.5370, 0.0810),
    StationData("KG", "Dagenham", "Barking & Dagenham", 51.5520, 0.1650),
    StationData("KO", "Romford", "Havering", 51.5790, 0.1850),
    StationData("KH", "Hornchurch", "Havering", 51.5620, 0.2180),
    StationData("JI", "Ilford", "Redbridge", 51.5580, 0.0780),
    # West (WA)
    StationData("XD", "Ealing", "Ealing", 51.5125, -0.3030),
    StationData("XS", "Southall", "Ealing", 51.5105, -0.3760),
    StationData("XU", "Uxbridge", "Hillingdon", 51.5450, -0.4800),
    StationData("XH", "Heathrow", "Hillingdon", 51.4790, -0.4440),
    StationData("TX", "Hounslow", "Hounslow", 51.4680, -0.3600),
    # Central South (AS)
    StationData("LD", "Brixton", "Lambeth", 51.4635, -0.1145),
    StationData("LK", "Kennington", "Lambeth", 51.4935, -0.1115),
    StationData("LS", "Streatham", "Lambeth", 51.4270, -0.1290),
    StationData("MM", "Walworth", "Southwark", 51.4875, -0.0960),
    StationData("MP", "Peckham", "Southwark", 51.4735, -0.0690),
    # North (NA)
    StationData("YT", "Tottenham", "Haringey", 51.5930, -0.0695),
    StationData("YR", "Hornsey", "Haringey", 51.5830, -0.1210),
    StationData("YW", "Wood Green", "Haringey", 51.5975, -0.1110),
    StationData("YE", "Enfield", "Enfield", 51.6540, -0.0810),
    StationData("YF", "Edmonton", "Enfield", 51.6230, -0.0610),
    # Central East (CE)
    StationData("GN", "Stoke Newington", "Hackney", 51.5610, -0.0745),
    StationData("GH", "Hackney", "Hackney", 51.5500, -0.0550),
    StationData("HB", "Bethnal Green", "Tower Hamlets", 51.5285, -0.0545),
    StationData("HH", "Limehouse", "Tower Hamlets", 51.5115, -0.0270),
    StationData("HI", "Isle of Dogs", "Tower Hamlets", 51.4930, -0.0085),
    # Central North (CN)
    StationData("EO", "Holborn", "Camden", 51.5210, -0.1185),
    StationData("EK", "Kentish Town", "Camden", 51.5500, -0.1425),
    StationData("EH", "Hampstead", "Camden", 51.5540, -0.1705),
    StationData("NI", "Islington", "Islington", 51.5330, -0.1100),
    StationData("NH", "Holloway", "Islington", 51.5595, -0.1175),
    # North West (NW)
    StationData("SV", "Colindale", "Barnet", 51.5960, -0.2490),
    StationData("SA", "Barnet", "Barnet", 51.6535, -0.2000),
    StationData("QW", "Wembley", "Brent", 51.5520, -0.2970),
    StationData("QL", "Willesden Green", "Brent", 51.5465, -0.2310),
    StationData("QH", "Harrow", "Harrow", 51.5710, -0.3360),
    # North East (NE)
    StationData("KF", "Forest Gate", "Newham", 51.5445, 0.0230),
    StationData("KS", "Stratford", "Newham", 51.5410, 0.0040),
    StationData("KE", "East Ham", "Newham", 51.5345, 0.0525),
    StationData("JL", "Leyton", "Waltham Forest", 51.5640, -0.0040),
    StationData("JF", "Walthamstow", "Waltham Forest", 51.5900, -0.0250),
)

BOROUGH_BCU: dict[str, str] = {b: bcu.code for bcu in BCUS for b in bcu.boroughs}
