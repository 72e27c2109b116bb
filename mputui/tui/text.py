"""Safe display of untrusted text (object keys, bucket names, server messages).

Nothing here ever parses markup: callers get plain ``str`` or ``rich.text.Text`` in which every character
that could move the cursor, repaint the terminal, reorder text or hide itself is replaced by a visible form.
"""

from __future__ import annotations

from functools import lru_cache

from rich.style import Style
from rich.text import Text

_NAMED = {
    "\x1b": "␛",
    "\n": "␤",
    "\r": "␍",
    "\t": "␉",
    "\x7f": "␡",
}

# Printable by Python's rules, yet blank or invisible in a terminal: shown like format characters.
_INVISIBLE_PRINTABLE = frozenset("\u115f\u1160\u3164\uffa0\u2800")


@lru_cache(maxsize=4096)
def _visible_char(ch: str) -> str:
    """The visible stand-in for one non-printable character."""
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    if code < 0x20:
        return chr(0x2400 + code)
    if 0x80 <= code <= 0x9F:
        return f"\\x{code:02x}"
    return f"⟨U+{code:04X}⟩"


def _needs_escape(ch: str) -> bool:
    return not ch.isprintable() or ch in _INVISIBLE_PRINTABLE


def is_plain(text: str) -> bool:
    """True when ``text`` needs no replacement at all (the common, fast case)."""
    if text.isascii():
        return text.isprintable()
    return text.isprintable() and _INVISIBLE_PRINTABLE.isdisjoint(text)


def visible(text: str) -> str:
    """``text`` with control, format, bidi and zero-width characters replaced by visible forms.

    ``"a\\x1b[2Jb"`` → ``"a␛[2Jb"``; ``"\\u202e"`` → ``"⟨U+202E⟩"``. The result is still untrusted as
    markup: render it through ``Text``/``Content``, never as a markup string.
    """
    if is_plain(text):
        return text
    return "".join(_visible_char(ch) if _needs_escape(ch) else ch for ch in text)


def safe_text(text: str, style: Style | str = "", escape_style: Style | str = "reverse") -> Text:
    """A ``Text`` of ``text`` made visible; replaced characters carry ``escape_style`` so they stand out."""
    if is_plain(text):
        return Text(text, style=style, end="", no_wrap=True)
    out = Text(style=style, end="", no_wrap=True)
    run: list[str] = []
    for ch in text:
        if _needs_escape(ch):
            if run:
                out.append("".join(run))
                run.clear()
            out.append(_visible_char(ch), style=escape_style)
        else:
            run.append(ch)
    if run:
        out.append("".join(run))
    return out


def one_line(text: str, limit: int = 300) -> str:
    """An untrusted message as one visible line, cut to ``limit`` characters."""
    flat = visible(" ".join(text.split()))
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
