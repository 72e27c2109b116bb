"""The uploads pane: a virtual table over ``UploadStore.view`` (100k rows cost what the screen shows)."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from rich.style import Style
from rich.text import Text
from textual.message import Message
from textual.strip import Strip

from mputui.formatting import (
    age_text,
    format_count,
    format_size,
    is_plain,
    one_line,
    short_id,
    storage_class_label,
)
from mputui.tui.cells import LineBuilder
from mputui.tui.model import Ident, Row, SortColumn, UploadStore
from mputui.tui.text import safe_text
from mputui.tui.widgets.virtual_table import VirtualTable

ACTIVE_WINDOW = timedelta(hours=1)
"""An upload whose newest part is younger than this is still receiving data: not stale."""


@dataclass(frozen=True, slots=True)
class Column:
    id: str
    title: str
    width: int
    right: bool = False
    sort: SortColumn | None = None


MARK = Column("mark", " ", 1)
BUCKET = Column("bucket", "bucket", 14, sort="bucket")
KEY = Column("key", "key", 0, sort="key")
UPLOAD_ID = Column("id", "upload id", 8)
AGE = Column("age", "age", 4, right=True, sort="age")
ACTIVITY = Column("activity", "newest", 6, right=True, sort="activity")
PARTS = Column("parts", "parts", 6, right=True, sort="parts")
SIZE = Column("size", "size", 10, right=True, sort="size")
CLASS = Column("class", "class", 5, sort="class")
NOTE = Column("note", "status", 22)
MIN_KEY_WIDTH = 12


class UploadTable(VirtualTable):
    """Mark, bucket (in "All"), key, short upload id, age, newest-part age, parts, size, storage class."""

    def __init__(self, store: UploadStore, clock: Callable[[], datetime], **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.store = store
        self.clock = clock
        self._now = clock()
        self._columns_cache: tuple[tuple[int, bool, bool], list[tuple[Column, int]]] | None = None
        self.jobs: Mapping[Ident, object] = {}
        """Uploads that belong to a journaled mputui job: their key cell is tagged ``job``."""

    # -- data ----------------------------------------------------------------------------------------

    def row_count(self) -> int:
        return len(self.store.view)

    @property
    def current(self) -> Row | None:
        view = self.store.view
        return view[self.cursor] if 0 <= self.cursor < len(view) else None

    def view_changed(self, keep: Row | None = None) -> None:
        """The view was recomputed: keep the cursor on ``keep`` if it is still shown, then repaint."""
        self._now = self.clock()
        view = self.store.view
        if keep is not None and not (0 <= self.cursor < len(view) and view[self.cursor] is keep):
            position = self.store.position(keep)
            if position is not None:
                self.cursor = position
        self.rows_changed()
        self.scroll_to_cursor()
        self.post_message(self.CursorMoved(self, self.cursor))

    # -- layout --------------------------------------------------------------------------------------

    def columns(self, width: int) -> list[tuple[Column, int]]:
        """The columns that fit ``width``, with their widths (cached: asked for every painted line)."""
        key = (width, self.store.scope is None, self.store.has_notes)
        if self._columns_cache is None or self._columns_cache[0] != key:
            self._columns_cache = (key, self._layout(width))
        return self._columns_cache[1]

    def _layout(self, width: int) -> list[tuple[Column, int]]:
        cols = [MARK]
        if self.store.scope is None:
            cols.append(BUCKET)
        cols += [KEY, UPLOAD_ID, AGE, ACTIVITY, PARTS, SIZE, CLASS]
        if self.store.has_notes:
            cols.append(NOTE)
        fixed = sum(c.width for c in cols) + len(cols) - 1
        key_width = width - fixed
        # Narrow terminal: give up the least useful columns before the key becomes unreadable.
        for drop in (CLASS, UPLOAD_ID, BUCKET):
            if key_width >= MIN_KEY_WIDTH:
                break
            if drop in cols:
                cols.remove(drop)
                key_width += drop.width + 1
        return [(c, max(key_width, 4) if c is KEY else c.width) for c in cols]

    def render_header(self, width: int) -> Text:
        text = Text()
        for i, (col, w) in enumerate(self.columns(width)):
            if i:
                text.append(" ")
            title = col.title
            if col.sort is not None and col.sort == self.store.sort_column:
                title = f"{title}{'▼' if self.store.sort_descending else '▲'}"
            cell = Text(title)
            cell.truncate(w, overflow="ellipsis", pad=False)
            cell.align("right" if col.right else "left", w)
            text.append_text(cell)
        return text

    def row_key(self, index: int) -> Hashable:
        store = self.store
        row = store.view[index]
        in_job = bool(self.jobs) and row.ident in self.jobs
        return (row, store.is_marked(row), row.note, in_job, self._now, store.scope is None, store.has_notes)

    def render_row(self, index: int, line: int, width: int, base: Style) -> Strip:
        row = self.store.view[index]
        out = LineBuilder(base, self.app.console)
        style = self.component_styles().__getitem__
        for col, w in self.columns(width):
            self._cell(out, col, w, row, style)
        return Strip(out.finish())

    def _cell(self, out: LineBuilder, col: Column, w: int, row: Row, style: Callable[[str], Style]) -> None:
        upload = row.upload
        cid = col.id
        if cid == "mark":
            if self.store.is_marked(row):
                out.cell("✗" if row.note else "●", w, style("error" if row.note else "accent"))
            else:
                out.cell(" ", w)
        elif cid == "bucket":
            self._untrusted(out, upload.bucket, w, style)
        elif cid == "key":
            if self.jobs and row.ident in self.jobs:
                key = safe_text(upload.key, escape_style=style("escape"))
                out.text_cell(Text.assemble(Text("job ", style=style("accent")), key), w)
            else:
                self._untrusted(out, upload.key, w, style)
        elif cid == "id":
            out.cell(short_id(one_line(upload.upload_id)), w, style("dim"))
        elif cid == "age":
            out.cell(age_text(upload.initiated, self._now), w, right=True)
        elif cid == "activity":
            if upload.last_modified is None:
                out.cell("-", w, style("dim"), right=True)
            elif self._now - upload.last_modified < ACTIVE_WINDOW:
                # Still receiving parts: not stale, whatever its age says.
                text = f"●{age_text(upload.last_modified, self._now)}"
                out.cell(text, w, style("success"), right=True)
            else:
                out.cell(age_text(upload.last_modified, self._now), w, right=True)
        elif cid == "parts":
            out.cell("?" if upload.parts is None else format_count(upload.parts), w, right=True)
        elif cid == "size":
            out.cell(format_size(upload.size), w, right=True)
        elif cid == "class":
            out.cell(storage_class_label(upload.storage_class), w, style("dim"))
        elif cid == "note":
            out.cell(one_line(row.note or ""), w, style("error"))
        else:
            out.cell("", w)

    def _untrusted(self, out: LineBuilder, text: str, w: int, style: Callable[[str], Style]) -> None:
        if is_plain(text):
            out.cell(text, w)
        else:
            out.text_cell(safe_text(text, escape_style=style("escape")), w)

    # -- mouse ---------------------------------------------------------------------------------------

    def _column_at(self, x: int) -> Column | None:
        pos = 0
        for col, w in self.columns(self.scrollable_content_region.width):
            if pos <= x < pos + w + 1:
                return col
            pos += w + 1
        return None

    def header_clicked(self, x: int) -> None:
        col = self._column_at(x)
        if col is not None and col.sort is not None:
            self.post_message(self.SortRequested(col.sort))

    def row_clicked(self, index: int, x: int) -> None:
        if self._column_at(x) is MARK:
            self.post_message(self.MarkToggled(self.store.view[index]))

    class SortRequested(Message):
        """A column header was clicked."""

        def __init__(self, column: SortColumn) -> None:
            super().__init__()
            self.column = column

    class MarkToggled(Message):
        """The mark column of a row was clicked."""

        def __init__(self, row: Row) -> None:
            super().__init__()
            self.row = row
