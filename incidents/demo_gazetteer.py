"""A London demo gazetteer: real street and place names, positions good to a few tens of metres.

Generated, not imported: each street is a straight line between two real points, and its house
numbers are spread along it, so "12 Camden High Street" lands on Camden High Street in the right
borough. The postcodes are the street's real district with a made-up unit (e.g. "NW1 1AB"),
so nothing here is a real address record; `manage.py import_gazetteer` loads one.
"""

from __future__ import annotations

from incidents.models import GazetteerEntry
from incidents.selectors import gazetteer_normalise

# (street, area, postcode district, (start lat, lon), (end lat, lon)), grouped by borough.
STREETS: list[tuple[str, str, str, tuple[float, float], tuple[float, float]]] = [
    ("Camden High Street", "Camden", "NW1", (51.5343, -0.1389), (51.5413, -0.1459)),
    ("Kentish Town Road", "Camden", "NW5", (51.5415, -0.1452), (51.5505, -0.1405)),
    ("Euston Road", "Camden", "NW1", (51.5275, -0.1360), (51.5300, -0.1250)),
    ("Holloway Road", "Islington", "N7", (51.5530, -0.1130), (51.5650, -0.1280)),
    ("Upper Street", "Islington", "N1", (51.5340, -0.1050), (51.5440, -0.1030)),
    ("Essex Road", "Islington", "N1", (51.5370, -0.1000), (51.5440, -0.0900)),
    ("Oxford Street", "Westminster", "W1", (51.5150, -0.1580), (51.5165, -0.1310)),
    ("Edgware Road", "Westminster", "W2", (51.5140, -0.1630), (51.5220, -0.1720)),
    ("Strand", "Westminster", "WC2", (51.5080, -0.1250), (51.5115, -0.1160)),
    ("King's Road", "Chelsea", "SW3", (51.4920, -0.1590), (51.4810, -0.1880)),
    ("Kensington High Street", "Kensington", "W8", (51.5010, -0.1880), (51.4990, -0.2050)),
    ("Portobello Road", "Notting Hill", "W11", (51.5090, -0.1970), (51.5210, -0.2080)),
    ("Fulham Palace Road", "Hammersmith", "W6", (51.4900, -0.2230), (51.4740, -0.2170)),
    ("Uxbridge Road", "Shepherd's Bush", "W12", (51.5050, -0.2250), (51.5080, -0.2450)),
    ("Brixton Road", "Brixton", "SW9", (51.4800, -0.1120), (51.4640, -0.1140)),
    ("Coldharbour Lane", "Brixton", "SW9", (51.4620, -0.1130), (51.4660, -0.1000)),
    ("Walworth Road", "Walworth", "SE17", (51.4930, -0.1000), (51.4820, -0.0940)),
    ("Rye Lane", "Peckham", "SE15", (51.4700, -0.0690), (51.4620, -0.0660)),
    ("Old Kent Road", "Southwark", "SE1", (51.4920, -0.0870), (51.4800, -0.0650)),
    ("Mare Street", "Hackney", "E8", (51.5330, -0.0560), (51.5500, -0.0560)),
    ("Kingsland High Street", "Dalston", "E8", (51.5460, -0.0760), (51.5520, -0.0750)),
    ("Whitechapel Road", "Whitechapel", "E1", (51.5170, -0.0650), (51.5210, -0.0530)),
    ("Commercial Road", "Stepney", "E1", (51.5140, -0.0680), (51.5120, -0.0400)),
    ("Roman Road", "Bow", "E3", (51.5310, -0.0450), (51.5340, -0.0280)),
    ("High Street North", "East Ham", "E6", (51.5330, 0.0520), (51.5440, 0.0520)),
    ("The Broadway", "Stratford", "E15", (51.5410, -0.0020), (51.5430, 0.0050)),
    ("Hoe Street", "Walthamstow", "E17", (51.5770, -0.0210), (51.5880, -0.0190)),
    ("High Road", "Ilford", "IG1", (51.5590, 0.0700), (51.5600, 0.0900)),
    ("South Street", "Romford", "RM1", (51.5770, 0.1830), (51.5690, 0.1850)),
    ("Ripple Road", "Barking", "IG11", (51.5380, 0.0820), (51.5330, 0.1000)),
    ("Powis Street", "Woolwich", "SE18", (51.4920, 0.0640), (51.4910, 0.0700)),
    ("Lewisham High Street", "Lewisham", "SE13", (51.4610, -0.0130), (51.4480, -0.0170)),
    ("Broadway", "Bexleyheath", "DA6", (51.4570, 0.1380), (51.4560, 0.1530)),
    ("High Street", "Bromley", "BR1", (51.4080, 0.0150), (51.4020, 0.0170)),
    ("London Road", "Croydon", "CR0", (51.3860, -0.1050), (51.3980, -0.1100)),
    ("High Street", "Sutton", "SM1", (51.3640, -0.1930), (51.3600, -0.1920)),
    ("Clarence Street", "Kingston upon Thames", "KT1", (51.4110, -0.3050), (51.4100, -0.2970)),
    ("Merton High Street", "Merton", "SW19", (51.4150, -0.1960), (51.4170, -0.1860)),
    ("George Street", "Richmond", "TW9", (51.4610, -0.3060), (51.4600, -0.3020)),
    ("Wandsworth High Street", "Wandsworth", "SW18", (51.4570, -0.1930), (51.4560, -0.1850)),
    ("Uxbridge Road", "Ealing", "W5", (51.5130, -0.3100), (51.5110, -0.2900)),
    ("High Street", "Uxbridge", "UB8", (51.5460, -0.4790), (51.5420, -0.4810)),
    ("High Street", "Hounslow", "TW3", (51.4680, -0.3620), (51.4690, -0.3540)),
    ("Station Road", "Harrow", "HA1", (51.5800, -0.3350), (51.5870, -0.3380)),
    ("Ealing Road", "Wembley", "HA0", (51.5470, -0.2980), (51.5550, -0.2950)),
    ("Golders Green Road", "Golders Green", "NW11", (51.5730, -0.1950), (51.5800, -0.2050)),
    ("Church Street", "Enfield", "EN2", (51.6520, -0.0850), (51.6530, -0.0780)),
    ("High Road", "Tottenham", "N17", (51.5880, -0.0700), (51.6040, -0.0690)),
    ("High Road", "Wood Green", "N22", (51.5950, -0.1100), (51.6020, -0.1130)),
]

