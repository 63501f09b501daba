"""The colour tokens of both themes (static/css/beacon.css) meet their contrast promises.

axe checks text it can see on the pages it visits; this checks every pairing the stylesheets
make from the tokens, including the edges of controls and the focus ring, which axe does not
measure (WCAG 1.4.11, 3:1). Standard theme: text 4.5:1 (1.4.3). High contrast: text 7:1
(1.4.6) and control edges 4.5:1.
"""

import re
from pathlib import Path

import pytest

CSS = (Path(__file__).resolve().parent.parent / "static" / "css" / "beacon.css").read_text()


def _block(selector: str) -> dict[str, str]:
    body = CSS.split(selector + " {", 1)[1].split("}", 1)[0]
    return dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-fA-F]{3,6})", body))


STANDARD = _block(":root")
HIGH_CONTRAST = {**STANDARD, **_block('html[data-theme="high_contrast"]')}


def _luminance(colour: str) -> float:
    h = colour.lstrip("#")
    if len(h) == 3:
        h = "".join(c * 2 for c in h)
    channels = [int(h[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


# (foreground token, background token): text drawn in these pairs somewhere in static/css.
TEXT = [
    ("fg", "bg"), ("fg", "card"), ("fg", "head-bg"), ("fg", "hover-bg"), ("fg", "selected-bg"),
    ("fg", "danger-bg"), ("fg", "warn-bg"), ("fg", "ok-bg"),
    ("muted", "bg"), ("muted", "card"), ("muted", "head-bg"),
    ("accent", "card"), ("accent", "bg"), ("accent", "selected-bg"),
    ("danger", "card"), ("danger", "danger-bg"), ("warn", "card"), ("warn", "warn-bg"),
    ("ok", "card"), ("ok", "ok-bg"),
    ("on-accent", "accent"), ("on-accent", "danger"), ("on-accent", "ok"),
    ("on-accent", "grade-i"), ("on-accent", "grade-s"), ("on-accent", "grade-e"),
    ("on-accent", "grade-r"), ("topbar-fg", "topbar-bg"),
]  # fmt: skip
# Edges a person must see to find a control, and the focus ring around it.
EDGES = [
    ("control", "card"), ("control", "bg"), ("focus-ink", "card"), ("focus-ink", "bg"),
    ("focus", "topbar-bg"), ("accent", "card"), ("danger", "card"),
]  # fmt: skip


@pytest.mark.parametrize(("theme", "tokens", "text", "edges"), [
    ("standard", STANDARD, 4.5, 3.0),
    ("high_contrast", HIGH_CONTRAST, 7.0, 4.5),
])  # fmt: skip
def test_theme_meets_its_contrast(theme, tokens, text, edges):
    short = [
        f"{fg} on {bg}: {contrast(tokens[fg], tokens[bg]):.2f} < {need}"
        for pairs, need in ((TEXT, text), (EDGES, edges))
        for fg, bg in pairs
        if contrast(tokens[fg], tokens[bg]) < need
    ]
    assert not short, f"{theme}: " + "; ".join(short)


def test_the_high_contrast_theme_changes_something_that_matters():
    assert HIGH_CONTRAST["control"] != STANDARD["control"]
    assert contrast(HIGH_CONTRAST["muted"], HIGH_CONTRAST["card"]) > contrast(
        STANDARD["muted"], STANDARD["card"]
    )


def test_contrast_formula():
    assert contrast("#000", "#fff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)
