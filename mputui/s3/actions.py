"""Actions on exact upload targets (bucket + key + upload id). Never a bucket-wide call."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

from mputui.s3.connect import S3Connection
from mputui.s3.errors import describe, is_gone
from mputui.s3.inventory import list_parts
from mputui.s3.models import Upload


@dataclass(frozen=True, slots=True)
class AbortResult:
    """What happened to one abort. ``already_gone``: a concurrent commit/abort won the race."""

    upload: Upload
    ok: bool
    already_gone: bool = False
    error: str | None = None

    @property
    def status(self) -> str:
        if self.ok:
            return "aborted"
        return "already gone" if self.already_gone else "failed"


def upload_exists(conn: S3Connection, bucket: str, key: str, upload_id: str) -> bool:
    """True if the upload is still in progress (ListParts answers), False if the server says it is gone."""
    try:
        list_parts(conn, bucket, key, upload_id, page_size=1)
    except Exception as exc:
        if is_gone(exc):
            return False
        raise
    return True


def abort_upload(conn: S3Connection, upload: Upload) -> AbortResult:
    """Abort exactly this upload. A NoSuchUpload (or any error after which the upload no longer exists)
    is reported as ``already_gone``, not as a failure of ours, after checking with a follow-up call."""
    try:
        conn.call(upload.bucket, "abort_multipart_upload", Key=upload.key, UploadId=upload.upload_id)
    except Exception as exc:
        try:
            still_there = upload_exists(conn, upload.bucket, upload.key, upload.upload_id)
        except Exception:
            still_there = True
        if is_gone(exc) or not still_there:
            return AbortResult(upload, ok=False, already_gone=True, error="already gone")
        return AbortResult(upload, ok=False, error=describe(exc))
    return AbortResult(upload, ok=True)


def abort_uploads(
    conn: S3Connection,
    uploads: Iterable[Upload],
    *,
    concurrency: int | None = None,
    cancelled: Callable[[], bool] = lambda: False,
) -> Iterator[AbortResult]:
    """Abort many exact targets concurrently; yields each result as it completes.

    Stops submitting new aborts once ``cancelled()`` is true (aborts already sent still report).
    """
    todo = list(uploads)
    workers = max(1, min(concurrency or conn.settings.concurrency, len(todo) or 1))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mputui-abort") as pool:
        it = iter(todo)
        running: set[Future[AbortResult]] = set()
        for upload in it:
            running.add(pool.submit(abort_upload, conn, upload))
            if len(running) >= workers * 2:
                break
        while running:
            done, running = wait(running, return_when=FIRST_COMPLETED)
            for fut in done:
                yield fut.result()
            if cancelled():
                continue
            for upload in it:
                running.add(pool.submit(abort_upload, conn, upload))
                if len(running) >= workers * 2:
                    break
