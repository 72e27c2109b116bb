"""The parts pane: list the highlighted upload's parts once the cursor settles."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.timer import Timer
from textual.widgets import Static
from textual.worker import get_current_worker

from mputui.formatting import one_line, parts_summary
from mputui.s3.cancel import Cancelled, CancelToken
from mputui.s3.errors import describe
from mputui.s3.inventory import list_parts
from mputui.s3.models import Upload
from mputui.tui.messages import PartsListed
from mputui.tui.widgets.parts_table import PartsTable

if TYPE_CHECKING:
    from mputui.tui.app import MputuiApp

PARTS_DELAY = 0.15


class PartsController:
    """Waits for the uploads cursor to settle, then lists the parts in a worker."""

    def __init__(self, app: MputuiApp) -> None:
        self.app = app
        self._timer: Timer | None = None
        self._summary = ""

    @property
    def table(self) -> PartsTable:
        return self.app.main_screen.query_one(PartsTable)

    @property
    def pending(self) -> bool:
        """True while the parts pane waits for the cursor to settle or for ListParts to answer, or does not yet
        show the highlighted upload (its cursor message is still queued)."""
        if self._timer is not None or self.table.empty_message == "listing parts…":
            return True
        row = self.app.uploads.current
        shown = self.table.upload
        return row is not None and (shown is None or shown.ident != row.ident)

    def cursor_moved(self) -> None:
        # Holding ↓ must neither fire one ListParts per row nor repaint the parts pane for every row.
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.app.set_timer(PARTS_DELAY, self.show)

    def show(self, force: bool = False) -> None:
        self._timer = None
        app = self.app
        if not app.is_running or not app.screen_stack:
            return
        row = app.uploads.current
        table = self.table
        if row is None:
            table.show(None, None, "no upload selected")
            self._set_summary("", False)
            return
        if not force and table.upload is not None and table.upload.ident == row.ident:
            return
        app.workers.cancel_group(app, "parts")
        table.show(row.upload, None, "listing parts…")
        self._set_summary("", False)
        upload = row.upload
        app.run_worker(
            lambda: self._load(upload), thread=True, exclusive=True, group="parts", exit_on_error=False
        )

    def _load(self, upload: Upload) -> None:
        worker = get_current_worker()
        conn = self.app.conn
        if conn is None:
            self.app.post_message(PartsListed(upload, None, "not connected"))
            return
        try:
            cancel = CancelToken(also=lambda: worker.is_cancelled)
            parts = list_parts(conn, upload.bucket, upload.key, upload.upload_id, cancel=cancel)
        except Cancelled:
            return
        except Exception as exc:
            self.app.post_message(PartsListed(upload, None, describe(exc)))
            return
        if not worker.is_cancelled:
            self.app.post_message(PartsListed(upload, parts))

    def on_parts_listed(self, message: PartsListed) -> None:
        row = self.app.uploads.current
        if row is None or row.ident != message.upload.ident:
            return
        table = self.table
        if message.parts is None:
            table.show(message.upload, None, f"cannot list parts: {one_line(message.error or '')}")
            self._set_summary("", False)
            return
        table.show(message.upload, message.parts)
        assert table.plan is not None
        summary, problem = parts_summary(table.plan)
        self._set_summary(summary, problem)

    def _set_summary(self, text: str, problem: bool) -> None:
        if text == self._summary:
            return
        self._summary = text
        widget = self.app.main_screen.query_one("#parts-summary", Static)
        widget.update(Text(text))
        widget.set_class(problem, "-warning")
