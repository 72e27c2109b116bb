"""One journaled multipart copy: create (or find) the upload, copy the missing parts, complete.

The journal record exists before the upload does and is updated after every part, so whatever stops the
process (Ctrl-C, a crash, kill -9, a lost network) a re-run finds the upload, asks the server which parts
it holds, copies only the others, and completes. The record goes away only once Complete or Abort succeeded.

A run that dies after journaling the job but before journaling the upload id may have sent a Create whose answer
it never read. The server still carries it out, possibly late: after the re-run listed the key to adopt that
upload, found none and created its own. So such a re-run marks the record (``LOST_CREATE``) and, just before
completing (or when aborting the job), aborts the uploads that Create made (``late_creates``).
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from mputui.jobs.engine import Cancelled, Engine
from mputui.jobs.events import (
    CopyEvent,
    JobAborted,
    ObjectCopied,
    PartCopied,
    PartState,
    ProgressTracker,
)
from mputui.jobs.journal import JobRecord, Journal
from mputui.jobs.objects import ObjectInfo, head_object, same_content
from mputui.jobs.plan import part_count, part_range, part_sizes
from mputui.jobs.transfer import SourceChanged, Transfer
from mputui.s3.actions import abort_upload, upload_exists
from mputui.s3.errors import MputuiError, describe, is_gone
from mputui.s3.inventory import iter_upload_pages, list_parts
from mputui.s3.models import Upload

# Test hook (used by tests/test_copy_resume.py): after this many parts are journaled in this process, the
# process sends itself SIGKILL: no cleanup, no flush, exactly like kill -9. Read only here; unset in normal use.
CRASH_AFTER_PARTS_ENV = "MPUTUI_TEST_CRASH_AFTER_PARTS"
# How far before a record's creation time an upload may claim to be initiated and still be adopted.
_ADOPT_SLACK = timedelta(minutes=5)
# Record ``extra`` key: the job's last journal write before a Create whose answer an earlier run never read.
LOST_CREATE = "lost_create_after"


class UploadGone(MputuiError):
    """The journaled upload was completed or aborted by someone else."""


class JobFailed(MputuiError):
    """A job stopped; ``resumable`` when its upload is still journaled and ``jobs resume`` can finish it."""

    def __init__(self, message: str, *, resumable: bool) -> None:
        super().__init__(message)
        self.resumable = resumable


class CrashHook:
    """Counts journaled parts and kills the process after ``MPUTUI_TEST_CRASH_AFTER_PARTS`` of them."""

    def __init__(self) -> None:
        value = os.environ.get(CRASH_AFTER_PARTS_ENV, "")
        self.limit = int(value) if value.isdigit() else None
        self._count = 0
        self._lock = threading.Lock()

    def part_journaled(self) -> None:
        if self.limit is None:
            return
        with self._lock:
            self._count += 1
            if self._count >= self.limit:
                os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))
                os._exit(137)


@dataclass
class JobContext:
    """What every job of one run shares."""

    transfer: Transfer
    journal: Journal
    parts: Engine
    emit: Callable[[CopyEvent], None]
    crash_hook: CrashHook


class MultipartJob:
    """Copy ``src`` to ``dst_bucket/dst_key`` through a journaled multipart upload (new or resumed)."""

    def __init__(self, ctx: JobContext, src: ObjectInfo, record: JobRecord) -> None:
        self.ctx = ctx
        self.src = src
        self.record = record
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.parts_copied = 0
        self.bytes_copied = 0

    @property
    def t(self) -> Transfer:
        return self.ctx.transfer

    def run(self) -> ObjectCopied:
        """Run to completion. Raises ``JobFailed``/``SourceChanged``/``Cancelled`` otherwise."""
        r = self.record
        with self.ctx.journal.lock(r.id):
            fresh = self.ctx.journal.load(r.id) is None
            if fresh:
                self.ctx.journal.save(r)  # before the upload exists: a crash now leaves nothing unknown
            else:
                r = self.record = self.ctx.journal.load(r.id) or r
            resumed = r.upload_id is not None
            if r.upload_id is None:
                if not fresh:
                    expect_lost_create(r)
                r.upload_id = self._adopt_or_create(fresh)
                self.ctx.journal.save(r)
            else:
                finished = self._sync_parts()
                if finished is not None:
                    return finished
            self._copy_missing()
            self._check_source()
            abort_late_creates(self.t, r)
            self._complete()
            self.ctx.journal.remove(r.id)
        return ObjectCopied(
            src=r.src,
            dst=r.dst,
            size=r.src_size,
            parts=r.parts_total,
            parts_copied=self.parts_copied,
            method=r.method,
            resumed=resumed,
            job_id=r.id,
        )

    # -- upload ---------------------------------------------------------------------------------------

    def _adopt_or_create(self, fresh: bool) -> str:
        """A new upload; or, if an earlier run died between journaling and learning the upload id, that one."""
        r = self.record
        if not fresh:
            candidates = unjournaled_uploads(self.t, r)
            if len(candidates) == 1:
                return candidates[0].upload_id
            if candidates:
                ids = ", ".join(u.upload_id for u in candidates)
                raise JobFailed(
                    f"job {r.id}: cannot tell which upload of {r.dst} is this job's ({ids}); "
                    f"abort the wrong ones with `mputui abort`, then resume",
                    resumable=True,
                )
        return self._create()

    def _create(self) -> str:
        return create_upload(self.t, self.src, self.record.dst_bucket, self.record.dst_key)

    def _sync_parts(self) -> ObjectCopied | None:
        """Take the server's word for which parts exist. Returns a result if the job turns out finished."""
        r = self.record
        assert r.upload_id is not None
        try:
            listed = list_parts(self.t.dst_conn, r.dst_bucket, r.dst_key, r.upload_id)
        except Exception as exc:
            if not is_gone(exc):
                raise
            existing = head_object(self.t.dst_conn, r.dst_bucket, r.dst_key)
            if existing is not None and same_content(self.src, existing):
                # Completed by an earlier run that died before forgetting the job.
                self.ctx.journal.remove(r.id)
                return ObjectCopied(r.src, r.dst, r.src_size, r.parts_total, 0, r.method, True, r.id)
            r.upload_id = None
            r.done = {}
            self.ctx.journal.save(r)
            r.upload_id = self._create()
            self.ctx.journal.save(r)
            return None
        sizes = part_sizes(r.src_size, r.part_size)
        r.done = {
            p.part_number: p.etag
            for p in listed
            if p.part_number <= len(sizes) and p.size == sizes[p.part_number - 1] and p.etag
        }
        self.ctx.journal.save(r)
        return None

    # -- parts ----------------------------------------------------------------------------------------

    def _copy_missing(self) -> None:
        r = self.record
        tracker = ProgressTracker(r.id, r.src, r.dst, part_sizes(r.src_size, r.part_size), self.ctx.emit)
        tracker.preset_done(r.done)
        missing = [n for n in range(1, part_count(r.src_size, r.part_size) + 1) if n not in r.done]

        def one(n: int) -> None:
            if self._stop.is_set():
                raise Cancelled
            tracker.set_state(n, PartState.RUNNING)
            first, last = part_range(n, r.src_size, r.part_size)
            assert r.upload_id is not None
            etag = self.t.copy_part(self.src, r.dst_bucket, r.dst_key, r.upload_id, n, first, last)
            with self._lock:
                r.done[n] = etag
                self.ctx.journal.save(r)
                self.parts_copied += 1
                self.bytes_copied += last - first + 1
            self.ctx.crash_hook.part_journaled()
            self.ctx.emit(PartCopied(r.id, r.src, r.dst, n, last - first + 1))
            tracker.set_state(n, PartState.DONE)

        failure: BaseException | None = None
        for n, result in self.ctx.parts.map_unordered(one, missing):
            if isinstance(result, BaseException):
                tracker.set_state(n, PartState.FAILED)
                if failure is None or isinstance(failure, Cancelled):
                    failure = result
                self._stop.set()
        if self.ctx.parts.cancel.cancelled:
            raise Cancelled
        if failure is not None:
            self._fail(failure)

    def _fail(self, exc: BaseException) -> None:
        """Turn a part failure into the right end: abort if the source changed, else leave it resumable."""
        if isinstance(exc, SourceChanged) or self._source_changed():
            self.abort(f"source {self.src.url} changed during the copy")
            raise SourceChanged(
                f"source {self.src.url} changed during the copy (ETag no longer {self.record.src_etag}); "
                "the upload was aborted, nothing was written"
            ) from exc
        r = self.record
        assert r.upload_id is not None
        if not upload_exists(self.t.dst_conn, r.dst_bucket, r.dst_key, r.upload_id):
            self.ctx.journal.remove(r.id)
            raise JobFailed(
                f"the upload of job {r.id} was aborted or completed by someone else", resumable=False
            )
        raise JobFailed(
            f"{describe(exc)}; {len(r.done)}/{r.parts_total} parts kept, finish with `mputui jobs resume {r.id}`",
            resumable=True,
        ) from exc

    def _source_changed(self) -> bool:
        current = head_object(self.t.src_conn, self.src.bucket, self.src.key)
        return current is None or current.etag != self.record.src_etag

    def _check_source(self) -> None:
        # Some servers (moto) ignore CopySourceIfMatch on UploadPartCopy: compare once more before completing.
        if self._source_changed():
            self._fail(SourceChanged(f"source {self.src.url} changed during the copy"))

    def _complete(self) -> None:
        r = self.record
        assert r.upload_id is not None
        try:
            self.t.complete(r.dst_bucket, r.dst_key, r.upload_id, r.done)
        except Exception as exc:
            # A retried Complete whose first attempt succeeded answers NoSuchUpload: check the result.
            existing = head_object(self.t.dst_conn, r.dst_bucket, r.dst_key) if is_gone(exc) else None
            if existing is None or existing.size != r.src_size:
                raise JobFailed(
                    f"completing the upload failed: {describe(exc)}; retry with `mputui jobs resume {r.id}`",
                    resumable=not is_gone(exc),
                ) from exc
        existing = head_object(self.t.dst_conn, r.dst_bucket, r.dst_key)
        if existing is None or existing.size != r.src_size:
            raise JobFailed(
                f"{r.dst} has {existing.size if existing else 'no'} bytes after completing, expected {r.src_size}",
                resumable=False,
            )

    def abort(self, reason: str) -> None:
        """Abort this job's upload and forget the job (kept in the journal if the abort fails)."""
        abort_record(self.t, self.ctx.journal, self.record)
        self.ctx.emit(JobAborted(self.record.id, self.record.src, self.record.dst, reason))


