"""One journaled multipart upload from a local file (put's large files, resume's abandoned uploads), and the
single requests put also makes: a small file's PUT and a server-side copy.

The job's record is in the journal before CreateMultipartUpload and after every part, so whatever stops the
process a re-run lists the upload's parts, keeps those whose ETag is the MD5 of the matching chunk of the file,
sends the others (each with ``Content-MD5``; the returned ETag is checked too, as not every server checks the
header), completes with exactly those parts and checks the result's size and multipart ETag with a HEAD.
Memory: one part per running part task, so at most (part workers x part size).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from mputui.formatting import problems_text
from mputui.jobs.engine import Cancelled, Engine
from mputui.jobs.events import PartState, ProgressTracker
from mputui.jobs.journal import JobRecord, Journal
from mputui.jobs.localfiles import read_range
from mputui.jobs.multipart import (
    CrashHook,
    JobFailed,
    UploadCreator,
    abort_late_creates,
    completed_by_record,
    expect_lost_create,
)
from mputui.jobs.objects import MD5_META, ObjectInfo, head_object, strip_etag
from mputui.jobs.plan import part_range, part_sizes
from mputui.jobs.transfer import Transfer
from mputui.jobs.upload_events import FileUploaded, PartUploaded, PutEvent, PutTracker
from mputui.s3.actions import upload_exists
from mputui.s3.checksums import multipart_etag, plain_md5
from mputui.s3.commit import complete_upload, plan_commit
from mputui.s3.connect import S3Connection
from mputui.s3.errors import MputuiError, describe, is_gone
from mputui.s3.inventory import list_parts
from mputui.s3.models import Part

METHOD_UPLOAD = "multipart"
KIND_PUT = "put"
KIND_RESUME = "resume"


class ContentChanged(MputuiError):
    """The local bytes no longer have the MD5 they had when they were read first (the file changed)."""


def b64md5(hex_md5: str) -> str:
    """A hex MD5 as the base64 ``Content-MD5`` header wants it."""
    return base64.b64encode(bytes.fromhex(hex_md5)).decode()


def object_headers(content_type: str | None, content_encoding: str | None) -> dict[str, str]:
    """PutObject/Create/Copy parameters for the content headers that are set."""
    headers = {}
    if content_type:
        headers["ContentType"] = content_type
    if content_encoding:
        headers["ContentEncoding"] = content_encoding
    return headers


@dataclass(frozen=True, slots=True)
class UploadSource:
    """Where a job reads its bytes: ``path`` holds exactly the ``size`` bytes to store. ``part_md5s``: the
    MD5s already known (digest pass or verification), so no byte is hashed twice; others are hashed when sent.
    ``md5`` (whole content) goes into ``x-amz-meta-md5`` when the upload is created."""

    path: str
    size: int
    part_size: int
    part_md5s: dict[int, str] = field(default_factory=dict)
    md5: str | None = None
    content_type: str | None = None
    content_encoding: str | None = None


class ByteBudget:
    """At most ``limit`` bytes of file data held at once (each read waits for its share)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._held = 0
        self._cond = threading.Condition()

    @contextlib.contextmanager
    def hold(self, size: int) -> Iterator[None]:
        size = min(size, self.limit)
        with self._cond:
            self._cond.wait_for(lambda: self._held + size <= self.limit)
            self._held += size
        try:
            yield
        finally:
            with self._cond:
                self._held -= size
                self._cond.notify_all()


@dataclass
class UploadContext:
    """What the upload jobs of one run share."""

    conn: S3Connection
    journal: Journal
    parts: Engine
    emit: Callable[[PutEvent], None]
    crash_hook: CrashHook
    tracker: PutTracker | None = None
    budget: ByteBudget | None = None

    @property
    def transfer(self) -> Transfer:
        return Transfer(self.conn, self.conn)


