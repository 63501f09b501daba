"""Checks on what the public sends: phone numbers, emails, script, and the risks in the words.

Markup is allowed and stored as text (templates escape it, the API returns it as a string), so
a report can quote what a scammer sent. Script is refused with a 400 naming the field: nobody
reporting a crime needs to send a `<script>` tag or an event handler, and refusing it keeps it
out of every later screen and export.
"""

import re

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email

_SCRIPT = re.compile(
    r"<\s*/?\s*(script|iframe|object|embed|style|svg|math|base|form|meta|link)\b"
    r"|javascript\s*:|vbscript\s*:|data\s*:\s*text/html"
    r"|<[^>]*\bon[a-z]+\s*=",
    re.IGNORECASE,
)


def looks_like_script(text: str) -> bool:
    return bool(_SCRIPT.search(text))


_UK_MOBILE = re.compile(r"^(?:\+44|0044|44|0)(7\d{9})$")


def uk_mobile(number: str) -> str | None:
    """The number in international form (+447…), or None when it is not a UK mobile.

    Texts go only to UK mobiles (GOV.UK Notify's default); spaces, dashes and brackets are
    allowed as people write them.
    """
    digits = re.sub(r"[\s\-().]", "", number or "")
    match = _UK_MOBILE.match(digits)
    return f"+44{match.group(1)}" if match else None


def email_ok(address: str) -> bool:
    try:
        validate_email(address)
    except DjangoValidationError:
        return False
    return True


def mask_phone(number: str) -> str:
    """`+447700900123` → `07••• ••• 123`-like: enough to tell two numbers apart, no more."""
    normal = uk_mobile(number)
    digits = ("0" + normal[3:]) if normal else re.sub(r"\D", "", number or "")
    if len(digits) < 4:
        return "•••"
    return f"{digits[:2]}••• •••{digits[-3:]}"


def mask_email(address: str) -> str:
    local, _, domain = (address or "").partition("@")
    if not domain:
        return "•••"
    return f"{local[:1]}•••@{domain}"


# Risks a call handler must see before anything else in the queue (issue 15). Word stems, so
# "stabbed", "knives" and "bleeding" are caught; a few false alarms cost a glance, a miss more.
RISK_WORDS: dict[str, re.Pattern] = {
    "weapon": re.compile(
        r"\b(knife|knives|blade|machete|gun|firearm|pistol|rifle|shotgun|weapon|stab\w*|"
        r"shot|shoot\w*|bat|crowbar|axe|acid)\b",
        re.IGNORECASE,
    ),
    "injury": re.compile(
        r"\b(injur\w*|hurt|bleed\w*|blood\w*|wound\w*|hospital|ambulance|broken|bruis\w*|"
        r"unconscious|punch\w*|kick\w*|beat(en|ing)?|assault\w*)\b",
        re.IGNORECASE,
    ),
    "child": re.compile(
        r"\b(child\w*|kids?|bab(y|ies)|toddler|infant|son|daughter|school\w*|teen\w*|"
        r"minor|under ?age|(\d{1,2}|one|two|three|four|five|six|seven|eight|nine|ten|"
        r"eleven|twelve|thirteen|fourteen|fifteen) ?(-| )?year ?(-| )?olds?)\b",
        re.IGNORECASE,
    ),
    "domestic": re.compile(
        r"\b(domestic|partner|husband|wife|boyfriend|girlfriend|ex|ex-\w+|"
        r"spouse|coercive|controlling)\b",
        re.IGNORECASE,
    ),
}


def risk_flags(texts: list[str]) -> list[str]:
    """The risks named in the report's words, in a fixed order."""
    joined = "\n".join(t for t in texts if t)
    return [flag for flag, pattern in RISK_WORDS.items() if pattern.search(joined)]
