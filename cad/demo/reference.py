"""Reference data: unit types, skills, incident types with response plans, closing codes,
qualifiers and warning markers.

Incident types follow the five categories of the National Standard for Incident Recording
(NSIR); the codes are this project's. A response-plan line is (unit type code or None, skill code
or None, grades it applies to ("" = all), count).
"""

from typing import NamedTuple


class UnitTypeData(NamedTuple):
    code: str
    name: str
    urban_speed_kmh: float
    blue_light_speed_kmh: float


class IncidentTypeData(NamedTuple):
    code: str
    name: str
    category: str
    default_grade: str
    plan: tuple[tuple[str | None, str | None, str, int], ...] = ()


class MarkerData(NamedTuple):
    address: str
    lat: float
    lon: float
    text: str
    expires_in_days: int | None


# Speeds are London averages, not top speeds: the default router turns distance into time with
# them, and London traffic keeps even a blue-light run near 45-60 km/h over a whole journey.
UNIT_TYPES: tuple[UnitTypeData, ...] = (
    UnitTypeData("IRV", "Incident Response Vehicle", 28, 48),
    UnitTypeData("AREA", "Area car", 30, 55),
    UnitTypeData("VAN", "Carrier (response van)", 25, 42),
    UnitTypeData("DOG", "Dog unit", 30, 50),
    UnitTypeData("ARV", "Armed Response Vehicle", 32, 58),
    UnitTypeData("TRAF", "Traffic car", 35, 60),
    UnitTypeData("FOOT", "Foot patrol", 5, 7),
    UnitTypeData("CYCLE", "Cycle patrol", 15, 20),
    UnitTypeData("PRIS", "Prisoner van", 25, 40),
)

SKILLS: tuple[tuple[str, str], ...] = (
    ("RESP_DRV", "Response driver"),
    ("ADV_DRV", "Advanced driver (TPAC)"),
    ("TASER", "Taser (conducted energy device)"),
    ("AFO", "Authorised firearms officer"),
    ("PUBLIC_ORDER", "Public order (level 2)"),
    ("DOG_HANDLER", "Dog handler"),
    ("FIRST_AID", "Emergency life support (first aid)"),
    ("CYCLIST", "Police cyclist"),
    ("LANG_POL", "Language: Polish"),
    ("LANG_URD", "Language: Urdu"),
    ("LANG_BEN", "Language: Bengali"),
    ("LANG_TUR", "Language: Turkish"),
    ("LANG_SOM", "Language: Somali"),
    ("LANG_ROM", "Language: Romanian"),
    ("LANG_ARA", "Language: Arabic"),
    ("LANG_POR", "Language: Portuguese"),
    ("LANG_SPA", "Language: Spanish"),
)
LANGUAGE_SKILLS = tuple(code for code, _ in SKILLS if code.startswith("LANG_"))

_PS, _CR, _ASB, _TR, _AD = "public_safety", "crime", "asb", "transport", "admin"
_ONE_IRV = (("IRV", None, "", 1),)
_ONE_TRAF = (("TRAF", None, "", 1),)