class FileUploadJob:
    """Upload ``source`` to the record's destination through its journaled multipart upload (new or resumed).

    ``can_recreate``: if the journaled upload vanished, start a new one (put); otherwise fail (resume of an
    upload someone else started: there is nothing of ours to restart).
    """

    def __init__(
        self, ctx: UploadContext, record: JobRecord, source: UploadSource, *, can_recreate: bool = True
    ) -> None:
        self.ctx = ctx
        self.record = record
        self.source = source
        self.can_recreate = can_recreate
        self.md5s = dict(source.part_md5s)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.parts_sent = 0
        self.bytes_sent = 0
        self.creator = UploadCreator(ctx.transfer, ctx.parts.cancel)

    def run(self) -> FileUploaded:
        """Run to completion. Raises ``JobFailed``/``ContentChanged``/``Cancelled`` otherwise."""
        r = self.record
        journal = self.ctx.journal
        with journal.lock(r.id):
            stored = journal.load(r.id)
            if stored is None:
                journal.save(r)  # before the upload exists: a crash now leaves nothing unknown
            else:
                r = self.record = stored
            resumed = r.upload_id is not None
            if r.upload_id is None:
                if stored is not None:
                    expect_lost_create(r)
                r.upload_id = self.creator.adopt_or_create(
                    r, self._create_info(), fresh=stored is None, then="re-run"
                )
                journal.save(r)
            else:
                finished = self._sync_parts()
                if finished is not None:
                    return finished
            if self.ctx.tracker is not None:
                self.ctx.tracker.present(sum(self._size(n) for n in r.done))
            self._send_missing()
            abort_late_creates(self.ctx.transfer, r, self.creator)
            etag = self._complete()
            self.ctx.crash_hook.completed()
            journal.remove(r.id)
        return FileUploaded(
            path=r.src_key,
            dst=r.dst,
            size=r.src_size,
            method=METHOD_UPLOAD,
            parts=r.parts_total,
            parts_sent=self.parts_sent,
            bytes_sent=self.bytes_sent,
            resumed=resumed,
            job_id=r.id,
            etag=etag,
        )

    def _size(self, part_number: int) -> int:
        first, last = part_range(part_number, self.record.src_size, self.record.part_size)
        return last - first + 1

    # -- upload ---------------------------------------------------------------------------------------

    def _create_info(self) -> ObjectInfo:
        """What Create carries: the MD5 (as a plain ETag, it becomes x-amz-meta-md5, as for copies: comparable
        later) and the content headers."""
        s = self.source
        return ObjectInfo(
            bucket="",
            key=s.path,
            size=s.size,
            etag=s.md5 or "",
            headers=object_headers(s.content_type, s.content_encoding),
        )

    def _create(self) -> str:
        return self.creator.create(self.record, self._create_info())

    def _sync_parts(self) -> FileUploaded | None:
        """Keep the listed parts whose ETag is the MD5 of their chunk. A result if the job turns out finished."""
        r = self.record
        assert r.upload_id is not None
        try:
            listed = list_parts(self.ctx.conn, r.dst_bucket, r.dst_key, r.upload_id)
        except Exception as exc:
            if not is_gone(exc):
                raise
            return self._upload_vanished()
        sizes = part_sizes(r.src_size, r.part_size)
        done = {}
        for p in listed:
            if p.part_number > len(sizes) or p.size != sizes[p.part_number - 1]:
                continue
            remote = plain_md5(p.etag)
            if remote is not None and self.md5s.get(p.part_number) == remote:
                done[p.part_number] = remote
        r.done = done
        self.ctx.journal.save(r)
        return None

    def _upload_vanished(self) -> FileUploaded | None:
        r = self.record
        existing = head_object(self.ctx.conn, r.dst_bucket, r.dst_key)
        if existing is not None and existing.size == r.src_size and self._is_ours(existing, r):
            # Completed by an earlier run that died before forgetting the job.
            self.ctx.journal.remove(r.id)
            return FileUploaded(
                r.src_key, r.dst, r.src_size, METHOD_UPLOAD, r.parts_total, 0, 0, True, job_id=r.id
            )
        if not self.can_recreate:
            self.ctx.journal.remove(r.id)
            raise JobFailed(
                f"upload {r.upload_id} of {r.dst} no longer exists (aborted or completed by someone else)",
                resumable=False,
            )
        r.upload_id, r.done = None, {}
        self.ctx.journal.save(r)
        r.upload_id = self._create()
        self.ctx.journal.save(r)
        return None

    def _is_ours(self, obj: ObjectInfo, record: JobRecord) -> bool:
        if self.source.md5 is not None and obj.metadata.get(MD5_META) == self.source.md5:
            return True
        n = self.record.parts_total
        if len(self.md5s) == n and obj.etag.lower() == multipart_etag(self.md5s[i] for i in range(1, n + 1)):
            return True
        return completed_by_record(self.ctx.conn, record) is not None

    # -- parts ----------------------------------------------------------------------------------------

    def _send_missing(self) -> None:
        r = self.record
        tracker = ProgressTracker(r.id, r.src, r.dst, part_sizes(r.src_size, r.part_size), self.ctx.emit)
        tracker.preset_done(r.done)
        missing = [n for n in range(1, r.parts_total + 1) if n not in r.done]
        failure: BaseException | None = None
        for n, result in self.ctx.parts.map_unordered(lambda n: self._send(n, tracker), missing):
            if isinstance(result, BaseException):
                tracker.set_state(n, PartState.FAILED)
                if failure is None or isinstance(failure, Cancelled):
                    failure = result
                self._stop.set()
        if self.ctx.parts.cancel.cancelled:
            raise Cancelled
        if failure is not None:
            self._fail(failure)

    def _send(self, n: int, tracker: ProgressTracker) -> None:
        if self._stop.is_set():
            raise Cancelled
        r = self.record
        assert r.upload_id is not None
        tracker.set_state(n, PartState.RUNNING)
        first, last = part_range(n, r.src_size, r.part_size)
        size = last - first + 1
        with self.ctx.budget.hold(size) if self.ctx.budget is not None else contextlib.nullcontext():
            data = read_range(self.source.path, first, size)
            md5 = self.md5s.get(n)
            if md5 is None:  # not hashed before (a part resume sends for the first time)
                md5 = hashlib.md5(data).hexdigest()
            response = self.ctx.conn.call(
                r.dst_bucket,
                "upload_part",
                Key=r.dst_key,
                UploadId=r.upload_id,
                PartNumber=n,
                Body=data,
                ContentMD5=b64md5(md5),
            )
            del data
        etag = strip_etag(response.get("ETag"))
        if plain_md5(etag) is not None and etag.lower() != md5:
            raise ContentChanged(
                f"{r.src_key} changed while being uploaded (part {n} no longer has MD5 {md5}); "
                f"re-run to upload the new content"
            )
        with self._lock:
            self.md5s[n] = md5
            r.done[n] = etag.lower() or md5
            self.ctx.journal.save(r)
            self.parts_sent += 1
            self.bytes_sent += size
        self.ctx.crash_hook.part_journaled()
        self.ctx.emit(PartUploaded(r.id, r.src_key, r.dst, n, size))
        if self.ctx.tracker is not None:
            self.ctx.tracker.sent(size)
        tracker.set_state(n, PartState.DONE)

    def _fail(self, exc: BaseException) -> None:
        r = self.record
        assert r.upload_id is not None
        if not upload_exists(self.ctx.conn, r.dst_bucket, r.dst_key, r.upload_id):
            self.ctx.journal.remove(r.id)
            raise JobFailed(
                f"the upload of job {r.id} was aborted or completed by someone else", resumable=False
            ) from exc
        if isinstance(exc, ContentChanged) or "BadDigest" in describe(exc):
            raise JobFailed(
                f"{r.src_key} changed while being uploaded: {describe(exc)}; its upload is kept in job "
                f"{r.id} (`mputui jobs abort {r.id}`, or re-run the put to start over with the new content)",
                resumable=False,
            ) from exc
        raise JobFailed(
            f"{describe(exc)}; {len(r.done)}/{r.parts_total} parts kept, finish with `mputui jobs resume {r.id}`",
            resumable=True,
        ) from exc

    def _complete(self) -> str | None:
        """Complete with exactly parts 1..N and their checked ETags; HEAD must show the size and ETag."""
        r = self.record
        assert r.upload_id is not None
        parts = [Part(n, self._size(n), f'"{r.done[n]}"', None) for n in range(1, r.parts_total + 1)]
        plan = plan_commit(r.dst_bucket, r.dst_key, r.upload_id, parts)
        if not plan.ok:
            raise JobFailed(f"cannot complete {r.dst}: {problems_text(plan.problems)}", resumable=True)
        result = complete_upload(self.ctx.conn, plan)
        if result.status == "failed":
            raise JobFailed(
                f"completing {r.dst} failed: {result.error}; retry with `mputui jobs resume {r.id}`",
                resumable=True,
            )
        if not result.ok:
            self.ctx.journal.remove(r.id)
            raise JobFailed(f"{r.dst}: {result.error}", resumable=False)
        if not result.verified:
            self.ctx.journal.remove(r.id)
            raise JobFailed(f"{r.dst}: {result.error}", resumable=False)
        return result.etag