# Stations and landmarks call handlers hear every day: (name, postcode district, lat, lon).
PLACES: list[tuple[str, str, float, float]] = [
    ("King's Cross Station", "N1C", 51.5308, -0.1238),
    ("Camden Town Station", "NW1", 51.5392, -0.1426),
    ("Oxford Circus", "W1", 51.5152, -0.1419),
    ("Victoria Station", "SW1", 51.4952, -0.1441),
    ("Paddington Station", "W2", 51.5154, -0.1755),
    ("Waterloo Station", "SE1", 51.5031, -0.1132),
    ("London Bridge Station", "SE1", 51.5052, -0.0864),
    ("Brixton Station", "SW9", 51.4627, -0.1145),
    ("Stratford Station", "E15", 51.5416, -0.0033),
    ("Canary Wharf", "E14", 51.5054, -0.0235),
    ("Cutty Sark, Greenwich", "SE10", 51.4827, -0.0096),
    ("Wembley Stadium", "HA9", 51.5560, -0.2796),
    ("Hackney Central Station", "E8", 51.5471, -0.0561),
    ("Shoreditch High Street Station", "E1", 51.5234, -0.0753),
    ("Finsbury Park Station", "N4", 51.5642, -0.1065),
    ("Clapham Junction Station", "SW11", 51.4642, -0.1703),
    ("Lewisham Station", "SE13", 51.4657, -0.0139),
    ("Romford Station", "RM1", 51.5750, 0.1830),
    ("Ealing Broadway Station", "W5", 51.5149, -0.3016),
    ("Heathrow Terminal 5", "TW6", 51.4722, -0.4887),
    ("Kingston Station", "KT1", 51.4127, -0.3016),
    ("Hammersmith Station", "W6", 51.4927, -0.2247),
    ("Earls Court Station", "SW5", 51.4920, -0.1934),
    ("Harrow-on-the-Hill Station", "HA1", 51.5793, -0.3366),
    ("Walthamstow Central Station", "E17", 51.5830, -0.0198),
    ("Ilford Station", "IG1", 51.5590, 0.0686),
    ("Barking Station", "IG11", 51.5396, 0.0810),
    ("Sutton Station", "SM1", 51.3596, -0.1912),
    ("Bromley South Station", "BR1", 51.3998, 0.0173),
    ("Bexleyheath Station", "DA7", 51.4635, 0.1338),
    ("East Croydon Station", "CR0", 51.3754, -0.0925),
    ("Wimbledon Station", "SW19", 51.4214, -0.2064),
    ("Richmond Station", "TW9", 51.4633, -0.3013),
    ("Enfield Town Station", "EN1", 51.6521, -0.0793),
    ("Wood Green Station", "N22", 51.5975, -0.1097),
    ("Hounslow East Station", "TW3", 51.4733, -0.3564),
    ("Uxbridge Station", "UB8", 51.5463, -0.4786),
    ("Brent Cross", "NW4", 51.5767, -0.2236),
]

