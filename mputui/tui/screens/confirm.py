"""The abort confirmation: exact targets, count, bytes, buckets, what the filter hides, and which targets
received a part within the hour (those are aborted only when asked separately). ``y``, ``A`` or nothing."""

from __future__ import annotations

from collections import Counter
from collections.abc import Set as AbstractSet
from datetime import datetime

from rich.style import Style
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from mputui.formatting import format_count, format_size, one_line, short_id
from mputui.tui.model import Row
from mputui.tui.text import safe_text
from mputui.tui.widgets.upload_table import ACTIVE_WINDOW
from mputui.tui.widgets.virtual_table import VirtualTable

# Keys that scroll the target list instead of cancelling.
SCROLL_KEYS = frozenset({"up", "down", "pageup", "pagedown", "home", "end", "j", "k"})


class TargetList(VirtualTable):
    """Every target of the abort: bucket, key, short upload id, size; ``●`` after the recently active ones."""

    def __init__(self, rows: list[Row], active: AbstractSet[Row] = frozenset(), **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.rows = rows
        self.active = active

    def row_count(self) -> int:
        return len(self.rows)

    def _widths(self, width: int) -> tuple[int, int, int, int]:
        bucket, upload_id, size = 16, 10, 10
        flag = 2 if self.active else 0
        return bucket, max(8, width - bucket - upload_id - size - 3 - flag), upload_id, size

    def render_header(self, width: int) -> Text:
        b, k, i, s = self._widths(width)
        return Text(f"{'bucket':<{b}} {'key':<{k}} {'upload id':<{i}} {'size':>{s}}")

    def render_row(self, index: int, line: int, width: int, base: Style) -> Text:
        b, k, i, s = self._widths(width)
        row = self.rows[index]
        upload = row.upload
        text = Text(style=base)
        for value, w in ((upload.bucket, b), (upload.key, k)):
            cell = safe_text(value, escape_style=self.style("escape"))
            cell.truncate(w, overflow="ellipsis", pad=True)
            text.append_text(cell)
            text.append(" ")
        text.append(f"{short_id(one_line(upload.upload_id), i):<{i}} ", style=self.style("dim"))
        text.append(f"{format_size(upload.size):>{s}}")
        if row in self.active:
            text.append(" ●", style=self.style("warning"))
        return text


class ConfirmAbort(ModalScreen[list[Row]]):
    """Dismissed with the rows to abort (empty: cancelled). ``y`` (or the Abort button) confirms the targets
    that have been idle for an hour or more; those that received a part within the hour (``ACTIVE_WINDOW``)
    are aborted only with ``A`` (or the Abort all button). Any other key cancels;
    arrow/page keys scroll the targets."""

    DEFAULT_CSS = """
    ConfirmAbort { align: center middle; }
    ConfirmAbort #dialog {
        width: 100; max-width: 95%; height: auto; max-height: 90%;
        border: thick $error; background: $surface; padding: 0 1;
    }
    ConfirmAbort #confirm-title { text-style: bold; color: $text-error; padding-bottom: 1; }
    ConfirmAbort #confirm-hidden, ConfirmAbort #confirm-active { color: $text-warning; text-style: bold; }
    ConfirmAbort TargetList { height: auto; max-height: 14; margin: 1 0; border: round $panel-lighten-2; }
    ConfirmAbort #confirm-buttons { height: auto; align-horizontal: right; }
    ConfirmAbort Button { margin-left: 2; }
    """

    def __init__(self, rows: list[Row], hidden: int, *, now: datetime, scoped: bool = False) -> None:
        super().__init__()
        self.rows = rows
        self.hidden = hidden
        self.scoped = scoped
        since = (now - ACTIVE_WINDOW).timestamp()
        # Idle time as everywhere abort decides: the newest part, else the initiation.
        self.active = frozenset(r for r in rows if r.act_ts > since)
        self.idle = [r for r in rows if r not in self.active]

    def compose(self) -> ComposeResult:
        count = len(self.rows)
        total = sum(r.size for r in self.rows)
        unknown = sum(1 for r in self.rows if r.upload.size is None)
        noun = "upload" if count == 1 else "uploads"
        buckets = Counter(r.upload.bucket for r in self.rows)
        active, idle = len(self.active), len(self.idle)
        with Vertical(id="dialog"):
            yield Static(
                Text(f"Abort {format_count(count)} multipart {noun}, {format_size(total)}?"),
                id="confirm-title",
            )
            facts = Text()
            facts.append(f"{format_count(count)} {noun} · {format_size(total)} of parts will be deleted")
            if unknown:
                facts.append(f" (+ {format_count(unknown)} of unknown size)")
            facts.append(". This cannot be undone.\n")
            facts.append(f"Bucket{'s' if len(buckets) > 1 else ''}: ")
            for i, (name, n) in enumerate(sorted(buckets.items())):
                if i:
                    facts.append(", ")
                if i == 8:
                    facts.append(f"… {len(buckets) - 8} more")
                    break
                facts.append_text(safe_text(name))
                facts.append(f" ({format_count(n)})")
            yield Static(facts, id="confirm-facts")
            if self.hidden:
                plural = "upload" if self.hidden == 1 else "uploads"
                yield Static(
                    Text(
                        f"⚠ {format_count(self.hidden)} marked {plural} hidden by the current filter"
                        f"{' or bucket selection' if self.scoped else ''} (included in this abort)"
                    ),
                    id="confirm-hidden",
                )
            if active:
                who = "It" if count == 1 else f"{format_count(active)} of them"
                yield Static(
                    Text(
                        f"● {who} received a part in the last hour: still being written? "
                        f"Aborted only if you choose {'it' if count == 1 else 'all'} (A)."
                    ),
                    id="confirm-active",
                )
            yield TargetList(self.rows, self.active, id="targets")
            if not active:
                help_text = "y: abort exactly these targets · any other key: cancel"
            elif idle:
                help_text = (
                    f"y: abort the {format_count(idle)} idle one{'s' if idle != 1 else ''} only · "
                    f"A: abort all {format_count(count)} · any other key: cancel"
                )
            else:
                help_text = f"A: abort {'it' if count == 1 else f'all {format_count(count)}'} anyway · any other key: cancel"
            yield Static(Text(help_text), id="confirm-help")
            with Horizontal(id="confirm-buttons"):
                yield Button("Cancel", id="no")
                if not active:
                    yield Button(f"Abort {format_count(count)}", variant="error", id="yes")
                else:
                    if idle:
                        yield Button(f"Abort {format_count(idle)} idle", variant="warning", id="yes")
                    yield Button(f"Abort all {format_count(count)}", variant="error", id="all")

    def on_mount(self) -> None:
        table = self.query_one(TargetList)
        table.rows_changed()
        table.focus()

    def _chosen(self, choice: str | None) -> list[Row]:
        if choice == "all" or (choice == "yes" and not self.active):
            return self.rows
        return self.idle if choice == "yes" else []

    def on_key(self, event: events.Key) -> None:
        if event.key in SCROLL_KEYS:
            return
        event.stop()
        event.prevent_default()
        choice = {"y": "yes", "A": "all" if self.active else None}.get(event.key)
        self.dismiss(self._chosen(choice))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(self._chosen(event.button.id))
