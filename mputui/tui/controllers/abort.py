"""Abort the marked uploads (or the highlighted one) on the jobs engine: confirm, run, report live.

``mputui.jobs.abort.abort_uploads`` retries throttling and 5xx errors and removes the journal record of an
aborted upload that belonged to an mputui job.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from textual.worker import get_current_worker

from mputui.formatting import safe_text
from mputui.jobs.abort import abort_uploads
from mputui.s3.actions import AbortResult
from mputui.s3.cancel import CancelToken
from mputui.s3.models import Upload
from mputui.tui.messages import AbortFinished, AbortsDone
from mputui.tui.model import Row
from mputui.tui.screens.confirm import ConfirmAbort
from mputui.tui.widgets.abort_panel import AbortPanel

if TYPE_CHECKING:
    from mputui.tui.app import MputuiApp

BATCH_RESULTS = 200
BATCH_SECONDS = 0.1


class AbortController:
    """One abort run at a time; results come back in batches and update rows, marks and the panel."""

    def __init__(self, app: MputuiApp) -> None:
        self.app = app
        self.running = False
        self.last = ""
        self.raced: list[AbortResult] = []
        """Aborts the server accepted while a commit of the same key also landed (see ``confirm_abort``)."""

    @property
    def panel(self) -> AbortPanel:
        return self.app.main_screen.query_one(AbortPanel)

    def request(self) -> None:
        app = self.app
        if app.read_only:
            return
        if self.running:
            app.notify("an abort is already running", severity="warning", markup=False)
            return
        store = app.store
        rows = store.marked_rows()
        hidden = store.hidden_marked() if rows else 0
        if not rows:
            current = app.uploads.current
            if current is None:
                app.notify("nothing to abort: mark uploads with space", markup=False)
                return
            rows = [current]

        def confirmed(chosen: list[Row] | None) -> None:
            if chosen:
                self.start(chosen)

        dialog = ConfirmAbort(rows, hidden, now=app.clock(), scoped=store.scope is not None)
        app.push_screen(dialog, callback=confirmed)

    def start(self, rows: list[Row]) -> None:
        app = self.app
        if app.conn is None:
            return
        self.running = True
        self.last = ""
        self.raced = []
        self.panel.start(len(rows), sum(r.size for r in rows))
        uploads = [r.upload for r in rows]
        for row in rows:
            app.store.set_note(row.ident, None)
        app.run_worker(
            lambda: self._run(uploads), thread=True, group="abort", exit_on_error=False, name="abort"
        )

    def _run(self, uploads: list[Upload]) -> None:
        """Worker thread: abort exactly these targets, reporting results in batches."""
        worker = get_current_worker()
        app = self.app
        assert app.conn is not None
        batch: list[AbortResult] = []
        flushed = time.monotonic()
        cancel = CancelToken(also=lambda: worker.is_cancelled)
        results = abort_uploads(app.conn, uploads, cancel=cancel, journal=app.jobs.journal)
        for result in results:
            batch.append(result)
            if len(batch) >= BATCH_RESULTS or time.monotonic() - flushed >= BATCH_SECONDS:
                app.post_message(AbortsDone(batch))
                batch, flushed = [], time.monotonic()
        if batch:
            app.post_message(AbortsDone(batch))
        app.post_message(AbortFinished(cancelled=worker.is_cancelled))

    def on_aborts_done(self, message: AbortsDone) -> None:
        app = self.app
        panel = self.panel
        gone_rows = []
        for result in message.results:
            ident = result.upload.ident
            if result.status == "failed":
                app.store.set_note(ident, result.error or "failed")
                app.store.mark([ident])
                panel.record(failed=1)
            else:
                gone_rows.append(ident)
                if result.status == "aborted":
                    panel.record(
                        aborted=1,
                        freed=result.upload.size or 0,
                        raced=int(result.raced_commit),
                        unverified=int(not result.verified),
                    )
                    if result.raced_commit:
                        self.raced.append(result)
                else:
                    panel.record(gone=1)
        app.store.remove(gone_rows)
        app.jobs.uploads_gone(gone_rows)
        app.refresh_soon()

    def on_abort_finished(self, message: AbortFinished) -> None:
        app = self.app
        self.running = False
        panel = self.panel
        panel.finish(message.cancelled)
        self.last = panel.summary()
        app.notify(
            panel.summary(),
            title="Abort finished",
            severity="warning" if panel.failed or panel.raced else "information",
            markup=False,
        )
        if self.raced:
            # The loser of a commit/abort race is told plainly: the object may be lost on Ceph RGW.
            shown = [f"s3://{safe_text(r.upload.bucket)}/{safe_text(r.upload.key)}" for r in self.raced[:5]]
            more = len(self.raced) - len(shown)
            app.notify(
                f"{self.raced[0].error}:\n" + "\n".join(shown) + (f"\n… and {more} more" if more else ""),
                title="A commit raced the abort",
                severity="warning",
                timeout=30,
                markup=False,
            )
        app.set_timer(5, lambda: None if self.running else panel.remove_class("-visible"))
        app.refresh_all()
