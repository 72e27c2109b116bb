"""The parts pane: the highlighted upload's parts, with what would block a commit flagged."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from rich.style import Style
from rich.text import Text

from mputui.s3.models import Part, Upload
from mputui.tui.format import age_text, count_text, size_text
from mputui.tui.text import one_line
from mputui.tui.widgets.virtual_table import VirtualTable

MIN_PART_SIZE = 5 * 1024 * 1024
"""S3 rejects a commit whose parts, other than the last, are smaller than this."""


@dataclass(frozen=True, slots=True)
class PartRow:
    part: Part
    flag: str = ""


def flag_parts(parts: list[Part]) -> list[PartRow]:
    """Each part with its problem: ``gap 3-5`` (missing part numbers before it) or ``<5MiB`` (not last)."""
    rows: list[PartRow] = []
    previous = 0
    for i, part in enumerate(parts):
        flags = []
        if part.part_number != previous + 1:
            first, last = previous + 1, part.part_number - 1
            flags.append(f"gap {first}" if first == last else f"gap {first}-{last}")
        if part.size < MIN_PART_SIZE and i < len(parts) - 1:
            flags.append("<5MiB")
        rows.append(PartRow(part, " ".join(flags)))
        previous = part.part_number
    return rows


def parts_summary(rows: list[PartRow]) -> tuple[str, bool]:
    """One line about the parts, and whether anything in them blocks a commit."""
    if not rows:
        return "no parts uploaded", False
    gaps = sum(1 for r in rows if "gap" in r.flag)
    small = sum(1 for r in rows if "<5MiB" in r.flag)
    total = sum(r.part.size for r in rows)
    text = f"{count_text(len(rows))} part{'s' if len(rows) > 1 else ''} · {size_text(total)}"
    problems = []
    if gaps:
        problems.append(f"{gaps} gap{'s' if gaps > 1 else ''}")
    if small:
        problems.append(f"{small} small part{'s' if small > 1 else ''}")
    if problems:
        return f"{text} · ⚠ {', '.join(problems)}: blocks a commit", True
    return f"{text} · parts look committable", False


class PartsTable(VirtualTable):
    """Number, size, last modified, ETag and flag of each part."""

    def __init__(self, clock: Callable[[], datetime], **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.clock = clock
        self.upload: Upload | None = None
        self.rows: list[PartRow] = []

    def row_count(self) -> int:
        return len(self.rows)

    def show(self, upload: Upload | None, parts: list[Part] | None, message: str = "") -> None:
        """Show ``parts`` of ``upload`` (``None`` with a ``message``: loading, error, nothing selected)."""
        self.upload = upload
        self.rows = flag_parts(parts) if parts is not None else []
        self.empty_message = message if parts is None else "no parts uploaded"
        self.cursor = 0
        self.scroll_to(y=0, animate=False)
        self.rows_changed()

    def _widths(self, width: int) -> tuple[int, int, int, int, int]:
        number, size, age, flag = 5, 10, 4, 10
        etag = max(4, width - number - size - age - flag - 4)
        return number, size, age, etag, flag

    def render_header(self, width: int) -> Text:
        n, s, a, e, f = self._widths(width)
        return Text(f"{'#':>{n}} {'size':>{s}} {'mod':>{a}} {'flag':<{f}} {'etag':<{e}}")

    def render_row(self, index: int, line: int, width: int, base: Style) -> Text:
        n, s, a, e, f = self._widths(width)
        row = self.rows[index]
        part = row.part
        etag = one_line(part.etag.strip('"'))
        etag = etag if len(etag) <= e else etag[: e - 1] + "…"
        text = Text(style=base)
        text.append(f"{part.part_number:>{n}} {size_text(part.size):>{s}} ")
        text.append(f"{age_text(part.last_modified, self.clock()):>{a}} ", style=self.style("dim"))
        text.append(f"{row.flag[:f]:<{f}} ", style=self.style("warning"))
        text.append(etag, style=self.style("dim"))
        return text
