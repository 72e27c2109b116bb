"""Styling for what ``mputui.formatting`` says: the same text as the CLI, with stand-ins and tones made to
stand out. Nothing here parses markup: callers get ``rich.text.Text``."""

from __future__ import annotations

from rich.style import Style
from rich.text import Span, Text

from mputui.formatting import Line, Untrusted, is_plain, safe_pieces

TONE_STYLES: dict[str, str] = {"": "", "warning": "yellow", "alarm": "bold yellow"}
"""How loud each ``Line.tone`` is."""


def safe_text(text: str, style: Style | str = "", escape_style: Style | str = "reverse") -> Text:
    """A ``Text`` of ``formatting.safe_text(text)``; the stand-ins carry ``escape_style`` so they stand out."""
    if is_plain(text):
        return Text(text, style=style, end="", no_wrap=True)
    plain: list[str] = []
    spans: list[Span] = []
    pos = start = 0
    run = False  # in a run of stand-ins: one span for the run
    for piece, escaped in safe_pieces(text):
        if escaped and not run:
            start, run = pos, True
        elif run and not escaped:
            spans.append(Span(start, pos, escape_style))
            run = False
        plain.append(piece)
        pos += len(piece)
    if run:
        spans.append(Span(start, pos, escape_style))
    return Text("".join(plain), style=style, end="", no_wrap=True, spans=spans)


def line_text(line: Line, escape_style: Style | str = "reverse") -> Text:
    """A ``Line`` styled by its tone (an alarm gets a ⚠), its untrusted pieces through ``safe_text``."""
    tone = TONE_STYLES[line.tone]
    out = Text("⚠ " if line.tone == "alarm" else "", style=tone, end="")
    for piece in line.pieces:
        if isinstance(piece, Untrusted):
            out.append_text(safe_text(piece, escape_style=escape_style))
        else:
            out.append(piece)
    return out


def lines_text(lines: list[Line]) -> Text:
    """Lines joined by newlines, each styled by ``line_text``."""
    return Text("\n", end="").join(line_text(line) for line in lines)