def create_upload(transfer: Transfer, src: ObjectInfo, dst_bucket: str, dst_key: str) -> str:
    """CreateMultipartUpload with ``src``'s metadata; aborts a duplicate a retried request may have made."""
    created = transfer.create(src, dst_bucket, dst_key)
    if created.retried and created.server_time is not None:
        # The first answer was lost and botocore asked again: the first request may have created an
        # upload too. Abort exactly those uploads of this key that started during our own request.
        window_start = created.server_time - timedelta(seconds=created.seconds + 2)
        window_end = created.server_time + timedelta(seconds=2)
        same_key = [
            u
            for page in iter_upload_pages(transfer.dst_conn, dst_bucket, prefix=dst_key)
            for u in page
            if u.key == dst_key
        ]
        # Only uploads started by the same identity as ours: another client's upload of this key in the same
        # seconds is not ours to abort.
        mine = next((u.initiator for u in same_key if u.upload_id == created.upload_id), None)
        for u in same_key:
            if (
                u.upload_id != created.upload_id
                and window_start <= u.initiated <= window_end
                and (mine is None or u.initiator == mine)
            ):
                abort_upload(transfer.dst_conn, u)
    return created.upload_id


def unjournaled_uploads(transfer: Transfer, record: JobRecord) -> list[Upload]:
    """Uploads of exactly ``record``'s destination key started since the record was written.

    Only needed when a run died between CreateMultipartUpload and journaling its id.
    """
    created = datetime.fromisoformat(record.created.replace("Z", "+00:00"))
    return [
        u
        for page in iter_upload_pages(transfer.dst_conn, record.dst_bucket, prefix=record.dst_key)
        for u in page
        if u.key == record.dst_key and u.initiated >= created - _ADOPT_SLACK
    ]


