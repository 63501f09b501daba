"""The crime report's first draft, read from the call: pure, no writes.

Control rooms write the call in labelled parts ("Victim: …", "Suspect: …", "MO: …"); the
draft takes each labelled part from the incident's summary and every call's notes. Whatever is
not labelled is the story of what happened, so it becomes the MO. When no victim is described,
the first caller is taken as the victim (the usual case for a reported crime); the handler
corrects it in review. Times: the offence is taken to have happened at the first call, until
the handler says otherwise; `reported_at` is the first call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

LABELS = {
    "victim": "victim", "ip": "victim", "injured party": "victim", "aggrieved": "victim",
    "suspect": "suspect", "susp": "suspect", "offender": "suspect",
    "mo": "mo", "modus operandi": "mo",
}  # fmt: skip
_LABEL = re.compile(
    r"(?:^|(?<=[\s.;]))("
    + "|".join(sorted(map(re.escape, LABELS), key=len, reverse=True))
    + r")\s*[:\-]\s*",
    re.IGNORECASE,
)


def labelled_parts(text: str) -> tuple[dict[str, list[str]], str]:
    """({"victim": [...], "suspect": [...], "mo": [...]}, unlabelled text) of one text."""
    parts: dict[str, list[str]] = {"victim": [], "suspect": [], "mo": []}
    matches = list(_LABEL.finditer(text))
    free = text[: matches[0].start()] if matches else text
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        value = text[m.end() : end].strip().rstrip(".;").strip()
        if value:
            parts[LABELS[m.group(1).lower()]].append(value)
    return parts, free.strip()


@dataclass
class CallFacts:
    summary: str
    call_notes: list[str]
    caller_name: str
    caller_phone: str
    first_call_at: datetime


@dataclass
class Draft:
    victim_description: str
    victim_contact: str
    suspect_description: str
    mo: str
    occurred_from: datetime
    occurred_to: datetime
    reported_at: datetime


def draft_from_call(facts: CallFacts) -> Draft:
    victims: list[str] = []
    suspects: list[str] = []
    mos: list[str] = []
    story: list[str] = []
    for text in [facts.summary, *facts.call_notes]:
        if not text.strip():
            continue
        parts, free = labelled_parts(text)
        victims += parts["victim"]
        suspects += parts["suspect"]
        mos += parts["mo"]
        if free:
            story.append(free)
    contact = ", ".join(x for x in (facts.caller_name, facts.caller_phone) if x)
    victim = "; ".join(victims) or (f"Caller: {facts.caller_name}" if facts.caller_name else "")
    return Draft(
        victim_description=victim[:2000],
        victim_contact=contact[:250],
        suspect_description="; ".join(suspects)[:2000],
        mo=("; ".join(mos) or " ".join(story))[:4000],
        occurred_from=facts.first_call_at,
        occurred_to=facts.first_call_at,
        reported_at=facts.first_call_at,
    )