HOUSES_PER_STREET = 60
_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"  # the letters Royal Mail uses in the inward code


def _postcode(district: str, street_index: int, block: int) -> str:
    """A plausible (made-up) full postcode: the real district, a unit per block of ten houses."""
    a = _LETTERS[(street_index * 7 + block) % len(_LETTERS)]
    b = _LETTERS[(street_index * 3 + block * 5) % len(_LETTERS)]
    return f"{district} {(street_index + block) % 9 + 1}{a}{b}"


def demo_entries() -> list[GazetteerEntry]:
    entries: list[GazetteerEntry] = []

    def add(key: str, kind: str, address: str, postcode: str, lat: float, lon: float) -> None:
        entries.append(
            GazetteerEntry(
                key=f"demo:{key}", kind=kind, address=address, postcode=postcode,
                lat=round(lat, 6), lon=round(lon, 6), source="demo",
                search=gazetteer_normalise(f"{address} {postcode}"),
            )
        )  # fmt: skip

    for i, (street, area, district, (lat0, lon0), (lat1, lon1)) in enumerate(STREETS):
        slug = f"{i}"
        mid_lat, mid_lon = (lat0 + lat1) / 2, (lon0 + lon1) / 2
        add(f"street:{slug}", "street", f"{street}, {area}", district, mid_lat, mid_lon)
        seen_postcodes: set[str] = set()
        for n in range(1, HOUSES_PER_STREET + 1):
            f = (n - 1) / (HOUSES_PER_STREET - 1)
            lat, lon = lat0 + f * (lat1 - lat0), lon0 + f * (lon1 - lon0)
            postcode = _postcode(district, i, (n - 1) // 10)
            add(f"addr:{slug}:{n}", "address", f"{n} {street}, {area}", postcode, lat, lon)
            if postcode not in seen_postcodes:
                seen_postcodes.add(postcode)
                add(f"pc:{postcode}", "postcode", postcode, "", lat, lon)
    for j, (name, district, lat, lon) in enumerate(PLACES):
        add(f"place:{j}", "place", name, district, lat, lon)
    return entries


def seed_gazetteer() -> int:
    """Load (or refresh) the demo gazetteer. Idempotent: keyed on `demo:...`. Returns the count."""
    entries = demo_entries()
    GazetteerEntry.objects.bulk_create(
        entries,
        batch_size=500,
        update_conflicts=True,
        unique_fields=["key"],
        update_fields=["kind", "address", "postcode", "lat", "lon", "search", "source"],
    )
    return len(entries)