def expect_lost_create(record: JobRecord) -> None:
    """Note on ``record`` (journaled, upload id unknown) that an earlier run's Create may still land."""
    record.extra.setdefault(LOST_CREATE, record.updated)


def late_creates(transfer: Transfer, record: JobRecord) -> list[Upload]:
    """The uploads that a lost Create of an earlier run of ``record``'s job made, other than the job's own.

    Why: a Create whose answer never arrived (the run was killed) is still carried out by the server, and it can
    land after the re-run listed the key: Ceph RGW spends ~2 s on the first Create of a cluster (it creates a
    pool), a loaded server or proxy can hold a request as long. The re-run then found nothing, created its own
    upload, and the late one would be an orphan of ours. Which uploads are ours: exactly the rule that adopts an
    unjournaled upload (this bucket and key, initiated since the journal write before that Create, with the same
    clock slack), narrowed to the initiator of the job's own upload (listed here, before it is completed) so that
    another identity's upload of the key is never touched. Whatever the re-run adopted is the job's own upload;
    several candidates stop the re-run before this, so every upload found here appeared after the re-run looked.
    """
    since = record.extra.get(LOST_CREATE)
    if since is None or record.upload_id is None:
        return []
    start = datetime.fromisoformat(since.replace("Z", "+00:00")) - _ADOPT_SLACK
    same_key = [
        u
        for page in iter_upload_pages(transfer.dst_conn, record.dst_bucket, prefix=record.dst_key)
        for u in page
        if u.key == record.dst_key
    ]
    mine = next((u.initiator for u in same_key if u.upload_id == record.upload_id), None)
    return [
        u
        for u in same_key
        if u.upload_id != record.upload_id and u.initiated >= start and (mine is None or u.initiator == mine)
    ]


