"""Human formatting shared by the CLI and the TUI: sizes, ages, and untrusted text made safe to print."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta

import humanize

# Characters that would move the cursor, repaint the terminal or reorder text if printed raw.
_VISIBLE = {
    "\x1b": "␛",
    "\n": "␤",
    "\r": "␍",
    "\t": "␉",
    "\x00": "␀",
    "\x7f": "␡",
}
_BIDI_AND_INVISIBLE = {
    "\u200b",  # zero width space
    "\u200c",
    "\u200d",
    "\u200e",  # LRM
    "\u200f",  # RLM
    "\u2060",  # word joiner
    "\ufeff",  # BOM / zero width no-break space
    "\u061c",  # arabic letter mark
    *(chr(c) for c in range(0x202A, 0x202F)),  # LRE RLE PDF LRO RLO
    *(chr(c) for c in range(0x2066, 0x206A)),  # LRI RLI FSI PDI
}


def safe_text(text: str) -> str:
    """``text`` with every control, bidi and invisible character replaced by a visible stand-in.

    The result is plain text: it cannot move the cursor, clear the screen or reorder what follows it.
    """
    out: list[str] = []
    for ch in text:
        if ch in _VISIBLE:
            out.append(_VISIBLE[ch])
        elif ch in _BIDI_AND_INVISIBLE:
            out.append(f"⟨U+{ord(ch):04X}⟩")
        elif ch < " ":
            out.append(chr(0x2400 + ord(ch)))  # ␁ ␂ ... (Control Pictures block)
        elif "\x80" <= ch < "\xa0" or unicodedata.category(ch) in ("Cc", "Cs", "Co", "Cn"):
            out.append(f"⟨U+{ord(ch):04X}⟩")
        else:
            out.append(ch)
    return "".join(out)


def format_size(size: int | None) -> str:
    """``1.5 MiB``; ``?`` when unknown."""
    if size is None:
        return "?"
    if size < 1024:
        return f"{size} B"
    return str(humanize.naturalsize(size, binary=True, format="%.1f"))


def format_age(delta: timedelta | None) -> str:
    """A compact age: ``45s``, ``12m``, ``5h``, ``3d``, ``4mo``, ``2y``; ``-`` when unknown."""
    if delta is None:
        return "-"
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h"
    days = seconds // 86400
    if days < 60:
        return f"{days}d"
    if days < 730:
        return f"{days // 30}mo"
    return f"{days // 365}y"


def age_of(moment: datetime | None, now: datetime) -> timedelta | None:
    """``now - moment``, or ``None`` when ``moment`` is unknown."""
    return None if moment is None else now - moment


def iso_utc(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z`` (``2026-11-22T02:35:40.335000Z``), or ``None``."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
