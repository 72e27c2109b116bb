"""Every code point, 0..0x10FFFF, through both front ends: the CLI's ``safe_text`` and the TUI's cells
(``is_plain`` picks the fast path, ``mputui.tui.text.safe_text`` styles the others) show a stand-in for exactly
the characters ``stand_ins.needs_stand_in`` names, and show it the same way."""

from __future__ import annotations

from rich.console import Console
from stand_ins import needs_stand_in, stand_in

from mputui import formatting
from mputui.tui import text as tui_text

CHUNK = 0x10000
ESCAPE = "reverse"


def chunks() -> list[tuple[str, list[tuple[int, int]], str]]:
    """Each plane as one string framed by ``x`` (so no space is at an end), with where the stand-ins must be
    in the shown text and what it must read."""
    out = []
    for low in range(0, 0x110000, CHUNK):
        raw = ["x"]
        shown = ["x"]
        spans: list[tuple[int, int]] = []
        pos = 1
        for code in range(low, low + CHUNK):
            raw.append(chr(code))
            if needs_stand_in(code):
                piece = stand_in(code)
                if spans and spans[-1][1] == pos:  # a run of stand-ins is one span
                    spans[-1] = (spans[-1][0], pos + len(piece))
                else:
                    spans.append((pos, pos + len(piece)))
            else:
                piece = chr(code)
            shown.append(piece)
            pos += len(piece)
        raw.append("x")
        shown.append("x")
        out.append(("".join(raw), spans, "".join(shown)))
    return out


CHUNKS = chunks()


def test_the_definition_covers_what_issue_17_named() -> None:
    # Soft hyphen, invisible operators, tag characters, ideographic space, line/paragraph separators, Hangul
    # fillers, no-break space, private use, unassigned, a lone surrogate; and not the ASCII space or letters.
    for code in [0xAD, 0x2061, 0x2064, 0xE0000, 0xE0041, 0xE007F, 0x3000, 0x2028, 0x2029, 0x115F, 0x3164]:
        assert needs_stand_in(code), hex(code)
    for code in [0xA0, 0xE000, 0x10FFFF, 0x0378, 0xD800, 0xFE0F, 0x202E, 0x9B, 0x1B]:
        assert needs_stand_in(code), hex(code)
    for code in [0x20, 0x41, 0xE9, 0x65E5, 0x1F680, 0x301]:
        assert not needs_stand_in(code), hex(code)


def test_cli_text_output_over_every_code_point() -> None:
    for raw, _, shown in CHUNKS:
        assert formatting.safe_text(raw) == shown


def test_fast_path_agrees_for_every_code_point() -> None:
    # The TUI's cells show text as it is when is_plain says so: it must say so for exactly the safe ones.
    wrong = [c for c in range(0x110000) if formatting.is_plain(f"x{chr(c)}x") == needs_stand_in(c)]
    assert wrong == []
    assert [c for c in range(0x110000) if formatting.needs_stand_in(chr(c)) != needs_stand_in(c)] == []


def test_tui_cells_over_every_code_point() -> None:
    console = Console(width=200, color_system=None, legacy_windows=False)
    for raw, spans, shown in CHUNKS:
        text = tui_text.safe_text(raw, escape_style=ESCAPE)
        assert text.plain == shown
        assert [(s.start, s.end) for s in text.spans] == spans
        assert {s.style for s in text.spans} <= {ESCAPE}
        # What the terminal is finally given: the segments rich renders from the cell.
        segments = list(text.render(console))
        assert "".join(segment.text for segment in segments) == shown
        assert not any(segment.control for segment in segments)