def abort_late_creates(transfer: Transfer, record: JobRecord) -> None:
    """Abort ``late_creates``; JobFailed (resumable: the record keeps the mark) if one cannot be aborted."""
    for upload in late_creates(transfer, record):
        result = abort_upload(transfer.dst_conn, upload)
        if not result.ok and not result.already_gone:
            raise JobFailed(
                f"aborting upload {upload.upload_id} of {record.dst}, made by a lost Create of an earlier run "
                f"of job {record.id}, failed: {result.error}; retry with `mputui jobs resume {record.id}`",
                resumable=True,
            )


def abort_record(transfer: Transfer, journal: Journal, record: JobRecord) -> None:
    """Abort exactly the journaled upload of ``record`` (and ``late_creates``); remove the record once gone."""
    if record.upload_id is not None:
        uploads = [Upload(record.dst_bucket, record.dst_key, record.upload_id, initiated=datetime.now(UTC))]
        uploads += late_creates(transfer, record)
    else:
        uploads = unjournaled_uploads(transfer, record)
        if len(uploads) > 1:
            ids = ", ".join(u.upload_id for u in uploads)
            raise MputuiError(
                f"job {record.id}: cannot tell which upload of {record.dst} is this job's ({ids})"
            )
    for upload in uploads:
        result = abort_upload(transfer.dst_conn, upload)
        if not result.ok and not result.already_gone:
            raise MputuiError(f"aborting the upload of job {record.id} failed: {result.error}")
    journal.remove(record.id)
