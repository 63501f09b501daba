"""Per-user settings for the screens: keyboard shortcuts, despatch confirmation, theme.

WCAG 2.1.4 (character key shortcuts): every single-key shortcut can be switched off or moved to
another key, per user. The settings live on the server (`UserPreferences`), so they follow the
person from desk to desk; pages read them when they load (`cad.accounts.context_processors`).
"""

import unicodedata
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Shortcut:
    action: str
    key: str  # the default: a KeyboardEvent.key value, one character
    does: str


# The board's single-key shortcuts. Arrow keys, Home/End, Enter and Escape are not listed: they
# act only where the focus is (the queue, a dialog, a field), which WCAG 2.1.4 allows.
SHORTCUTS: tuple[Shortcut, ...] = (
    Shortcut("next", "j", "select the next incident in the queue"),
    Shortcut("previous", "k", "select the previous incident in the queue"),
    Shortcut("assign", "a", "assign a unit: type its call sign"),
    *(Shortcut(f"recommend_{n}", str(n), f"despatch recommended unit {n}") for n in range(1, 6)),
    Shortcut("status", "s", "set a unit's status"),
    Shortcut("log", "l", "add to the incident's log"),
    Shortcut("grade", "g", "re-grade the incident"),
    Shortcut("close", "c", "close the incident"),
    Shortcut("acknowledge", "A", "acknowledge the oldest emergency (Shift+A)"),
    Shortcut("help", "?", "list the keys and settings"),
)
DEFAULT_KEYS: dict[str, str] = {s.action: s.key for s in SHORTCUTS}

STANDARD, HIGH_CONTRAST = "standard", "high_contrast"
THEMES: dict[str, str] = {STANDARD: "Standard", HIGH_CONTRAST: "High contrast"}

DEFAULTS: dict[str, Any] = {
    "shortcuts": True,
    "confirm_despatch": True,
    "theme": STANDARD,
}


def key_problem(key: Any) -> str | None:
    """Why `key` cannot be a shortcut, or None: one visible character, as a keyboard types it."""
    if not isinstance(key, str) or len(key) != 1:
        return "Give one character, such as j or 7."
    if unicodedata.category(key)[0] in ("C", "Z"):
        return "Give a visible character: not a space or a control character."
    return None


def key_map_problems(keys: Any) -> dict[str, list[str]]:
    """Field errors for a key map (action → key): unknown actions, bad keys, one key twice.

    `keys` may name only some actions; the rest keep their defaults, and the clash check is
    made on the map as it would be after the change.
    """
    if not isinstance(keys, dict):
        return {"keys": ["Give an object of action → key."]}
    problems: dict[str, list[str]] = {}
    for action, key in keys.items():
        if action not in DEFAULT_KEYS:
            problems.setdefault(str(action)[:40], []).append(
                f"Unknown action; one of {', '.join(DEFAULT_KEYS)}."
            )
        elif problem := key_problem(key):
            problems.setdefault(action, []).append(problem)
    if problems:
        return problems
    merged = {**DEFAULT_KEYS, **keys}
    holder: dict[str, str] = {}
    for action, key in merged.items():
        if key not in holder:
            holder[key] = action
            continue
        # Name the action whose key was moved onto the other's (a form sends every key).
        other = holder[key]
        moved = [a for a in (other, action) if a in keys and keys[a] != DEFAULT_KEYS[a]]
        blamed = moved[-1] if moved else action
        innocent = other if blamed == action else action
        problems.setdefault(blamed, []).append(f"{key} is already the key for {innocent}.")
    return problems


def effective_keys(overrides: dict[str, str] | None) -> dict[str, str]:
    """Every action's key: the user's where they changed it, else the default."""
    overrides = overrides or {}
    return {action: overrides.get(action, key) for action, key in DEFAULT_KEYS.items()}
