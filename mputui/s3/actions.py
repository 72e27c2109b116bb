"""Actions on exact upload targets (bucket + key + upload id). Never a bucket-wide call."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from mputui.s3.checksums import normalize_etag
from mputui.s3.connect import S3Connection
from mputui.s3.errors import describe, error_code, is_gone
from mputui.s3.inventory import list_parts
from mputui.s3.models import Upload


@dataclass(frozen=True, slots=True)
class AbortResult:
    """What happened to one abort. ``already_gone``: a concurrent commit/abort won the race.

    ``raced_commit``: the server accepted the abort *and* a commit of the same key at the same moment (Ceph RGW
    16.2 does; the committed object then disappears when RGW's garbage collector runs). ``error`` says so.
    """

    upload: Upload
    ok: bool
    already_gone: bool = False
    error: str | None = None
    raced_commit: bool = False

    @property
    def status(self) -> str:
        if self.ok:
            return "aborted"
        return "already gone" if self.already_gone else "failed"


@dataclass(frozen=True, slots=True)
class ExistingObject:
    """An object already at the commit's key (it would be replaced)."""

    size: int
    etag: str
    last_modified: datetime | None


def head_object(conn: S3Connection, bucket: str, key: str) -> ExistingObject | None:
    """HEAD the key: the object there, or ``None`` if there is none."""
    try:
        head = conn.call(bucket, "head_object_basic", Key=key)
    except Exception as exc:
        if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
            return None
        raise
    return ExistingObject(
        size=int(head.get("ContentLength", 0)),
        etag=normalize_etag(head.get("ETag")),
        last_modified=head.get("LastModified"),
    )


RACE_WINDOW = timedelta(seconds=5)


def confirm_abort(conn: S3Connection, upload: Upload, response: dict[str, Any]) -> AbortResult:
    """After an abort the server accepted: check that no commit of the same key landed at the same moment.

    One HEAD of the key. A multipart object there, written within a few seconds of the abort (server clock),
    means a concurrent commit also succeeded — reported, not hidden.
    """
    headers = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}) or {}
    try:
        server_time = parsedate_to_datetime(headers["date"]) if headers.get("date") else None
        obj = head_object(conn, upload.bucket, upload.key)
    except Exception:
        return AbortResult(upload, ok=True)
    if (
        obj is not None
        and server_time is not None
        and obj.last_modified is not None
        and "-" in obj.etag
        and obj.last_modified >= server_time - RACE_WINDOW
        and _could_be_commit_of(obj.etag, upload)
    ):
        return AbortResult(
            upload,
            ok=True,
            raced_commit=True,
            error="a commit of this key completed at the same moment and the server accepted both "
            "(Ceph RGW then loses the committed object): check the object",
        )
    return AbortResult(upload, ok=True)


def _could_be_commit_of(etag: str, upload: Upload) -> bool:
    """False when the object's part count rules out a commit of ``upload``: a server that accepts both a
    commit and an abort (Ceph RGW) refuses a commit of fewer parts than were uploaded, and parts are only ever
    added. So another upload of the same key with fewer parts, completed just before, is no false alarm."""
    count = etag.strip('"').rpartition("-")[2]
    if upload.parts is None or not count.isdigit():
        return True
    return int(count) >= upload.parts


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
        response = conn.call(
            upload.bucket, "abort_multipart_upload", Key=upload.key, UploadId=upload.upload_id
        )
    except Exception as exc:
        try:
            still_there = upload_exists(conn, upload.bucket, upload.key, upload.upload_id)
        except Exception:
            still_there = True
        if is_gone(exc) or not still_there:
            return AbortResult(upload, ok=False, already_gone=True, error="already gone")
        return AbortResult(upload, ok=False, error=describe(exc))
    return confirm_abort(conn, upload, response)


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