# -- single requests ---------------------------------------------------------------------------------------


def put_small(
    conn: S3Connection,
    bucket: str,
    key: str,
    data: bytes,
    md5: str,
    *,
    content_type: str | None = None,
    content_encoding: str | None = None,
) -> str:
    """One PutObject with ``Content-MD5`` and ``x-amz-meta-md5``; the object's ETag (checked against ``md5``)."""
    response = conn.call(
        bucket,
        "put_object",
        Key=key,
        Body=data,
        ContentMD5=b64md5(md5),
        Metadata={MD5_META: md5},
        **object_headers(content_type, content_encoding),
    )
    etag = strip_etag(response.get("ETag")).lower()
    if plain_md5(etag) is not None and etag != md5:
        raise ContentChanged(f"s3://{bucket}/{key}: the server stored other bytes (ETag {etag}, MD5 {md5})")
    return etag


def server_copy(
    conn: S3Connection,
    src: ObjectInfo,
    bucket: str,
    key: str,
    md5: str,
    *,
    content_type: str | None = None,
    content_encoding: str | None = None,
) -> None:
    """CopyObject ``src`` → ``bucket/key`` server side, only if ``src`` still has its ETag; our headers apply."""
    params: dict[str, Any] = {
        "Key": key,
        "CopySource": {"Bucket": src.bucket, "Key": src.key},
        "CopySourceIfMatch": f'"{src.etag}"',
        "MetadataDirective": "REPLACE",
        "Metadata": {MD5_META: md5},
        **object_headers(content_type, content_encoding),
    }
    conn.call(bucket, "copy_object", **params)
