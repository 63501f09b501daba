"""What the public can report online, and the questions each kind of report asks.

Plain words, as the public would put it. `incident_type` is the opening code a call handler's
"make an incident" decision uses unless they choose another (it must exist and be active).
"""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Question:
    key: str
    label: str
    hint: str = ""
    choices: tuple[tuple[str, str], ...] = ()  # empty: free text
    required: bool = False
    max_length: int = 500


@dataclass(frozen=True)
class Category:
    code: str
    name: str
    summary: str
    incident_type: str
    questions: tuple[Question, ...] = field(default=())


YES_NO = (("yes", "Yes"), ("no", "No"), ("unknown", "I don't know"))

CATEGORIES: tuple[Category, ...] = (
    Category(
        "crime",
        "A crime that has already happened",
        "For example theft, criminal damage or a burglary that is over.",
        "THEFT",
        (
            Question("what_happened", "What was taken or damaged?", required=True),
            Question("suspect", "Do you know who did it?", choices=YES_NO),
            Question("suspect_description", "If so, describe them", "Name, clothing, vehicle"),
        ),
    ),
    Category(
        "asb",
        "Anti-social behaviour",
        "For example noise, intimidation, drug use in public or nuisance vehicles.",
        "ASBNUIS",
        (
            Question("ongoing", "Is it still happening?", choices=YES_NO, required=True),
            Question(
                "how_often",
                "How often does it happen?",
                choices=(
                    ("once", "Just this once"),
                    ("weekly", "Every week"),
                    ("daily", "Most days"),
                ),
            ),  # fmt: skip
        ),
    ),
    Category(
        "collision",
        "A road collision where nobody was hurt",
        "Damage only. If anyone is injured, call 999.",
        "RTCDAM",
        (
            Question(
                "vehicles",
                "Registration numbers of the vehicles involved",
                required=True,
                max_length=200,
            ),  # fmt: skip
            Question("details_exchanged", "Did the drivers exchange details?", choices=YES_NO),
        ),
    ),
    Category(
        "property",
        "Lost or found property",
        "Something you have lost, or something you have found.",
        "LOSTPROP",
        (
            Question(
                "lost_or_found",
                "Did you lose it or find it?",
                required=True,
                choices=(("lost", "I lost it"), ("found", "I found it")),
            ),  # fmt: skip
            Question("item", "What is the item?", required=True, max_length=200),
        ),
    ),
    Category(
        "fraud",
        "Fraud or a scam",
        "Someone tricked you out of money or personal details.",
        "FRAUD",
        (
            Question(
                "contact",
                "How did they contact you?",
                required=True,
                choices=(
                    ("phone", "Phone call"),
                    ("text", "Text message"),
                    ("email", "Email"),
                    ("online", "Website or social media"),
                    ("in_person", "In person"),
                ),
            ),  # fmt: skip
            Question(
                "amount", "How much money did you lose, if any?", "In pounds", max_length=20
            ),  # fmt: skip
        ),
    ),
    Category(
        "seen_heard",
        "Something you've seen or heard",
        "Information that could help the police, when nobody is in danger now.",
        "ADMIN",
        (),
    ),
)

BY_CODE = {c.code: c for c in CATEGORIES}


def category_get(code: str) -> Category | None:
    return BY_CODE.get(code) if isinstance(code, str) else None