INCIDENT_TYPES: tuple[IncidentTypeData, ...] = (
    # Public safety and welfare
    IncidentTypeData("CONCERN", "Concern for safety", _PS, "S", _ONE_IRV),
    IncidentTypeData("MISSING", "Missing person", _PS, "S"),
    IncidentTypeData("MISSHIGH", "Missing person, high risk", _PS, "I", (("IRV", None, "", 2),)),
    IncidentTypeData(
        "COLLAPSE", "Collapse, illness, injury or trapped", _PS, "I",
        (("IRV", None, "", 1), (None, "FIRST_AID", "", 1)),
    ),
    IncidentTypeData("SUDDEATH", "Sudden death", _PS, "S", _ONE_IRV),
    IncidentTypeData("SUSPCIRC", "Suspicious circumstances", _PS, "S"),
    IncidentTypeData(
        "SUSPPKG", "Suspicious package or object", _PS, "I",
        (("IRV", None, "", 2), ("AREA", None, "I", 1)),
    ),
    IncidentTypeData("DOMESTIC", "Domestic incident", _PS, "I", (("IRV", None, "", 2),)),
    IncidentTypeData(
        "MENTAL", "Mental health crisis", _PS, "S", (("IRV", None, "", 1), ("VAN", None, "I", 1))
    ),
    IncidentTypeData("ALARM", "Intruder alarm activation", _PS, "S", _ONE_IRV),
    IncidentTypeData(
        "ANIMAL", "Dangerous dog or animal", _PS, "I",
        (("DOG", "DOG_HANDLER", "", 1), ("IRV", None, "I", 1)),
    ),
    IncidentTypeData(
        "PROTEST", "Protest or demonstration", _PS, "S",
        (("VAN", "PUBLIC_ORDER", "", 1), ("IRV", None, "I", 1)),
    ),
    # Crime
    IncidentTypeData(
        "VIOLENCE", "Violence against the person", _CR, "I",
        (("IRV", None, "", 1), (None, "TASER", "I", 1), ("AREA", None, "I", 1)),
    ),
    IncidentTypeData(
        "WEAPON", "Person with a knife or weapon", _CR, "I",
        (("IRV", None, "", 2), (None, "TASER", "I", 1), ("ARV", "AFO", "I", 1)),
    ),
    IncidentTypeData(
        "FIREARMS", "Firearms incident", _CR, "I",
        (("ARV", "AFO", "", 2), ("IRV", None, "", 1), ("DOG", "DOG_HANDLER", "I", 1)),
    ),
    IncidentTypeData(
        "ROBBERY", "Robbery", _CR, "I",
        (("IRV", None, "", 1), ("AREA", None, "I", 1), ("DOG", "DOG_HANDLER", "I", 1)),
    ),
    IncidentTypeData(
        "BURGRES", "Burglary, residential", _CR, "S",
        (("IRV", None, "", 1), ("DOG", "DOG_HANDLER", "I", 1)),
    ),
    IncidentTypeData("BURGBUS", "Burglary, business and community", _CR, "S", _ONE_IRV),
    IncidentTypeData("VEHCRIME", "Vehicle crime", _CR, "S", _ONE_IRV),
    IncidentTypeData("THEFT", "Theft and shoplifting", _CR, "S", _ONE_IRV),
    IncidentTypeData("DAMAGE", "Criminal damage and arson", _CR, "S", _ONE_IRV),
    IncidentTypeData("DRUGS", "Drugs offences", _CR, "S", _ONE_IRV),
    IncidentTypeData(
        "SEXOFF", "Sexual offences", _CR, "I", (("IRV", None, "", 1), ("AREA", None, "I", 1))
    ),
    IncidentTypeData(
        "PUBORD", "Public order offences", _CR, "I",
        (("VAN", "PUBLIC_ORDER", "", 1), (None, "TASER", "I", 1)),
    ),
    IncidentTypeData("HARASS", "Harassment and stalking", _CR, "S", _ONE_IRV),
    IncidentTypeData("FRAUD", "Fraud and forgery", _CR, "E"),
    # Anti-social behaviour
    IncidentTypeData("ASBPERS", "ASB, personal", _ASB, "S", _ONE_IRV),
    IncidentTypeData("ASBNUIS", "ASB, nuisance", _ASB, "S", (("FOOT", None, "", 1),)),
    IncidentTypeData("ASBENV", "ASB, environmental", _ASB, "E"),
    # Transport
    IncidentTypeData("RTCDAM", "Road traffic collision, damage only", _TR, "S", _ONE_TRAF),
    IncidentTypeData(
        "RTCINJ", "Road traffic collision, injury", _TR, "I",
        (("TRAF", None, "", 1), ("IRV", None, "I", 1), (None, "FIRST_AID", "", 1)),
    ),
    IncidentTypeData(
        "RTCFATAL", "Road traffic collision, fatal or life-changing", _TR, "I",
        (("TRAF", "ADV_DRV", "", 2), ("IRV", None, "", 1)),
    ),
    IncidentTypeData("HIGHWAY", "Highway disruption or obstruction", _TR, "S", _ONE_TRAF),
    IncidentTypeData("VEHNUIS", "Vehicle nuisance or inappropriate use", _TR, "S"),
    # Administration
    IncidentTypeData("ABANDON", "Abandoned or silent 999 call", _AD, "S", _ONE_IRV),
    IncidentTypeData("PRISONER", "Prisoner transport", _AD, "S", (("PRIS", None, "", 1),)),
    IncidentTypeData("PREPLAN", "Pre-planned event", _AD, "E"),
    IncidentTypeData("LOSTPROP", "Lost property", _AD, "R"),
    IncidentTypeData("FOUNDPROP", "Found property", _AD, "E"),
    IncidentTypeData("HOAX", "Hoax call", _AD, "R"),
    IncidentTypeData("ADMIN", "Administration, other", _AD, "R"),
)  # fmt: skip

