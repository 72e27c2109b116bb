"""The mputui TUI: buckets → uploads → parts, background scan, marks, filters, abort, commit, copy jobs.

Blocking S3 work runs in thread workers through the headless core (``mputui.s3``, ``mputui.jobs``) and comes
back as messages (``mputui.tui.messages``); the event loop only ever touches in-memory state. The behaviour
lives in controllers (``mputui.tui.controllers``): this module lays out the screen and routes messages.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import events, on
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Input, Static
from textual.worker import Worker, WorkerState

from mputui.formatting import one_line
from mputui.jobs.journal import Journal
from mputui.s3.connect import ConnectionSettings, S3Connection
from mputui.s3.errors import describe
from mputui.tui import bindings, status
from mputui.tui.controllers.abort import AbortController
from mputui.tui.controllers.commit import CommitController
from mputui.tui.controllers.jobs import JobsController
from mputui.tui.controllers.parts import PartsController
from mputui.tui.controllers.scan import ScanController
from mputui.tui.controllers.view import ViewController
from mputui.tui.gc_policy import GcPolicy
from mputui.tui.messages import (
    AbortFinished,
    AbortsDone,
    Connected,
    ConnectionFailed,
    JobEnded,
    JobEventPosted,
    JournalLoaded,
    PartsListed,
    ScanEventPosted,
    UploadsFound,
    ViewComputed,
)
from mputui.tui.model import Row, SortColumn, UploadStore
from mputui.tui.screens.help import HelpScreen
from mputui.tui.widgets.abort_panel import AbortPanel
from mputui.tui.widgets.bucket_list import BucketList
from mputui.tui.widgets.filter_bar import FilterBar, FilterInput
from mputui.tui.widgets.parts_table import PartsTable
from mputui.tui.widgets.text_line import TextLine
from mputui.tui.widgets.upload_table import UploadTable
from mputui.tui.widgets.virtual_table import VirtualTable

REFRESH_SECONDS = 0.1
GC_CHECK_SECONDS = 2.0


class MputuiApp(App[int]):
    """Find, size, abort, commit and copy multipart uploads, keyboard first."""

    CSS_PATH = Path(__file__).with_name("app.tcss")
    TITLE = "mputui"
    ENABLE_COMMAND_PALETTE = True
    BINDINGS: ClassVar[list[BindingType]] = bindings.BINDINGS

    def __init__(
        self,
        settings: ConnectionSettings,
        *,
        read_only: bool = False,
        bucket: str | None = None,
        prefix: str = "",
        clock: Callable[[], datetime] | None = None,
        title_suffix: str = "",
        journal: Journal | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.read_only = read_only
        self.bucket_arg = bucket
        self.prefix = prefix
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self.title_suffix = title_suffix
        self.conn: S3Connection | None = None
        self.store = UploadStore(auto_refresh=False)
        self.store.now = self.clock()
        self.scan_error: str | None = None
        self._refresh_timer: Timer | None = None
        self.scan = ScanController(self)
        self.view = ViewController(self)
        self.parts = PartsController(self)
        self.aborts = AbortController(self)
        self.commits = CommitController(self)
        self.jobs = JobsController(self, journal)
        self.gc_policy = GcPolicy()

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
        screen = self.main_screen
        screen.query_one("#buckets-pane").border_title = "Buckets"
        screen.query_one("#parts-pane").border_title = "Parts"
        uploads = screen.query_one(UploadTable)
        uploads.empty_message = "connecting…"
        screen.query_one(PartsTable).empty_message = "no upload selected"
        self.update_uploads_title()
        uploads.focus()
        self.update_status()
        self.jobs.load_journal()
        self.scan.connect()
        self.set_interval(GC_CHECK_SECONDS, self.gc_policy.maintain)

    def _title_text(self) -> Content:
        return status.title_text(self)

    @property
    def main_screen(self) -> Screen:
        """The main screen, also while a dialog is on top (App.query_one would search the dialog)."""
        return self.screen_stack[0]

    @property
    def uploads(self) -> UploadTable:
        return self.main_screen.query_one(UploadTable)

    @property
    def buckets(self) -> BucketList:
        return self.main_screen.query_one(BucketList)

    # -- state for tests and the status line -------------------------------------------------------------

    @property
    def scanning(self) -> bool:
        """True while a scan (or the connection that precedes it) is under way."""
        return self.scan.running or (self.conn is None and self.scan_error is None)

    @property
    def aborting(self) -> bool:
        return self.aborts.running

    @property
    def parts_pending(self) -> bool:
        return self.parts.pending

    @property
    def busy(self) -> bool:
        """True while anything is still to arrive or repaint: scan, abort, view, a coalesced refresh, parts."""
        return (
            self.scanning
            or self.aborts.running
            or self._refresh_timer is not None
            or self.view.pending
            or self.parts.pending
            or self.jobs.loading
        )

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key | events.MouseDown | events.MouseScrollDown | events.MouseScrollUp):
            self.gc_policy.input_seen()
        await super().on_event(event)

    # -- messages from workers -----------------------------------------------------------------------

    def on_connected(self, message: Connected) -> None:
        self.scan.on_connected(message)

    def on_connection_failed(self, message: ConnectionFailed) -> None:
        self.scan.on_connection_failed(message)

    def on_uploads_found(self, message: UploadsFound) -> None:
        self.scan.on_uploads_found(message)

    def on_scan_event_posted(self, message: ScanEventPosted) -> None:
        self.scan.on_scan_event(message)

    def on_view_computed(self, message: ViewComputed) -> None:
        self.view.on_view_computed(message)

    def on_parts_listed(self, message: PartsListed) -> None:
        self.parts.on_parts_listed(message)

    def on_aborts_done(self, message: AbortsDone) -> None:
        self.aborts.on_aborts_done(message)

    def on_abort_finished(self, message: AbortFinished) -> None:
        self.aborts.on_abort_finished(message)

    def on_journal_loaded(self, message: JournalLoaded) -> None:
        self.jobs.on_journal_loaded(message)

    def on_job_event_posted(self, message: JobEventPosted) -> None:
        self.jobs.on_job_event(message)

    def on_job_ended(self, message: JobEnded) -> None:
        self.jobs.on_job_ended(message)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            # A bug or an unexpected error in a worker: show it where the data would have been.
            self.show_error(f"{event.worker.name or 'worker'} failed: {describe(event.worker.error)}")

    def show_error(self, message: str | None) -> None:
        self.scan_error = message
        error = self.main_screen.query_one("#error", Static)
        error.update(Text(one_line(message)) if message else "")
        error.set_class(bool(message), "-visible")
        self.update_status()

    # -- refreshing ----------------------------------------------------------------------------------

    def refresh_soon(self) -> None:
        """Coalesce repaints while rows stream in: at most one per ``REFRESH_SECONDS``."""
        if self._refresh_timer is None:
            self._refresh_timer = self.set_timer(REFRESH_SECONDS, self.refresh_all)

    def refresh_all(self) -> None:
        self._refresh_timer = None
        if not self.is_running or not self.screen_stack:
            return
        self.view.request()
        self.buckets.rows_changed()
        self.update_bucket_total()
        self.update_uploads_title()
        self.update_status()

    def view_changed(self) -> None:
        """Filters, scope or sort changed: ask for the new view, repaint what depends on the query now."""
        self.view.request()
        self.update_uploads_title()
        self.update_status()

    def view_pending(self) -> None:
        """A background computation of the view is overdue: say so until it lands."""
        self.update_uploads_title()

    def view_applied(self, keep: Row | None) -> None:
        """A new view is installed: put the cursor back on ``keep`` (the row it was on) if shown, repaint."""
        self.uploads.view_changed(keep=keep)
        self.update_uploads_title()
        self.update_status()

    def update_bucket_total(self) -> None:
        text, failed = status.bucket_total_text(self)
        total = self.main_screen.query_one("#bucket-total", Static)
        total.update(Text(text))
        total.set_class(failed, "-warning")

    def update_uploads_title(self) -> None:
        title, subtitle = status.uploads_title(self)
        pane = self.main_screen.query_one("#uploads-pane")
        # Setting a border title repaints the whole pane (the 100k-row table under it included), even when
        # the text is the same: set only what changed.
        if pane.border_title != title:
            pane.border_title = title
        if pane.border_subtitle != subtitle:
            pane.border_subtitle = subtitle

    def update_status(self) -> None:
        self.main_screen.query_one("#status", TextLine).set(status.status_text(self))

    # -- panes ---------------------------------------------------------------------------------------

    @on(VirtualTable.CursorMoved, "#buckets")
    def _bucket_selected(self, event: VirtualTable.CursorMoved) -> None:
        self.store.set_scope(self.buckets.selected)
        self.view_changed()

    @on(VirtualTable.CursorMoved, "#uploads")
    def _upload_highlighted(self, event: VirtualTable.CursorMoved) -> None:
        self.parts.cursor_moved()

    @on(UploadTable.SortRequested)
    def _sort_clicked(self, event: UploadTable.SortRequested) -> None:
        self.view.sort(event.column)

    @on(UploadTable.MarkToggled)
    def _mark_clicked(self, event: UploadTable.MarkToggled) -> None:
        self.store.toggle(event.row)
        self.view.marks_changed()

    @on(Input.Changed, "#key-filter")
    def _key_filter_changed(self, event: Input.Changed) -> None:
        self.view.key_filter_changed(event)

    @on(Input.Changed, "#age-filter")
    def _age_filter_changed(self, event: Input.Changed) -> None:
        self.view.age_filter_changed(event)

    @on(Input.Changed, "#size-filter")
    def _size_filter_changed(self, event: Input.Changed) -> None:
        self.view.size_filter_changed(event)

    @on(FilterInput.Leave)
    def _filter_done(self, event: FilterInput.Leave) -> None:
        if not self.view.filter_left(event.input, blurred=False):
            return
        self.uploads.focus()
        self.view.show_filter_bar()

    @on(Input.Blurred, "FilterInput")
    def _filter_blurred(self, event: Input.Blurred) -> None:
        self.view.filter_left(event.input, blurred=True)

    # -- actions -------------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not (action in bindings.DESTRUCTIVE_ACTIONS and self.read_only)

    def action_focus_pane(self, delta: int) -> None:
        panes: list[VirtualTable] = [self.buckets, self.uploads, self.main_screen.query_one(PartsTable)]
        focused = self.focused
        index = panes.index(focused) if isinstance(focused, VirtualTable) and focused in panes else 1
        panes[max(0, min(len(panes) - 1, index + delta))].focus()

    def action_toggle_mark(self) -> None:
        self.view.toggle_mark()

    def action_mark_all(self) -> None:
        self.view.mark_all()

    def action_invert_marks(self) -> None:
        self.view.invert_marks()

    def action_clear(self) -> None:
        self.view.clear()

    def action_filter(self, which: str) -> None:
        self.view.open_filter(which)

    def action_sort(self, column: SortColumn) -> None:
        self.view.sort(column)

    def action_rescan(self) -> None:
        if self.conn is None:
            self.scan.connect()
            return
        self.scan.start(self.buckets.selected)

    def start_scan(self, bucket: str | None) -> None:
        self.scan.start(bucket)

    def action_abort(self) -> None:
        self.aborts.request()

    def action_commit(self) -> None:
        self.commits.request()

    def action_copy(self) -> None:
        self.jobs.request_copy()

    def action_resume_job(self) -> None:
        self.jobs.resume_highlighted()

    def action_resume_file(self) -> None:
        self.jobs.request_resume_file()

    def action_jobs(self) -> None:
        self.jobs.show()

    def action_help(self) -> None:
        self.push_screen(HelpScreen(bindings.help_rows(self.read_only)))

    # -- palette and quitting ------------------------------------------------------------------------

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from bindings.system_commands(self.read_only, self.run_action)
        yield from super().get_system_commands(screen)

    async def action_quit(self) -> None:
        self._cancel_everything()
        self.exit(0)

    def on_unmount(self) -> None:
        self._cancel_everything()

    def _cancel_everything(self) -> None:
        self.scan.cancel_all()
        self.jobs.cancel_all()
        self.workers.cancel_all()


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
