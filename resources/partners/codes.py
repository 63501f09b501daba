"""Code lists between Beacon and EIDO (docs/partners.md prints them).

EIDO's `incidentTypeCommonRegistryText` takes values of the "EIDO-IncidentType-Common" registry
(NENA-STA-021.1b, section 3.3, which adopts the APCO 2.103.2-2019 common incident types). Each
Beacon opening code (National Standard for Incident Recording) maps to the nearest one; a code
not listed goes out as NCRNONE ("None - no code found") with our own code and name alongside in
`incidentTypeInternalCode`/`incidentTypeInternalText`, so nothing is lost.
"""

INCIDENT_TYPE_TO_EIDO: dict[str, str] = {
    "CONCERN": "WELFARE", "MISSING": "PERMISS", "MISSHIGH": "PERMISS", "COLLAPSE": "SICK",
    "SUDDEATH": "DEATH", "SUSPCIRC": "SUSP", "SUSPPKG": "BOMB", "DOMESTIC": "DVA",
    "MENTAL": "EDP", "ALARM": "ALRBA", "ANIMAL": "ANIMAL", "PROTEST": "CU2",
    "VIOLENCE": "ASSAULT", "WEAPON": "WEAPON", "FIREARMS": "SHOOT", "ROBBERY": "ROBBERY",
    "BURGRES": "BURGLARY", "BURGBUS": "BURGLARY", "VEHCRIME": "VEHSTLN", "THEFT": "LARCENY",
    "DAMAGE": "VANDAL", "DRUGS": "DRUGS", "SEXOFF": "SEXOFFNS", "PUBORD": "DISORD",
    "HARASS": "HARR", "FRAUD": "FRAUD", "ASBPERS": "DISORD", "ASBNUIS": "NOISE",
    "ASBENV": "DMPX", "RTCDAM": "MVAUNK", "RTCINJ": "MVAUNK", "RTCFATAL": "MVAUNK",
    "HIGHWAY": "THAZ", "VEHNUIS": "RECKDRV", "ABANDON": "911H", "PRISONER": "ADMIN",
    "PREPLAN": "ADMIN", "LOSTPROP": "PROPLOST", "FOUNDPROP": "PROPFND", "HOAX": "INFO",
    "ADMIN": "ADMIN",
}  # fmt: skip
NO_CODE = "NCRNONE"

# An inbound document without one of our own codes: the common type decides, through this list
# (first Beacon code for each EIDO code), else SUSPCIRC for a desk to re-code.
EIDO_TO_INCIDENT_TYPE: dict[str, str] = {}
for _beacon, _eido in INCIDENT_TYPE_TO_EIDO.items():
    EIDO_TO_INCIDENT_TYPE.setdefault(_eido, _beacon)
INBOUND_FALLBACK_TYPE = "SUSPCIRC"

# Grade → incidentCommonPriorityNumber (1 = most urgent) and back.
GRADE_TO_PRIORITY = {"I": 1, "S": 2, "E": 3, "R": 4}
PRIORITY_TO_GRADE = {v: k for k, v in GRADE_TO_PRIORITY.items()}

# Incident status → EIDO-IncidentStatus-Common (section 3.3, table 3-3): coarser than ours, so
# our own status goes alongside in incidentStatusInternalText.
STATUS_TO_EIDO = {"open": "Active", "assigned": "Active", "at_scene": "Active", "closed": "Closed"}

# Assignment status → (primaryUnitStatusRegistryText, secondaryUnitStatusRegistryText)
# from the EIDO-PrimaryUnitStatus-Common and -SecondaryUnitStatus-Common registries.
UNIT_STATUS_TO_EIDO = {
    "assigned": ("NotAvailable", ["Assigned"]),
    "en_route": ("NotAvailable", ["Assigned", "Enroute"]),
    "at_scene": ("NotAvailable", ["Arrived"]),
    "cleared": ("Available", ["AssignmentCancelled"]),
}

# Partner kind → agencyType (IANA urn:emergency:service:responder, without the prefix).
AGENCY_TYPES = {"police": "police", "ambulance": "ems", "fire": "fire", "other": "other"}
