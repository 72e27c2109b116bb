"""Fixed-width table cells as rich segments, without building a ``Text`` per cell.

A table line is a run of cells of known widths. Going through ``rich.text.Text`` for each cell (spans,
truncate, align, render) costs ~50 µs; a cell of plain text fitted with string operations costs ~1 µs,
and the result is the same segments: the text cropped with "…" when too wide, padded with spaces to its
width, styled by the row's base style plus the cell's own.
"""

from __future__ import annotations

from rich.cells import cell_len, set_cell_size
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Text


def fit(text: str, width: int, right: bool = False) -> str:
    """``text`` cropped with "…" or padded with spaces to exactly ``width`` cells (``Text.truncate`` +
    ``Text.align``, for plain strings)."""
    if width <= 0:
        return ""
    ascii_ = text.isascii()
    size = len(text) if ascii_ else cell_len(text)
    if size > width:
        text = (text[: width - 1] if ascii_ else set_cell_size(text, width - 1)) + "…"
        return text
    pad = width - size
    if not pad:
        return text
    return " " * pad + text if right else text + " " * pad


class LineBuilder:
    """Appends cells left to right, one separator cell between them, into segments for one line.

    Runs of one style become one segment: Textual's compositor, its line filters and the terminal output all
    work per segment, so a row of 4-5 segments costs a fraction of one with 20.
    """

    __slots__ = ("_first", "_style", "_texts", "base", "console", "segments")

    def __init__(self, base: Style, console: Console) -> None:
        self.base = base
        self.console = console
        self.segments: list[Segment] = []
        self._texts: list[str] = []
        self._style: Style | None = base
        self._first = True

    def _sep(self) -> None:
        if self._first:
            self._first = False
        else:
            self._add(" ", self.base)

    def _add(self, text: str, style: Style) -> None:
        if style is not self._style and style != self._style:
            self._flush()
            self._style = style
        self._texts.append(text)

    def _flush(self) -> None:
        if self._texts:
            self.segments.append(Segment("".join(self._texts), self._style))
            self._texts = []

    def cell(self, text: str, width: int, style: Style | None = None, right: bool = False) -> None:
        """A cell of plain, already-visible text (see ``mputui.formatting.safe_text``)."""
        self._sep()
        self._add(fit(text, width, right), self.base + style if style else self.base)

    def text_cell(self, text: Text, width: int, right: bool = False) -> None:
        """A cell with its own spans (e.g. escaped characters shown in another style): the slow path."""
        self._sep()
        self._flush()
        self._style = None
        text.truncate(width, overflow="ellipsis", pad=False)
        text.align("right" if right else "left", width)
        text.end = ""
        text.no_wrap = True
        self.segments.extend(Segment.apply_style(text.render(self.console), self.base))

    def finish(self) -> list[Segment]:
        """The line's segments (call once, after the last cell)."""
        self._flush()
        return self.segments
