"""Commit the highlighted upload through the commit dialog; a committed upload leaves the table."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mputui.s3.commit import CommitResult
from mputui.tui.screens.commit import CommitDialog

if TYPE_CHECKING:
    from mputui.tui.app import MputuiApp


class CommitController:
    def __init__(self, app: MputuiApp) -> None:
        self.app = app

    def request(self) -> None:
        app = self.app
        if app.read_only:
            return
        row = app.uploads.current
        if row is None:
            app.notify("nothing to commit: highlight an upload", markup=False)
            return
        if app.conn is None:
            app.notify("not connected", severity="error", markup=False)
            return
        app.push_screen(CommitDialog(app.conn, row.upload), callback=self.finished)

    def finished(self, result: CommitResult | None) -> None:
        if result is None:
            return
        app = self.app
        plan = result.plan
        ident = (plan.bucket, plan.key, plan.upload_id)
        if result.status in ("committed", "already gone"):
            app.store.remove([ident])
            app.jobs.uploads_gone([ident])
            app.refresh_soon()
        if result.ok:
            app.jobs.last_committed = f"s3://{plan.bucket}/{plan.key}"
            app.notify(f"committed s3://{plan.bucket}/{plan.key}", title="Commit", markup=False)
        elif result.status == "already gone":
            app.notify(result.error or "already gone", title="Commit", severity="warning", markup=False)
        else:
            app.notify(result.error or "failed", title="Commit failed", severity="error", markup=False)
