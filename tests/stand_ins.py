"""What must never reach a terminal raw, defined from Unicode general categories (independently of mputui).

Every character that is not printable — categories Cc, Cf, Cs, Co, Cn, Zl, Zp, and Zs other than the ASCII
space — and the printable ones that are blank or invisible in a terminal: Hangul fillers, the blank Braille
pattern, variation selectors.
"""

from __future__ import annotations

import unicodedata

NOT_PRINTABLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
INVISIBLE_PRINTABLE = frozenset(
    [0x115F, 0x1160, 0x3164, 0xFFA0, 0x2800, *range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0)]
)
NAMED = {0x1B: "␛", 0x0A: "␤", 0x0D: "␍", 0x09: "␉", 0x7F: "␡"}


def needs_stand_in(code: int) -> bool:
    """True for a code point that must be shown as a stand-in."""
    category = unicodedata.category(chr(code))
    return category in NOT_PRINTABLE or (category == "Zs" and code != 0x20) or code in INVISIBLE_PRINTABLE


def stand_in(code: int) -> str:
    """The stand-in README and ``safe_text``'s docstring promise: a control picture, ``\\x9b``, ``⟨U+202E⟩``."""
    if code in NAMED:
        return NAMED[code]
    if code < 0x20:
        return chr(0x2400 + code)
    if 0x80 <= code <= 0x9F:
        return f"\\x{code:02x}"
    return f"⟨U+{code:04X}⟩"


def raw_unsafe(text: str) -> set[str]:
    """The characters of ``text`` that should have been shown as stand-ins (line ends excepted)."""
    return {ch for ch in set(text) - {"\n"} if needs_stand_in(ord(ch))}
