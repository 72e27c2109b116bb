"""Human formatting shared by the CLI and the TUI: sizes, ages, and untrusted text made safe to print."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from urllib.parse import urlsplit, urlunsplit

import humanize

# Untrusted text (object keys, bucket names, upload ids, anything a server sent) is shown through
# ``safe_text`` here, by the CLI and by the TUI (``mputui.tui.text`` styles the same pieces): one definition
# of what a terminal may be given raw.

_NAMED = {
    "\x1b": "␛",
    "\n": "␤",
    "\r": "␍",
    "\t": "␉",
    "\x7f": "␡",
}

# Printable by Python's rules, yet blank, invisible or width-changing in a terminal: shown like format
# characters. Variation selectors are invisible and switch a character between text and emoji presentation,
# whose width terminals disagree about (``❤️`` is one cell in some, two in others): shown, the character before
# it is measured the same everywhere.
_INVISIBLE_PRINTABLE = frozenset(
    "\u115f\u1160\u3164\uffa0\u2800"
    + "".join(chr(c) for c in range(0xFE00, 0xFE10))
    + "".join(chr(c) for c in range(0xE0100, 0xE01F0))
)

EDGE_SPACE = "␠"
"""Stands for a space at the start or end of a key, which a table or a line end would hide."""


@lru_cache(maxsize=4096)
def _visible_char(ch: str) -> str:
    """The visible stand-in for one character that must not be shown raw."""
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    if code < 0x20:
        return chr(0x2400 + code)  # ␀ ␁ ... (Control Pictures block)
    if 0x80 <= code <= 0x9F:
        return f"\\x{code:02x}"
    return f"⟨U+{code:04X}⟩"


def _needs_escape(ch: str) -> bool:
    return not ch.isprintable() or ch in _INVISIBLE_PRINTABLE


def is_plain(text: str) -> bool:
    """True when ``safe_text(text) == text`` (the common, fast case)."""
    if text[:1] == " " or text[-1:] == " ":
        return False
    if text.isascii():
        return text.isprintable()
    return text.isprintable() and _INVISIBLE_PRINTABLE.isdisjoint(text)


def safe_pieces(text: str) -> Iterator[tuple[str, bool]]:
    """``text`` as runs of characters shown as they are (``False``) and stand-ins (``True``, one per
    character): control, format, bidi, zero-width and separator characters, variation selectors, and the
    spaces at either end (``␠``). Joined, the pieces are ``safe_text(text)``."""
    start = len(text) - len(text.lstrip(" "))
    if start == len(text):
        yield from ((EDGE_SPACE, True) for _ in text)
        return
    end = len(text.rstrip(" "))
    yield from ((EDGE_SPACE, True) for _ in range(start))
    run: list[str] = []
    for ch in text[start:end]:
        if _needs_escape(ch):
            if run:
                yield "".join(run), False
                run.clear()
            yield _visible_char(ch), True
        else:
            run.append(ch)
    if run:
        yield "".join(run), False
    yield from ((EDGE_SPACE, True) for _ in range(len(text) - end))


def safe_text(text: str) -> str:
    """``text`` with every character a terminal would obey or hide replaced by a visible stand-in.

    ``"a\\x1b[2Jb"`` → ``"a␛[2Jb"``; ``"\\u202e"`` → ``"⟨U+202E⟩"``; ``"\\x9b"`` → ``"\\x9b"`` (four
    characters); ``" x "`` → ``"␠x␠"``; ``"❤\\ufe0f"`` → ``"❤⟨U+FE0F⟩"``. The result is plain text: it cannot move
    the cursor, clear the screen, reorder what follows it or hide where it ends. It is still untrusted as
    markup: the TUI renders it through ``Text``/``Content``, never as a markup string.
    """
    if is_plain(text):
        return text
    return "".join(piece for piece, _ in safe_pieces(text))


def one_line(text: str, limit: int = 300) -> str:
    """An untrusted message (a server's error text) as one visible line, cut to ``limit`` characters."""
    flat = safe_text(" ".join(text.split()))
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


# ``scheme://userinfo@``: RFC 3986 userinfo holds no "/", "?", "#"; the last "@" before the host ends it.
_URL_USERINFO = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*://)[^/?#\s'\"<>]*@")


def redact_url(url: str) -> str:
    """``url`` with any ``user:password@`` shown as ``***@``. In a URL that does not parse, everything between
    ``://`` and its last ``@`` is hidden (a password with a raw "/" or ":" breaks the URL's syntax)."""
    if "@" not in url:
        return url
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a malformed authority
    except ValueError:
        scheme, sep, rest = url.partition("://")
        return f"{scheme}://***@{rest.rpartition('@')[2]}" if sep else "***"
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, f"***@{host}", parts.path, parts.query, parts.fragment))


def redact_urls(text: str) -> str:
    """``text`` with the userinfo (``user:password@``) of every URL in it shown as ``***@``."""
    if "@" not in text:
        return text
    return _URL_USERINFO.sub(r"\1***@", text)


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
