"""The uploads view: filters, sort, scope and marks, with the view computed off the event loop.

Up to ``SYNC_ROWS`` rows the view is recomputed on the spot (a few ms). Beyond, a thread worker computes it
from a snapshot (``UploadStore.job``) in small chunks, and the result is installed in one step when it
arrives — unless the query changed or rows were removed meanwhile, then it is dropped. Key handling never
waits for a pass over the rows; the pane says "updating…" until the new order is in (only once that takes
longer than ``NOTICE_DELAY``: a result that lands sooner is painted once, not announced and then painted).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from textual.widgets import Input
from textual.worker import Worker, get_current_worker

from mputui.parsing import ParseError, parse_duration, parse_size
from mputui.tui.messages import ViewComputed
from mputui.tui.model import Row, SortColumn
from mputui.tui.viewcalc import ViewCancelled, ViewJob, compute_view
from mputui.tui.widgets.filter_bar import FilterBar, FilterInput

if TYPE_CHECKING:
    from mputui.tui.app import MputuiApp

NOTICE_DELAY = 0.15
"""Seconds a background view may take before the pane says "updating…"."""

SYNC_ROWS = 20_000
"""Up to this many rows, recompute the view on the event loop (it takes a few ms)."""


T = TypeVar("T")

_BOUNDS: dict[str, Callable[[str], object]] = {"age": parse_duration, "size": parse_size}
"""The filters with a value to parse, by input (``#age-filter``, ``#size-filter``)."""


def _optional(parse: Callable[[str], T], text: str) -> T | None:
    """``parse(text)``, or None for an empty text (no filter)."""
    text = text.strip()
    return parse(text) if text else None


def _yield_gil() -> None:
    # Not sleep(0): give the event loop the GIL for a whole millisecond between chunks, so key handling
    # and repaints run at nearly full speed while the view is computed (it costs ~25-50 ms per 100k rows).
    time.sleep(0.001)


class ViewController:
    """Filters, sort and marks of the uploads pane, and the (background) computation of its view."""

    def __init__(self, app: MputuiApp) -> None:
        self.app = app
        self.store = app.store
        self.sync_rows = SYNC_ROWS
        self._seq = 0
        self._worker: Worker[None] | None = None
        self._running: ViewJob | None = None
        self._since: float | None = None  # when the background computations now running began
        self._accepted = {"age": "", "size": ""}  # each bounded filter's text as last accepted

    @property
    def pending(self) -> bool:
        """True while the shown view lags behind the query or the rows."""
        return self._worker is not None or self.store.view_stale

    @property
    def overdue(self) -> bool:
        """True while background computations have run for ``NOTICE_DELAY`` or longer without a result."""
        since = self._since
        return self._worker is not None and since is not None and time.monotonic() - since >= NOTICE_DELAY

    # -- computing -----------------------------------------------------------------------------------

    def request(self) -> None:
        """The query or the rows changed: bring the view up to date (now, or from a worker)."""
        store = self.store
        store.now = self.app.clock()
        if not store.view_stale:
            self.app.view_applied(self.app.uploads.current)
            return
        if self._worker is not None:
            assert self._running is not None
            if self._running.query == store.query and self._running.removals == store.removals:
                return  # same question, older rows: its answer is applied, then the newer rows are asked for
            self._worker.cancel()
            self._worker = self._running = None
        if len(store) <= self.sync_rows:
            keep = self._keep(store.query)  # before the view changes under the cursor
            store.refresh_view()
            self.app.view_applied(keep)
            return
        self._seq += 1
        seq, job = self._seq, store.job()
        self._running = job
        if self._since is None:
            self._since = time.monotonic()
            self.app.set_timer(NOTICE_DELAY, self.app.view_pending)
        self._worker = self.app.run_worker(
            lambda: self._compute(seq, job), thread=True, group="view", exit_on_error=False, name="view"
        )

    def _compute(self, seq: int, job: ViewJob) -> None:
        """Worker thread: compute, giving the GIL back between chunks; post the result unless superseded."""
        worker = get_current_worker()
        try:
            result = compute_view(job, cancelled=lambda: worker.is_cancelled, pause=_yield_gil)
        except ViewCancelled:
            return
        self.app.post_message(ViewComputed(seq, result))

    def on_view_computed(self, message: ViewComputed) -> None:
        if message.seq != self._seq:
            return
        self._worker = self._running = self._since = None
        keep = self._keep(message.result.query)
        if self.store.apply(message.result):
            # The view's lists and sets (100k references each) live until the next view: see gc_policy.
            self.app.gc_policy.settle()
            self.app.view_applied(keep)
        if self.store.view_stale:
            self.request()

    def _keep(self, query: object) -> Row | None:
        """The row the cursor should stay on once the new view is in.

        After a filter, sort or scope change: the highlighted row. When only rows arrived (a scan streaming
        in): the highlighted row too, unless the cursor is on the first row — then it stays at the top.
        """
        uploads = self.app.uploads
        if query != self.store.shown_query or uploads.cursor > 0:
            return uploads.current
        return None

    def cancel(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
        self._worker = self._running = self._since = None

    # -- marks ---------------------------------------------------------------------------------------

    def marks_changed(self) -> None:
        self.app.uploads.refresh()
        self.app.update_status()

    def toggle_mark(self) -> None:
        uploads = self.app.uploads
        row = uploads.current
        if row is None:
            return
        self.store.toggle(row)
        uploads.refresh_row(uploads.cursor)
        uploads.move_cursor(uploads.cursor + 1)
        self.app.update_status()

    def mark_all(self) -> None:
        self.store.mark_view()
        self.marks_changed()

    def invert_marks(self) -> None:
        self.store.invert_view()
        self.marks_changed()

    # -- filters and sort ----------------------------------------------------------------------------

    def clear(self) -> None:
        """Escape: clear the filters if any, else the marks."""
        app, store = self.app, self.store
        if store.filter_active:
            for input_id in ("#key-filter", "#age-filter", "#size-filter"):
                app.main_screen.query_one(input_id, Input).value = ""
            self._accepted = dict.fromkeys(self._accepted, "")
            store.clear_filters()
            self.show_filter_bar()
            app.view_changed()
        elif store.marked_count:
            store.clear_marks()
            self.marks_changed()

    def open_filter(self, which: str) -> None:
        screen = self.app.main_screen
        screen.query_one(FilterBar).add_class("-visible")
        screen.query_one(f"#{which}-filter", Input).focus()

    def show_filter_bar(self) -> None:
        editing = isinstance(self.app.focused, FilterInput)
        self.app.main_screen.query_one(FilterBar).set_class(editing or self.store.filter_active, "-visible")

    def key_filter_changed(self, event: Input.Changed) -> None:
        self.store.set_filter(key=event.value)
        self.app.view_changed()

    def age_filter_changed(self, event: Input.Changed) -> None:
        min_age = self._typed(event.input, "age", parse_duration)
        if min_age != self.store.min_age:
            self.store.set_filter(min_age=min_age)
            self.app.view_changed()

    def size_filter_changed(self, event: Input.Changed) -> None:
        min_size = self._typed(event.input, "size", parse_size)
        if min_size != self.store.min_size:
            self.store.set_filter(min_size=min_size)
            self.app.view_changed()

    def _typed(self, field: Input, which: str, parse: Callable[[str], T]) -> T | None:
        """The minimum age or size as it is typed, while it parses. While it does not, the one accepted
        before this edit: never a part of the text (``7d3`` does not stay ``7d``)."""
        try:
            value = _optional(parse, field.value)
        except ParseError:
            field.add_class("-invalid")
            return _optional(parse, self._accepted[which])
        field.remove_class("-invalid")
        return value

    def filter_left(self, field: Input, *, blurred: bool) -> bool:
        """The user is done with a filter input: accept its text, or refuse it visibly. False: keep the
        focus there (enter on a value that does not parse)."""
        which = field.id.removesuffix("-filter") if field.id else ""
        if which not in _BOUNDS:
            return True
        try:
            _optional(_BOUNDS[which], field.value)
        except ParseError as exc:
            accepted = self._accepted[which].strip()
            kept = f"≥ {accepted}" if accepted else "off"
            self.app.notify(
                f"{exc}: not applied, the {which} filter stays {kept}",
                title="Filter refused",
                severity="error",
                markup=False,
            )
            if not blurred:
                return False
            field.value = self._accepted[which]  # focus went elsewhere: show the filter that applies
            return True
        self._accepted[which] = field.value
        return True

    def sort(self, column: SortColumn) -> None:
        self.store.set_sort(column)
        self.app.view_changed()
