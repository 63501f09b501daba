"""`control_characters` answers as a character-by-character look at Unicode's categories does,
however it gets there (its printable fast path, cad/api/fields.py)."""

import random
import sys
import unicodedata

import pytest

from cad.api.fields import control_characters

REFUSED = ("Cc", "Cf", "Cs")


def by_category(text: str, *, multiline: bool) -> bool:
    """The definition: any character of those categories, bar newlines and tabs when allowed."""
    allowed = {"\n", "\r", "\t"} if multiline else set()
    return any(unicodedata.category(ch) in REFUSED and ch not in allowed for ch in text)


def _every_category() -> dict[str, list[str]]:
    """A few characters of every category this Python's Unicode database knows."""
    found: dict[str, list[str]] = {}
    for code in range(0, sys.maxunicode + 1, 7):
        found.setdefault(unicodedata.category(chr(code)), []).append(chr(code))
    for code in (0x00, 0x09, 0x0A, 0x0D, 0x7F, 0x85, 0xA0, 0xAD, 0x200B, 0x200E, 0x2028, 0x2029,
                 0x202E, 0x2066, 0xD800, 0xDFFF, 0xE000, 0xFEFF, 0xFFF9, 0xE0001):  # fmt: skip
        found.setdefault(unicodedata.category(chr(code)), []).append(chr(code))
    return found


CHARACTERS = _every_category()


def test_every_category_is_in_the_sample():
    # Cc, Cf, Cs and the non-printable ones the fast path must hand on: Co, Cn, Zl, Zp, Zs.
    wanted = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs", "Lu", "Ll", "Nd", "Po"}
    assert wanted <= set(CHARACTERS)


@pytest.mark.parametrize("multiline", [False, True])
def test_each_character_alone_and_inside_plain_text(multiline):
    for category, characters in CHARACTERS.items():
        for ch in characters[:40]:
            for text in (ch, f"Caller at 12 High St{ch}reports", f"{ch}\n{ch}", f"a\tb{ch}"):
                assert control_characters(text, multiline=multiline) == by_category(
                    text, multiline=multiline
                ), (category, hex(ord(ch)), multiline)


@pytest.mark.parametrize("multiline", [False, True])
def test_random_texts_mixing_every_category(multiline):
    rng = random.Random(22)
    pool = [ch for characters in CHARACTERS.values() for ch in characters[:20]]
    pool += list("abc XYZ 019 .,!\n\r\t") * 40  # mostly ordinary text, as sent
    for _ in range(3000):
        text = "".join(rng.choice(pool) for _ in range(rng.randint(0, 12)))
        assert control_characters(text, multiline=multiline) == by_category(
            text, multiline=multiline
        ), (repr(text), multiline)


def test_what_a_call_handler_types():
    assert not control_characters("Man with knife, 12 High St – near Café Nero", multiline=False)
    assert not control_characters("Line one\r\nline two\tindented", multiline=True)
    assert control_characters("Line one\nline two", multiline=False)
    assert control_characters("hidden\u202ereversed", multiline=True)  # right-to-left override
    assert control_characters("zero\u200bwidth", multiline=False)
    assert not control_characters("non\u00a0breaking space", multiline=False)  # Zs, not refused
