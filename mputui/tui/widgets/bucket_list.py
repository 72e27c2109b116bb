"""The buckets pane: "All buckets" then one two-line entry per bucket, with live totals or the scan error."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from rich.style import Style
from rich.text import Text

from mputui.formatting import age_text, format_count, format_size, one_line
from mputui.tui.model import BucketEntry, BucketStats, UploadStore
from mputui.tui.text import safe_text
from mputui.tui.widgets.virtual_table import VirtualTable


class BucketList(VirtualTable):
    """Row 0 is "All buckets"; the selected row is the cursor's."""

    show_header = False
    lines_per_row = 2

    def __init__(self, store: UploadStore, clock: Callable[[], datetime], **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.store = store
        self.clock = clock
        self.entries: dict[str, BucketEntry] = {}
        self.scanning = False

    def row_count(self) -> int:
        return 1 + len(self.entries)

    @property
    def selected(self) -> str | None:
        """The selected bucket's name, or ``None`` for "All buckets"."""
        if self.cursor == 0:
            return None
        names = list(self.entries)
        return names[self.cursor - 1] if self.cursor - 1 < len(names) else None

    def select(self, name: str | None) -> None:
        """Move the cursor to bucket ``name`` (or to "All buckets")."""
        names = list(self.entries)
        self.move_cursor(names.index(name) + 1 if name in names else 0)

    def render_row(self, index: int, line: int, width: int, base: Style) -> Text:
        now = self.clock()
        if index == 0:
            stats = self.store.stats(None)
            if line == 0:
                text = Text("All buckets", style=self.style("accent"))
                if self.entries:
                    text.append(f" ({len(self.entries)})", style=self.style("dim"))
                return text
            return self._stats_line(stats, now, scanning=self.scanning)
        entry = list(self.entries.values())[index - 1]
        if line == 0:
            text = safe_text(entry.name, escape_style=self.style("escape"))
            text.truncate(width - 2, overflow="ellipsis")
            if entry.state == "scanning":
                text.append(" …", style=self.style("dim"))
            elif entry.state == "failed":
                text.append(" ✗", style=self.style("error"))
            return text
        if entry.state in ("failed", "cancelled") and entry.error:
            return Text(
                "  " + one_line(entry.error),
                style=self.style("error" if entry.state == "failed" else "warning"),
            )
        return self._stats_line(self.store.stats(entry.name), now, scanning=entry.state == "scanning")

    def _stats_line(self, stats: BucketStats, now: datetime, *, scanning: bool) -> Text:
        if stats.uploads == 0:
            return Text("  scanning…" if scanning else "  no uploads", style=self.style("dim"))
        text = Text(f"  {format_count(stats.uploads)} · {format_size(stats.size)}")
        if stats.unknown_sizes:
            text.append("+?", style=self.style("warning"))
        text.append(f" · {age_text(stats.oldest, now)}", style=self.style("dim"))
        return text
