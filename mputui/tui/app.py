"""The mputui TUI: buckets → uploads → parts, background scan, marks, filters, abort with live progress.

Blocking S3 work runs in thread workers through the headless core (``mputui.s3``) and comes back as
messages (``mputui.tui.messages``); the event loop only ever touches in-memory state.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Input, Static
from textual.worker import Worker, WorkerState, get_current_worker

from mputui.parsing import ParseError, parse_duration, parse_size
from mputui.s3.actions import AbortResult, abort_uploads
from mputui.s3.connect import ConnectionSettings, S3Connection
from mputui.s3.errors import describe
from mputui.s3.inventory import InventoryScan, ScanCancelled, list_parts
from mputui.s3.models import (
    BucketDone,
    BucketsListed,
    ScanFailed,
    ScanFinished,
    ScanProgress,
    ScanTotals,
    Upload,
    UploadFound,
)
from mputui.tui.format import compact_age, count_text, size_text
from mputui.tui.messages import (
    AbortFinished,
    AbortsDone,
    Connected,
    ConnectionFailed,
    PartsListed,
    ScanEventPosted,
    UploadsFound,
)
from mputui.tui.model import BucketEntry, Row, SortColumn, UploadStore
from mputui.tui.screens.confirm import ConfirmAbort
from mputui.tui.screens.help import HelpScreen
from mputui.tui.text import one_line, visible
from mputui.tui.widgets.abort_panel import AbortPanel
from mputui.tui.widgets.bucket_list import BucketList
from mputui.tui.widgets.filter_bar import FilterBar, FilterInput
from mputui.tui.widgets.parts_table import PartsTable, parts_summary
from mputui.tui.widgets.text_line import TextLine
from mputui.tui.widgets.upload_table import UploadTable
from mputui.tui.widgets.virtual_table import VirtualTable

BATCH_ROWS = 500
BATCH_SECONDS = 0.1
REFRESH_SECONDS = 0.1
PARTS_DELAY = 0.15

DESTRUCTIVE_ACTIONS = frozenset({"abort"})


class MputuiApp(App[int]):
    """Find, size and abort incomplete multipart uploads, keyboard first."""

    CSS_PATH = Path(__file__).with_name("app.tcss")
    TITLE = "mputui"
    ENABLE_COMMAND_PALETTE = True

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "toggle_mark", "Mark", id="mark"),
        Binding("a", "mark_all", "Mark all", id="mark_all"),
        Binding("i", "invert_marks", "Invert", id="invert_marks"),
        Binding("escape", "clear", "Clear", id="clear"),
        Binding("slash", "filter('key')", "Filter", id="filter_key"),
        Binding("o", "filter('age')", "Min age", id="filter_age"),
        Binding("z", "filter('size')", "Min size", id="filter_size"),
        Binding("K", "sort('key')", "Sort by key", show=False, id="sort_key"),
        Binding("A", "sort('age')", "Sort by age", show=False, id="sort_age"),
        Binding("N", "sort('activity')", "Sort by newest part", show=False, id="sort_activity"),
        Binding("S", "sort('size')", "Sort by size", show=False, id="sort_size"),
        Binding("P", "sort('parts')", "Sort by parts", show=False, id="sort_parts"),
        Binding("B", "sort('bucket')", "Sort by bucket", show=False, id="sort_bucket"),
        Binding("r", "rescan", "Rescan", id="rescan"),
        Binding("d,delete", "abort", "Abort", id="abort"),
        Binding("left", "focus_pane(-1)", "Pane left", show=False, id="pane_left"),
        Binding("right", "focus_pane(1)", "Pane right", show=False, id="pane_right"),
        Binding("question_mark", "help", "Help", id="help"),
        Binding("q", "quit", "Quit", id="quit"),
    ]

    def __init__(
        self,
        settings: ConnectionSettings,
        *,
        read_only: bool = False,
        bucket: str | None = None,
        prefix: str = "",
        clock: Callable[[], datetime] | None = None,
        title_suffix: str = "",
    ) -> None:
        super().__init__()
        self.settings = settings
        self.read_only = read_only
        self.bucket_arg = bucket
        self.prefix = prefix
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self.title_suffix = title_suffix
        self.conn: S3Connection | None = None
        self.store = UploadStore()
        self.store.now = self.clock()
        self._scan_seq = 0
        self._scans: dict[int, InventoryScan] = {}
        self._owner: dict[str, int] = {}
        self._full_scan_id = 0
        self._progress: ScanProgress | None = None
        self._totals: ScanTotals | None = None
        self._scan_error: str | None = None
        self._refresh_timer: Timer | None = None
        self._parts_timer: Timer | None = None
        self._aborting = False
        self._last_abort: str = ""
        self._parts_summary = ""

    # -- layout --------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(self._title_text(), id="title")
        with Horizontal(id="main"):
            with Vertical(id="buckets-pane", classes="pane"):
                yield BucketList(self.store, self.clock, id="buckets")
                yield Static("", id="bucket-total", classes="pane-footer", markup=False)
            with Vertical(id="uploads-pane", classes="pane"):
                yield FilterBar(id="filters")
                yield Static("", id="error", markup=False)
                yield UploadTable(self.store, self.clock, id="uploads")
            with Vertical(id="parts-pane", classes="pane"):
                yield PartsTable(self.clock, id="parts")
                yield Static("", id="parts-summary", classes="pane-footer", markup=False)
        yield AbortPanel(id="abort-panel")
        yield TextLine(id="status")
        yield Footer()

    def on_mount(self) -> None:
        self._main.query_one("#buckets-pane").border_title = "Buckets"
        self._main.query_one("#parts-pane").border_title = "Parts"
        uploads = self._main.query_one(UploadTable)
        uploads.empty_message = "connecting…"
        self._main.query_one(PartsTable).empty_message = "no upload selected"
        self._update_uploads_title()
        uploads.focus()
        self._update_status()
        self._connect()

    def _title_text(self) -> Content:
        where = self.settings.endpoint_url or "AWS (default endpoint)"
        parts = ["mputui", visible(where)]
        if self.settings.profile:
            parts.append(f"profile {visible(self.settings.profile)}")
        if self.bucket_arg:
            parts.append(f"bucket {visible(self.bucket_arg)}")
        if self.prefix:
            parts.append(f"prefix {visible(self.prefix)}")
        if self.title_suffix:
            parts.append(visible(self.title_suffix))
        text = Content(" · ".join(parts))
        if self.read_only:
            text += Content.styled("  READ-ONLY (abort disabled)", "bold $text-warning")
        return text

    @property
    def _main(self) -> Screen:
        # The main screen, also while a dialog is on top (App.query_one would search the dialog).
        return self.screen_stack[0]

    @property
    def scanning(self) -> bool:
        """True while a scan (or the connection that precedes it) is under way."""
        return bool(self._scans) or (self.conn is None and self._scan_error is None)

    @property
    def aborting(self) -> bool:
        return self._aborting

    @property
    def busy(self) -> bool:
        """True while anything is still to arrive or repaint: scan, abort, a coalesced refresh, the parts."""
        return self.scanning or self._aborting or self._refresh_timer is not None or self.parts_pending

    @property
    def parts_pending(self) -> bool:
        """True while the parts pane waits for the cursor to settle or for ListParts to answer."""
        return (
            self._parts_timer is not None
            or self._main.query_one(PartsTable).empty_message == "listing parts…"
        )

    @property
    def uploads(self) -> UploadTable:
        return self._main.query_one(UploadTable)

    @property
    def buckets(self) -> BucketList:
        return self._main.query_one(BucketList)

    # -- connection and scan -------------------------------------------------------------------------

    @work(thread=True, exit_on_error=False, group="connect")
    def _connect(self) -> None:
        try:
            conn = S3Connection(self.settings)
        except Exception as exc:
            self.post_message(ConnectionFailed(describe(exc)))
            return
        self.post_message(Connected(conn))

    def on_connected(self, message: Connected) -> None:
        self.conn = message.conn
        self.start_scan(None)

    def on_connection_failed(self, message: ConnectionFailed) -> None:
        self._show_error(f"Cannot connect: {message.error}")
        self.uploads.empty_message = "not connected"
        self.uploads.rows_changed()

    def _show_error(self, message: str | None) -> None:
        self._scan_error = message
        error = self._main.query_one("#error", Static)
        error.update(Text(one_line(message)) if message else "")
        error.set_class(bool(message), "-visible")
        self._update_status()

    def start_scan(self, bucket: str | None) -> None:
        """Scan every bucket (``None``: the whole account, or ``--bucket``) or rescan one bucket."""
        if self.conn is None:
            self.notify("not connected", severity="error", markup=False)
            return
        self._scan_seq += 1
        scan_id = self._scan_seq
        if bucket is None:
            for scan in self._scans.values():
                scan.cancel()
            self.workers.cancel_group(self, "scan")
            self._scans.clear()
            self._full_scan_id = scan_id
            self.store.clear()
            self.buckets.entries.clear()
            self._owner.clear()
            self._progress = None
            self._totals = None
            self._show_error(None)
            self.uploads.empty_message = "scanning…"
            scan = InventoryScan(self.conn, bucket=self.bucket_arg, prefix=self.prefix)
        else:
            self.store.clear(bucket)
            self._owner[bucket] = scan_id
            self.buckets.entries[bucket] = BucketEntry(bucket)
            scan = InventoryScan(self.conn, bucket=bucket, prefix=self.prefix)
        self.buckets.scanning = True
        self._scans[scan_id] = scan
        self.run_worker(
            lambda: self._run_scan(scan_id, scan),
            thread=True,
            group="scan",
            exit_on_error=False,
            name=f"scan-{scan_id}",
        )
        self._refresh_all()

    def _run_scan(self, scan_id: int, scan: InventoryScan) -> None:
        """Worker thread: stream the scan's events to the app, uploads in batches."""
        worker = get_current_worker()
        batch: list[Upload] = []
        flushed = time.monotonic()
        try:
            for event in scan.events():
                if worker.is_cancelled:
                    scan.cancel()
                    break
                if isinstance(event, UploadFound):
                    batch.append(event.upload)
                    if len(batch) >= BATCH_ROWS or time.monotonic() - flushed >= BATCH_SECONDS:
                        self.post_message(UploadsFound(scan_id, batch))
                        batch, flushed = [], time.monotonic()
                    continue
                if batch:
                    self.post_message(UploadsFound(scan_id, batch))
                    batch, flushed = [], time.monotonic()
                self.post_message(ScanEventPosted(scan_id, event))
        finally:
            scan.cancel()
            if batch:
                self.post_message(UploadsFound(scan_id, batch))

    def _owns(self, scan_id: int, bucket: str) -> bool:
        return self._owner.get(bucket) == scan_id

    def on_uploads_found(self, message: UploadsFound) -> None:
        uploads = [u for u in message.uploads if self._owns(message.scan_id, u.bucket)]
        if uploads:
            self.store.add(uploads)
            # Rows live until a rescan and hold no reference cycles: keep them out of the cyclic GC, whose
            # full passes over 100k rows would otherwise stall the UI for 100+ ms at random key presses.
            gc.freeze()
            self._refresh_soon()

    def on_scan_event_posted(self, message: ScanEventPosted) -> None:
        event, scan_id = message.event, message.scan_id
        entries = self.buckets.entries
        if isinstance(event, BucketsListed):
            for name in event.names:
                if self._owner.get(name, 0) <= scan_id:
                    self._owner[name] = scan_id
                    entries.setdefault(name, BucketEntry(name))
            if not event.names and scan_id == self._full_scan_id and self._scan_error is None:
                self.uploads.empty_message = "no buckets"
        elif isinstance(event, BucketDone):
            summary = event.summary
            if self._owns(scan_id, summary.name):
                entry = entries.setdefault(summary.name, BucketEntry(summary.name))
                entry.summary = summary
                entry.error = summary.error
                if summary.error == "cancelled":
                    entry.state = "cancelled"
                else:
                    entry.state = "failed" if summary.error else "done"
        elif isinstance(event, ScanProgress):
            if scan_id == self._full_scan_id:
                self._progress = event
        elif isinstance(event, ScanFailed):
            self._show_error(f"Scan failed: {event.message}")
            self.uploads.empty_message = "scan failed (see above); r retries"
        elif isinstance(event, ScanFinished):
            self._scans.pop(scan_id, None)
            if scan_id == self._full_scan_id:
                self._totals = event.totals
            self.buckets.scanning = bool(self._scans)
            if not self._scans and len(self.store) == 0 and self._scan_error is None:
                self.uploads.empty_message = "no incomplete multipart uploads"
        self._refresh_soon()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            # A bug or an unexpected error in a worker: show it where the data would have been.
            self._show_error(f"{event.worker.name or 'worker'} failed: {describe(event.worker.error)}")

    # -- refreshing ----------------------------------------------------------------------------------

    def _refresh_soon(self) -> None:
        """Coalesce repaints while rows stream in: at most one per ``REFRESH_SECONDS``."""
        if self._refresh_timer is None:
            self._refresh_timer = self.set_timer(REFRESH_SECONDS, self._refresh_all)

    def _refresh_all(self) -> None:
        self._refresh_timer = None
        if not self.is_running or not self.screen_stack:
            return
        self.uploads.view_changed(keep=self.uploads.current)
        self.buckets.rows_changed()
        self._update_bucket_total()
        self._update_uploads_title()
        self._update_status()

    def _view_changed(self) -> None:
        """Filters, scope, sort or marks changed: repaint what depends on them now."""
        self.store.now = self.clock()
        self.uploads.view_changed(keep=self.uploads.current)
        self._update_uploads_title()
        self._update_status()

    def _update_bucket_total(self) -> None:
        stats = self.store.stats(None)
        entries = self.buckets.entries.values()
        failed = sum(1 for e in entries if e.state == "failed")
        text = f"Σ {count_text(len(self.buckets.entries))} buckets"
        if failed:
            text += f" ({failed} failed)"
        text += f"\n  {count_text(stats.uploads)} uploads · {size_text(stats.size)}"
        if stats.unknown_sizes:
            text += f" + {count_text(stats.unknown_sizes)} unknown"
        total = self._main.query_one("#bucket-total", Static)
        total.update(Text(text))
        total.set_class(bool(failed), "-warning")

    def _update_uploads_title(self) -> None:
        scope = self.store.scope
        title = Content("Uploads · ") + Content(visible(scope) if scope else "All buckets")
        view = len(self.store.view)
        subtitle = f"{count_text(view)} shown"
        if self.store.filter_active:
            subtitle += (
                f" of {count_text(len(self.store) if scope is None else self.store.stats(scope).uploads)}"
            )
        pane = self._main.query_one("#uploads-pane")
        pane.border_title = title
        pane.border_subtitle = Content(subtitle)

    def _update_status(self) -> None:
        text = Text()
        if self._scans:
            p = self._progress
            if p is not None:
                text.append(
                    f"Scanning {p.buckets_done}/{p.buckets_total} buckets · {count_text(p.uploads)} uploads · "
                    f"{p.requests_per_second:,.0f} req/s",
                    style="bold",
                )
            else:
                text.append("Scanning…", style="bold")
        elif self._scan_error:
            text.append("Scan failed", style="bold red")
        elif self._totals is not None:
            # Only deterministic numbers here: request counts and timings vary with retries and load.
            t = self._totals
            state = "Scan cancelled:" if t.cancelled else "Scanned"
            stats = self.store.stats(None)
            text.append(
                f"{state} {count_text(t.buckets)} buckets · {count_text(stats.uploads)} uploads · "
                f"{size_text(stats.size)}"
            )
            if t.failed_buckets:
                text.append(f" · {t.failed_buckets} failed", style="red")
        marked = self.store.marked_count
        text.append("  │  ")
        if marked:
            text.append(f"{count_text(marked)} marked · {size_text(self.store.marked_bytes)}", style="bold")
            hidden = self.store.hidden_marked()
            if hidden:
                text.append(f" ({count_text(hidden)} not shown)", style="yellow")
        else:
            text.append("nothing marked", style="dim")
        filters = self._filter_summary()
        if filters:
            text.append("  │  filter: ")
            text.append(filters)
        arrow = "▼" if self.store.sort_descending else "▲"
        text.append(f"  │  sort: {self.store.sort_column}{arrow}", style="dim")
        if self._last_abort and not self._aborting:
            text.append("  │  last abort: ")
            text.append(self._last_abort)
        self._main.query_one("#status", TextLine).set(text)

    def _filter_summary(self) -> str:
        store = self.store
        parts = []
        if store.key_filter:
            parts.append(f"key ∋ {visible(store.key_filter)!r}")
        if store.min_age is not None:
            parts.append(f"age ≥ {compact_age(store.min_age.total_seconds())}")
        if store.min_size is not None:
            parts.append(f"size ≥ {size_text(store.min_size)}")
        return ", ".join(parts)

    # -- panes and parts -----------------------------------------------------------------------------

    @on(VirtualTable.CursorMoved, "#buckets")
    def _bucket_selected(self, event: VirtualTable.CursorMoved) -> None:
        self.store.set_scope(self.buckets.selected)
        self._view_changed()

    @on(VirtualTable.CursorMoved, "#uploads")
    def _upload_highlighted(self, event: VirtualTable.CursorMoved) -> None:
        # Wait for the cursor to settle: holding ↓ must neither fire one ListParts per row nor repaint the
        # parts pane for every row it passes.
        if self._parts_timer is not None:
            self._parts_timer.stop()
        self._parts_timer = self.set_timer(PARTS_DELAY, self._show_parts)

    def _show_parts(self) -> None:
        self._parts_timer = None
        if not self.is_running or not self.screen_stack:
            return
        row = self.uploads.current
        parts = self._main.query_one(PartsTable)
        if row is None:
            parts.show(None, None, "no upload selected")
            self._set_parts_summary("", False)
            return
        if parts.upload is not None and parts.upload.ident == row.ident:
            return
        self.workers.cancel_group(self, "parts")
        parts.show(row.upload, None, "listing parts…")
        self._set_parts_summary("", False)
        self._load_parts(row.upload)

    @work(thread=True, exclusive=True, group="parts", exit_on_error=False)
    def _load_parts(self, upload: Upload) -> None:
        worker = get_current_worker()
        if self.conn is None:
            self.post_message(PartsListed(upload, None, "not connected"))
            return
        try:
            parts = list_parts(
                self.conn, upload.bucket, upload.key, upload.upload_id, cancelled=lambda: worker.is_cancelled
            )
        except ScanCancelled:
            return
        except Exception as exc:
            self.post_message(PartsListed(upload, None, describe(exc)))
            return
        if not worker.is_cancelled:
            self.post_message(PartsListed(upload, parts))

    def on_parts_listed(self, message: PartsListed) -> None:
        row = self.uploads.current
        if row is None or row.ident != message.upload.ident:
            return
        table = self._main.query_one(PartsTable)
        if message.parts is None:
            table.show(message.upload, None, f"cannot list parts: {one_line(message.error or '')}")
            self._set_parts_summary("", False)
            return
        table.show(message.upload, message.parts)
        summary, problem = parts_summary(table.rows)
        self._set_parts_summary(summary, problem)

    def _set_parts_summary(self, text: str, problem: bool) -> None:
        if text == self._parts_summary:
            return
        self._parts_summary = text
        widget = self._main.query_one("#parts-summary", Static)
        widget.update(Text(text))
        widget.set_class(problem, "-warning")

    @on(UploadTable.SortRequested)
    def _sort_clicked(self, event: UploadTable.SortRequested) -> None:
        self.action_sort(event.column)

    @on(UploadTable.MarkToggled)
    def _mark_clicked(self, event: UploadTable.MarkToggled) -> None:
        self.store.toggle(event.row)
        self._marks_changed()

    def action_focus_pane(self, delta: int) -> None:
        panes: list[VirtualTable] = [self.buckets, self.uploads, self._main.query_one(PartsTable)]
        focused = self.focused
        index = panes.index(focused) if isinstance(focused, VirtualTable) and focused in panes else 1
        panes[max(0, min(len(panes) - 1, index + delta))].focus()

    # -- triage --------------------------------------------------------------------------------------

    def _marks_changed(self) -> None:
        self.uploads.refresh()
        self._update_status()

    def action_toggle_mark(self) -> None:
        row = self.uploads.current
        if row is None:
            return
        self.store.toggle(row)
        self.uploads.refresh_row(self.uploads.cursor)
        self.uploads.move_cursor(self.uploads.cursor + 1)
        self._update_status()

    def action_mark_all(self) -> None:
        self.store.mark_view()
        self._marks_changed()

    def action_invert_marks(self) -> None:
        self.store.invert_view()
        self._marks_changed()

    def action_clear(self) -> None:
        """Escape: clear the filters if any, else the marks."""
        if self.store.filter_active:
            for input_id in ("#key-filter", "#age-filter", "#size-filter"):
                self._main.query_one(input_id, Input).value = ""
            self.store.clear_filters()
            self._show_filter_bar()
            self._view_changed()
        elif self.store.marked_count:
            self.store.clear_marks()
            self._marks_changed()

    def action_filter(self, which: str) -> None:
        bar = self._main.query_one(FilterBar)
        bar.add_class("-visible")
        self._main.query_one(f"#{which}-filter", Input).focus()

    def _show_filter_bar(self) -> None:
        editing = isinstance(self.focused, FilterInput)
        self._main.query_one(FilterBar).set_class(editing or self.store.filter_active, "-visible")

    @on(Input.Changed, "#key-filter")
    def _key_filter_changed(self, event: Input.Changed) -> None:
        self.store.set_filter(key=event.value)
        self._view_changed()

    @on(Input.Changed, "#age-filter")
    def _age_filter_changed(self, event: Input.Changed) -> None:
        value = event.value.strip()
        try:
            min_age = parse_duration(value) if value else None
        except ParseError:
            event.input.add_class("-invalid")
            return
        event.input.remove_class("-invalid")
        self.store.set_filter(min_age=min_age)
        self._view_changed()

    @on(Input.Changed, "#size-filter")
    def _size_filter_changed(self, event: Input.Changed) -> None:
        value = event.value.strip()
        try:
            min_size = parse_size(value) if value else None
        except ParseError:
            event.input.add_class("-invalid")
            return
        event.input.remove_class("-invalid")
        self.store.set_filter(min_size=min_size)
        self._view_changed()

    @on(FilterInput.Leave)
    def _filter_done(self) -> None:
        self.uploads.focus()
        self._show_filter_bar()

    def action_sort(self, column: str) -> None:
        self.store.set_sort(column)  # type: ignore[arg-type]
        self._view_changed()

    def action_rescan(self) -> None:
        selected = self.buckets.selected
        if self.conn is None:
            self._connect()
            return
        self.start_scan(selected)

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self._binding_help()))

    def _binding_help(self) -> list[tuple[str, str]]:
        rows = [
            ("↑ ↓ pgup pgdn", "move in the focused pane (also j/k, home/end); mouse works too"),
            ("tab ← →", "next pane / pane left / pane right"),
            ("enter", "(in a filter) apply and go back to the uploads"),
        ]
        for binding in self.BINDINGS:
            assert isinstance(binding, Binding)
            if binding.action == "abort" and self.read_only:
                continue
            if binding.action.startswith("focus_pane"):
                continue
            rows.append((_key_label(binding.key), binding.description))
        rows.append(("ctrl+p", "command palette: every action by name"))
        return rows

    # -- abort ---------------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not (action in DESTRUCTIVE_ACTIONS and self.read_only)

    def action_abort(self) -> None:
        if self.read_only:
            return
        if self._aborting:
            self.notify("an abort is already running", severity="warning", markup=False)
            return
        rows = self.store.marked_rows()
        hidden = self.store.hidden_marked() if rows else 0
        if not rows:
            current = self.uploads.current
            if current is None:
                self.notify("nothing to abort: mark uploads with space", markup=False)
                return
            rows = [current]

        def confirmed(ok: bool | None) -> None:
            if ok:
                self._start_abort(rows)

        self.push_screen(ConfirmAbort(rows, hidden, scoped=self.store.scope is not None), callback=confirmed)

    def _start_abort(self, rows: list[Row]) -> None:
        if self.conn is None:
            return
        self._aborting = True
        self._last_abort = ""
        panel = self._main.query_one(AbortPanel)
        panel.start(len(rows), sum(r.size for r in rows))
        uploads = [r.upload for r in rows]
        for row in rows:
            self.store.set_note(row.ident, None)
        self.run_worker(
            lambda: self._run_aborts(uploads), thread=True, group="abort", exit_on_error=False, name="abort"
        )

    def _run_aborts(self, uploads: list[Upload]) -> None:
        """Worker thread: abort exactly these targets, reporting results in batches."""
        worker = get_current_worker()
        assert self.conn is not None
        batch: list[AbortResult] = []
        flushed = time.monotonic()
        for result in abort_uploads(self.conn, uploads, cancelled=lambda: worker.is_cancelled):
            batch.append(result)
            if len(batch) >= 200 or time.monotonic() - flushed >= BATCH_SECONDS:
                self.post_message(AbortsDone(batch))
                batch, flushed = [], time.monotonic()
        if batch:
            self.post_message(AbortsDone(batch))
        self.post_message(AbortFinished(cancelled=worker.is_cancelled))

    def on_aborts_done(self, message: AbortsDone) -> None:
        panel = self._main.query_one(AbortPanel)
        gone_rows = []
        for result in message.results:
            ident = result.upload.ident
            if result.status == "failed":
                self.store.set_note(ident, result.error or "failed")
                self.store.mark([ident])
                panel.record(failed=1)
            else:
                gone_rows.append(ident)
                if result.status == "aborted":
                    panel.record(aborted=1, freed=result.upload.size or 0)
                else:
                    panel.record(gone=1)
        self.store.remove(gone_rows)
        self._refresh_soon()

    def on_abort_finished(self, message: AbortFinished) -> None:
        self._aborting = False
        panel = self._main.query_one(AbortPanel)
        panel.finish(message.cancelled)
        self._last_abort = panel.summary()
        self.notify(
            panel.summary(),
            title="Abort finished",
            severity="warning" if panel.failed else "information",
            markup=False,
        )
        self.set_timer(5, lambda: None if self._aborting else panel.remove_class("-visible"))
        self._refresh_all()

    # -- palette and quitting ------------------------------------------------------------------------

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        for binding in self.BINDINGS:
            assert isinstance(binding, Binding)
            name = binding.action.split("(")[0]
            if name in DESTRUCTIVE_ACTIONS and self.read_only:
                continue
            if name == "focus_pane":
                continue
            action = binding.action
            yield SystemCommand(
                binding.description,
                f"key: {_key_label(binding.key)}",
                partial(self.run_action, action),
            )
        yield from super().get_system_commands(screen)

    async def action_quit(self) -> None:
        self._cancel_everything()
        self.exit(0)

    def on_unmount(self) -> None:
        self._cancel_everything()

    def _cancel_everything(self) -> None:
        for scan in self._scans.values():
            scan.cancel()
        self.workers.cancel_all()


def _key_label(keys: str) -> str:
    names = {"slash": "/", "question_mark": "?", "space": "space", "escape": "esc", "delete": "del"}
    return " ".join(names.get(k, k) for k in keys.split(","))


def run_tui(
    settings: ConnectionSettings,
    *,
    read_only: bool = False,
    bucket: str | None = None,
    prefix: str = "",
    title_suffix: str = "",
) -> int:
    """Run the TUI until the user quits; returns the exit code."""
    app = MputuiApp(settings, read_only=read_only, bucket=bucket, prefix=prefix, title_suffix=title_suffix)
    result = app.run()
    return result if isinstance(result, int) else 0


__all__ = ["MputuiApp", "SortColumn", "run_tui"]
