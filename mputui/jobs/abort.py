"""Abort many exact uploads on the jobs engine (retries, cancel), keeping the job journal in step.

A drop-in for ``mputui.s3.actions.abort_uploads`` for the TUI and CLI: each abort is retried on throttling
and 5xx with backoff, and an upload that belonged to a journaled job takes its journal record with it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from mputui.jobs.engine import DEFAULT_RETRY, Cancelled, CancelToken, Engine, RetryPolicy, with_retries
from mputui.jobs.journal import Journal
from mputui.s3.actions import AbortResult, abort_upload, confirm_abort
from mputui.s3.connect import S3Connection
from mputui.s3.models import Upload


def abort_one(
    conn: S3Connection,
    upload: Upload,
    *,
    policy: RetryPolicy = DEFAULT_RETRY,
    cancel: CancelToken | None = None,
) -> AbortResult:
    """Abort exactly ``upload``, retrying transient errors; never raises for S3 errors."""
    try:
        response = with_retries(
            lambda: conn.call(
                upload.bucket, "abort_multipart_upload", Key=upload.key, UploadId=upload.upload_id
            ),
            policy=policy,
            cancel=cancel,
        )
    except Cancelled:
        raise
    except Exception:
        # Let the core decide between "already gone" (a concurrent commit/abort won) and a real failure.
        return abort_upload(conn, upload)
    return confirm_abort(conn, upload, response)


def abort_uploads(
    conn: S3Connection,
    uploads: Iterable[Upload],
    *,
    concurrency: int | None = None,
    cancel: CancelToken | None = None,
    cancelled: Callable[[], bool] = lambda: False,
    journal: Journal | None = None,
    policy: RetryPolicy = DEFAULT_RETRY,
) -> Iterator[AbortResult]:
    """Abort many exact targets concurrently; yields each result as it completes.

    Stops starting new aborts once ``cancel`` is cancelled or ``cancelled()`` is true. When ``journal`` is
    given, the record of a journaled job whose upload is now gone is removed.
    """
    todo = list(uploads)
    token = cancel or CancelToken()
    jobs = journal.by_upload() if journal is not None else {}
    workers = max(1, min(concurrency or conn.settings.concurrency, len(todo) or 1))
    with Engine(workers, policy=policy, cancel=token, name="mputui-abort") as engine:
        for upload, result in engine.map_unordered(
            lambda u: abort_one(conn, u, policy=policy, cancel=token), todo, retry=False
        ):
            if cancelled():
                token.cancel()
            if isinstance(result, Cancelled):
                continue
            if isinstance(result, BaseException):
                result = AbortResult(upload, ok=False, error=str(result))
            record = jobs.get(upload.ident)
            if record is not None and journal is not None and (result.ok or result.already_gone):
                journal.remove(record.id)
            yield result
