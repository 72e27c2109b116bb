"""Connecting and scanning: an inventory scan per request, streamed to the app in batches."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from textual.worker import get_current_worker

from mputui.s3.connect import S3Connection
from mputui.s3.errors import describe
from mputui.s3.inventory import InventoryScan
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
from mputui.tui.messages import Connected, ConnectionFailed, ScanEventPosted, UploadsFound
from mputui.tui.model import BucketEntry

if TYPE_CHECKING:
    from mputui.tui.app import MputuiApp

BATCH_ROWS = 500
BATCH_SECONDS = 0.1


class ScanController:
    """Owns the connection and every running scan (one full scan, or rescans of single buckets)."""

    def __init__(self, app: MputuiApp) -> None:
        self.app = app
        self.seq = 0
        self.scans: dict[int, InventoryScan] = {}
        self.owner: dict[str, int] = {}
        self.full_scan_id = 0
        self.progress: ScanProgress | None = None
        self.totals: ScanTotals | None = None

    @property
    def running(self) -> bool:
        return bool(self.scans)

    # -- connection ----------------------------------------------------------------------------------

    def connect(self) -> None:
        self.app.run_worker(self._connect, thread=True, exit_on_error=False, group="connect", name="connect")

    def _connect(self) -> None:
        try:
            conn = S3Connection(self.app.settings)
        except Exception as exc:
            self.app.post_message(ConnectionFailed(describe(exc)))
            return
        self.app.post_message(Connected(conn))

    def on_connected(self, message: Connected) -> None:
        self.app.conn = message.conn
        self.start(None)

    def on_connection_failed(self, message: ConnectionFailed) -> None:
        app = self.app
        app.show_error(f"Cannot connect: {message.error}")
        app.uploads.empty_message = "not connected"
        app.uploads.rows_changed()

    # -- scans ---------------------------------------------------------------------------------------

    def start(self, bucket: str | None) -> None:
        """Scan every bucket (``None``: the whole account, or ``--bucket``) or rescan one bucket."""
        app = self.app
        if app.conn is None:
            app.notify("not connected", severity="error", markup=False)
            return
        self.seq += 1
        scan_id = self.seq
        if bucket is None:
            self.cancel_all()
            app.workers.cancel_group(app, "scan")
            self.full_scan_id = scan_id
            app.store.clear()
            app.buckets.entries.clear()
            self.owner.clear()
            self.progress = None
            self.totals = None
            app.show_error(None)
            app.uploads.empty_message = "scanning…"
            scan = InventoryScan(app.conn, bucket=app.bucket_arg, prefix=app.prefix)
        else:
            app.store.clear(bucket)
            self.owner[bucket] = scan_id
            app.buckets.entries[bucket] = BucketEntry(bucket)
            scan = InventoryScan(app.conn, bucket=bucket, prefix=app.prefix)
        app.buckets.scanning = True
        self.scans[scan_id] = scan
        app.run_worker(
            lambda: self._run(scan_id, scan),
            thread=True,
            group="scan",
            exit_on_error=False,
            name=f"scan-{scan_id}",
        )
        app.refresh_all()

    def cancel_all(self) -> None:
        for scan in self.scans.values():
            if scan is not None:
                scan.cancel()
        self.scans.clear()

    def _run(self, scan_id: int, scan: InventoryScan) -> None:
        """Worker thread: stream the scan's events to the app, uploads in batches."""
        worker = get_current_worker()
        post = self.app.post_message
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
                        post(UploadsFound(scan_id, batch))
                        batch, flushed = [], time.monotonic()
                    continue
                if batch:
                    post(UploadsFound(scan_id, batch))
                    batch, flushed = [], time.monotonic()
                post(ScanEventPosted(scan_id, event))
        finally:
            scan.cancel()
            if batch:
                post(UploadsFound(scan_id, batch))

    def owns(self, scan_id: int, bucket: str) -> bool:
        return self.owner.get(bucket) == scan_id

    def on_uploads_found(self, message: UploadsFound) -> None:
        uploads = [u for u in message.uploads if self.owns(message.scan_id, u.bucket)]
        if uploads:
            self.app.store.add(uploads)
            # Rows live until a rescan and hold no reference cycles: see gc_policy.
            self.app.gc_policy.settle()
            self.app.refresh_soon()

    def on_scan_event(self, message: ScanEventPosted) -> None:
        app = self.app
        event, scan_id = message.event, message.scan_id
        entries = app.buckets.entries
        if isinstance(event, BucketsListed):
            for name in event.names:
                if self.owner.get(name, 0) <= scan_id:
                    self.owner[name] = scan_id
                    entries.setdefault(name, BucketEntry(name))
            if not event.names and scan_id == self.full_scan_id and app.scan_error is None:
                app.uploads.empty_message = "no buckets"
        elif isinstance(event, BucketDone):
            summary = event.summary
            if self.owns(scan_id, summary.name):
                entry = entries.setdefault(summary.name, BucketEntry(summary.name))
                entry.summary = summary
                entry.error = summary.error
                if summary.error == "cancelled":
                    entry.state = "cancelled"
                else:
                    entry.state = "failed" if summary.error else "done"
        elif isinstance(event, ScanProgress):
            if scan_id == self.full_scan_id:
                self.progress = event
        elif isinstance(event, ScanFailed):
            app.show_error(f"Scan failed: {event.message}")
            app.uploads.empty_message = "scan failed (see above); r retries"
        elif isinstance(event, ScanFinished):
            self.scans.pop(scan_id, None)
            if scan_id == self.full_scan_id:
                self.totals = event.totals
            app.buckets.scanning = bool(self.scans)
            if not self.scans and len(app.store) == 0 and app.scan_error is None:
                app.uploads.empty_message = "no incomplete multipart uploads"
        app.refresh_soon()
