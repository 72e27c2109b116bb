"""A keyboard-driven table on Textual's Line API: only the rows on screen are ever rendered.

Subclasses say how many rows there are and how to render one; this class owns the cursor, scrolling, the
fixed header line, mouse clicks and a cache of rendered lines (scrolling by one row renders one row, not a
screenful). Rendering goes ``Text`` or segments → ``Strip``, never through markup.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

LINE_CACHE_SIZE = 1024
"""Rendered lines kept: a few screens' worth, so scrolling back and forth re-renders nothing."""


class VirtualTable(ScrollView, can_focus=True):
    """Base class: a cursor over ``row_count()`` rows of ``lines_per_row`` lines each, below a header."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor_up", "Up", show=False),
        Binding("down,j", "cursor_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home", "first", "First", show=False),
        Binding("end", "last", "Last", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "vtable--header",
        "vtable--cursor",
        "vtable--cursor-blur",
        "vtable--dim",
        "vtable--accent",
        "vtable--error",
        "vtable--warning",
        "vtable--success",
        "vtable--escape",
    }

    DEFAULT_CSS = """
    VirtualTable {
        overflow-x: hidden;
        overflow-y: auto;
        scrollbar-size-vertical: 1;
        background: $surface;
        & > .vtable--header { color: $text-accent; text-style: bold; background: $panel; }
        & > .vtable--cursor { background: $block-cursor-background; color: $block-cursor-foreground; }
        & > .vtable--cursor-blur { background: $block-cursor-blurred-background; }
        & > .vtable--dim { color: $text-muted; }
        & > .vtable--accent { color: $text-accent; text-style: bold; }
        & > .vtable--error { color: $text-error; }
        & > .vtable--warning { color: $text-warning; }
        & > .vtable--success { color: $text-success; text-style: bold; }
        & > .vtable--escape { color: $text-warning; text-style: reverse; }
    }
    """

    show_header: ClassVar[bool] = True
    lines_per_row: ClassVar[int] = 1

    class CursorMoved(Message):
        """The cursor moved to another row (or the rows under it changed)."""

        def __init__(self, table: VirtualTable, index: int) -> None:
            super().__init__()
            self.table = table
            self.index = index

        @property
        def control(self) -> VirtualTable:
            return self.table

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.cursor = 0
        self.empty_message: str = ""
        self._style_cache: dict[tuple[bool, str], _Styles] = {}
        self._line_cache: LRUCache[Hashable, Strip] = LRUCache(LINE_CACHE_SIZE)

    # -- for subclasses ------------------------------------------------------------------------------

    def row_count(self) -> int:
        raise NotImplementedError

    def render_row(self, index: int, line: int, width: int, base: Style) -> Text | Strip:
        """Line ``line`` (0-based) of row ``index``; ``base`` is the row's background style.

        A ``Text`` is cropped or padded to ``width`` and styled with ``base`` here; a ``Strip`` must come
        already styled (it is only cropped or padded).
        """
        raise NotImplementedError

    def row_key(self, index: int) -> Hashable:
        """Everything row ``index``'s look depends on besides width, cursor and theme; ``None``: no caching.

        Rendered lines are cached under this key: a subclass returning one must call ``clear_line_cache``
        when something else its rows depend on changes (a clock, a column layout).
        """
        return None

    def render_header(self, width: int) -> Text:
        return Text()

    def header_clicked(self, x: int) -> None:
        """The header was clicked at column ``x``."""

    def row_clicked(self, index: int, x: int) -> None:
        """Row ``index`` was clicked at column ``x`` (the cursor is already on it)."""

    # -- public --------------------------------------------------------------------------------------

    def style(self, name: str) -> Style:
        """A component style (``header``, ``cursor``, ``dim``...), cached per focus state and theme."""
        return self.component_styles()[name]

    def component_styles(self) -> dict[str, Style]:
        """Every component style by name, for the current focus state and theme (look up once per row)."""
        key = (self.has_focus, self.app.theme)
        styles = self._style_cache.get(key)
        if styles is None:
            styles = self._style_cache[key] = _Styles(self)
        return styles

    def notify_style_update(self) -> None:
        self._style_cache.clear()
        self._line_cache.clear()
        super().notify_style_update()

    def clear_line_cache(self) -> None:
        """Forget every rendered line (call when rows' looks changed in a way ``row_key`` does not show)."""
        self._line_cache.clear()

    def rows_changed(self) -> None:
        """Call after the rows changed: resizes the scroll area, keeps the cursor in range, repaints."""
        count = self.row_count()
        self.virtual_size = Size(0, count * self.lines_per_row + self._header_lines)
        if self.cursor >= count:
            self.cursor = max(0, count - 1)
        self.refresh()

    def move_cursor(self, index: int, *, notify: bool = True) -> None:
        """Put the cursor on row ``index`` (clamped) and scroll it into view."""
        count = self.row_count()
        index = max(0, min(index, count - 1)) if count else 0
        changed = index != self.cursor
        old = self.cursor
        self.cursor = index
        scroll_y = int(self.scroll_y)
        self.scroll_to_cursor()
        if int(self.scroll_y) == scroll_y:
            # No scroll: only the old and the new cursor lines change.
            self._refresh_row(old)
            self._refresh_row(index)
        else:
            self.refresh()
        if notify and changed:
            self.post_message(self.CursorMoved(self, index))

    def scroll_to_cursor(self) -> None:
        body = self._body_height
        top = self.cursor * self.lines_per_row
        bottom = top + self.lines_per_row
        scroll_y = int(self.scroll_y)
        if top < scroll_y:
            self.scroll_to(y=top, animate=False)
        elif bottom > scroll_y + body:
            self.scroll_to(y=bottom - body, animate=False)

    def _refresh_row(self, index: int) -> None:
        y = index * self.lines_per_row - int(self.scroll_y) + self._header_lines
        self.refresh(Region(0, y, self.size.width, self.lines_per_row))

    def refresh_row(self, index: int) -> None:
        """Repaint one row (e.g. its mark changed)."""
        self._refresh_row(index)

    @property
    def page_rows(self) -> int:
        return max(1, self._body_height // self.lines_per_row)

    # -- actions -------------------------------------------------------------------------------------

    def action_cursor_up(self) -> None:
        self.move_cursor(self.cursor - 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(self.cursor + 1)

    def action_page_up(self) -> None:
        self.move_cursor(self.cursor - self.page_rows)

    def action_page_down(self) -> None:
        self.move_cursor(self.cursor + self.page_rows)

    def action_first(self) -> None:
        self.move_cursor(0)

    def action_last(self) -> None:
        self.move_cursor(self.row_count() - 1)

    # -- rendering -----------------------------------------------------------------------------------

    @property
    def _header_lines(self) -> int:
        return 1 if self.show_header else 0

    @property
    def _body_height(self) -> int:
        return max(1, self.scrollable_content_region.height - self._header_lines)

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.style("base")
        if y < self._header_lines:
            return self._strip(self.render_header(width), width, base + self.style("header"))
        virtual_y = int(self.scroll_y) + y - self._header_lines
        index, line = divmod(virtual_y, self.lines_per_row)
        count = self.row_count()
        if count == 0 and index == 0 and line == 0 and self.empty_message:
            return self._strip(Text(" " + self.empty_message, style=self.style("dim")), width, base)
        if index >= count:
            return Strip.blank(width, base)
        cursor = 0
        if index == self.cursor:
            cursor = 1 if self.has_focus else 2
            base = base + self.style("cursor" if cursor == 1 else "cursor-blur")
        row_key = self.row_key(index)
        cache_key = None if row_key is None else (row_key, line, width, cursor, self.app.theme)
        if cache_key is not None:
            cached = self._line_cache.get(cache_key)
            if cached is not None:
                return cached
        rendered = self.render_row(index, line, width, base)
        if isinstance(rendered, Text):
            strip = self._strip(rendered, width, base)
        else:
            strip = rendered.crop_extend(0, width, base)
        if cache_key is not None:
            self._line_cache[cache_key] = strip
        return strip

    def _strip(self, text: Text, width: int, style: Style) -> Strip:
        text.no_wrap = True
        text.end = ""
        text.truncate(width, overflow="crop", pad=True)
        segments = list(text.render(self.app.console))
        return Strip(segments).crop_extend(0, width, style).apply_style(style)

    # -- events --------------------------------------------------------------------------------------

    def on_focus(self) -> None:
        self._refresh_row(self.cursor)

    def on_blur(self) -> None:
        self._refresh_row(self.cursor)

    def on_resize(self) -> None:
        self.rows_changed()

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        if offset.y < self._header_lines:
            self.header_clicked(offset.x)
            return
        virtual_y = int(self.scroll_y) + offset.y - self._header_lines
        index = virtual_y // self.lines_per_row
        if index < self.row_count():
            self.move_cursor(index)
            self.row_clicked(index, offset.x)


class _Styles(dict[str, Style]):
    """Component styles of one table, resolved on first use."""

    def __init__(self, table: VirtualTable) -> None:
        super().__init__()
        self.table = table

    def __missing__(self, name: str) -> Style:
        table = self.table
        if name == "base":
            style = table.rich_style
        else:
            style = table.get_component_rich_style(f"vtable--{name}", partial=True)
        self[name] = style
        return style