CLOSING_CODES: tuple[tuple[str, str], ...] = (
    ("ARREST", "Arrest made"),
    ("CRIME", "Crime report made"),
    ("ADVICE", "Advice or words of advice given"),
    ("NFA", "No further action"),
    ("NOTRACE", "No trace of incident, suspect or persons"),
    ("REFER", "Referred to another agency"),
    ("MEDICAL", "Handed to ambulance service"),
    ("RESOLVED", "Resolved without attendance"),
    ("DUPLICATE", "Duplicate of another incident"),
    ("GOODINT", "False alarm with good intent"),
    ("MALICIOUS", "Malicious or hoax"),
    ("OTHFORCE", "Transferred to another force"),
    ("CANCELLED", "Cancelled by caller"),
)

QUALIFIERS: tuple[tuple[str, str], ...] = (
    ("DOMESTIC", "Domestic abuse"),
    ("MENTAL_HEALTH", "Mental health"),
    ("HATE_RACE", "Hate: race"),
    ("HATE_RELIGION", "Hate: religion or faith"),
    ("HATE_SEXUAL_OR", "Hate: sexual orientation"),
    ("HATE_DISABILITY", "Hate: disability"),
    ("HATE_TRANSGENDER", "Hate: transgender identity"),
    ("ALCOHOL", "Alcohol related"),
    ("DRUGS", "Drugs related"),
    ("CHILD", "Child involved or at risk"),
    ("VULNERABLE", "Vulnerable adult"),
    ("KNIFE", "Knife or bladed article"),
    ("GANG", "Gang related"),
)

# Real-looking addresses, invented occupants. Expiry in days from the first seed (None: none).
WARNING_MARKERS: tuple[MarkerData, ...] = (
    MarkerData("Flat 12, Holmes Court, Holmes Road, London NW5 3AB", 51.5497, -0.1431,
               "Dog on premises: large, has bitten before", 365),
    MarkerData("27 Coldharbour Lane, London SE5 9NR", 51.4662, -0.1005,
               "Violent occupant: assaulted officers 2023; attend double-crewed", 180),
    MarkerData("4 Rectory Grove, Croydon CR0 4JA", 51.3745, -0.1082,
               "Firearms licence holder at this address (shotgun certificate)", None),
    MarkerData("Flat 3, 118 Mare Street, London E8 3SG", 51.5430, -0.0555,
               "Occupant vulnerable: dementia, may not answer the door", 90),
    MarkerData("56 Fore Street, London N18 2SS", 51.6146, -0.0638,
               "Premises linked to drug supply: officer safety", 120),
    MarkerData("9 Acre Lane, London SW2 5SG", 51.4608, -0.1223,
               "Domestic abuse history: MARAC case, victim at address", 200),
)  # fmt: skip
