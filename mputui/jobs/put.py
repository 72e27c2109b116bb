"""Put local files (a file or a tree) under an S3 prefix: concurrent single PUTs for small files, journaled
concurrent multipart uploads for large ones, server-side copies for content that is already there.

``Putter`` is the API the CLI and the TUI share::

    putter = Putter(conn, PutOptions(mode="update", part_size=16 * MIB), on_event=callback)
    plan = putter.plan("/data/site", parse_s3_url("s3://bkt/www/"))   # walks, lists, hashes, decides
    summary = putter.run(plan)          # blocking; putter.cancel() from any thread stops it
    putter.resume_record(journal.find(job_id))  # finish one interrupted put job (``mputui jobs resume``)

Events (``JobEvent``: Planned, PartSent, ObjectDone, RunProgress, JobProgress, ObjectSkipped,
ObjectFailed, JobAborted) reach ``on_event`` one at a time, from worker threads. Every multipart upload is
journaled before it is created; a re-run of an interrupted put resumes its uploads instead of starting new ones.
Memory stays under (concurrency x part size): every read of file data takes its size from one byte budget.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from mputui.jobs.engine import Engine, with_retries
from mputui.jobs.events import (
    FileSource,
    JobAborted,
    JobEvent,
    ObjectDone,
    ObjectFailed,
    ObjectSkipped,
    Planned,
    RunTracker,
)
from mputui.jobs.journal import JobRecord, Journal, clean_endpoint
from mputui.jobs.kinds import Action, JobKind, Outcome, PutMethod
from mputui.jobs.localfiles import LocalFile, digest_file, gzip_bytes, read_range, stream_file
from mputui.jobs.multipart import JobFailed, abort_record
from mputui.jobs.put_plan import PutItem, PutOptions, PutPlan, PutPlanner, put_job_id
from mputui.jobs.runner import JobRunner
from mputui.jobs.sources import file_job
from mputui.jobs.transfer import Transfer
from mputui.jobs.upload import (
    ByteBudget,
    UploadContext,
    UploadSource,
    put_small,
    server_copy,
)
from mputui.parsing import S3Url
from mputui.s3.cancel import Cancelled, CancelToken
from mputui.s3.connect import S3Connection
from mputui.s3.errors import MputuiError, describe
from mputui.s3.objects import ObjectInfo

OBJECT_WORKERS = 16  # files in flight at once; their parts share the part workers


@dataclass
class PutSummary:
    """Totals of one run. ``bytes_saved``: bytes that server-side copies made without sending them."""

    uploaded: int = 0
    copied: int = 0
    skipped: int = 0
    failed: int = 0
    resumed: int = 0
    bytes_uploaded: int = 0
    bytes_saved: int = 0
    parts_sent: int = 0
    aborted_jobs: int = 0
    limited: int = 0
    cancelled: bool = False
    elapsed: float = 0.0
    failures: list[ObjectFailed] = field(default_factory=list)

    @property
    def outcome(self) -> Outcome:
        if self.uploaded or self.copied:
            return Outcome.DONE
        if self.failed:
            return Outcome.FAILED
        return Outcome.CANCELLED if self.cancelled else Outcome.FAILED

    @property
    def reason(self) -> str | None:
        """Why it failed, when no ``ObjectFailed`` event said so."""
        return "nothing was uploaded" if self.outcome is Outcome.FAILED and not self.failed else None


class Putter(JobRunner[JobEvent]):
    """Plans and runs puts of local files to ``conn``."""

    def __init__(
        self,
        conn: S3Connection,
        options: PutOptions | None = None,
        *,
        journal: Journal | None = None,
        on_event: Callable[[JobEvent], None] | None = None,
        cancel: CancelToken | None = None,
    ) -> None:
        super().__init__(journal=journal, on_event=on_event, cancel=cancel)
        self.conn = conn
        self.options = options or PutOptions()
        self.workers = conn.settings.concurrency

    def plan(self, local_path: str, dst: S3Url, *, hashed: Callable[[int], None] | None = None) -> PutPlan:
        """Decide what to do with every file (``hashed(n)`` hears about the MD5 pass's progress)."""
        planner = PutPlanner(self.conn, self.options, self.journal, cancel=self.cancel_token, hashed=hashed)
        return planner.plan(local_path, dst)

    # -- run ------------------------------------------------------------------------------------------

    def run(self, plan: PutPlan) -> PutSummary:
        """Carry out ``plan``; blocking. KeyboardInterrupt cancels, waits for running parts, then re-raises."""
        summary = PutSummary(limited=plan.limited)
        t0 = time.monotonic()
        todo = plan.todo
        tracker = RunTracker(len(todo), sum(i.size for i in todo), self.emit)
        for item in plan.items:
            if item.action == Action.SKIP:
                summary.skipped += 1
                if item.job_id is not None:  # a job an interrupted run completed: closed, nothing to send
                    self.journal.remove(item.job_id)
                self.emit(ObjectSkipped(FileSource(item.file.path), item.dst, item.size, item.reason))
        budget = ByteBudget(self.workers * self.options.part_size)
        objects = Engine(max(1, min(len(todo), self.workers, OBJECT_WORKERS)), cancel=self.cancel_token)
        parts = Engine(self.workers, cancel=self.cancel_token, name="mputui-part")
        ctx = UploadContext(
            Transfer(self.conn, self.conn), self.journal, parts, self.emit, self._crash_hook, tracker, budget
        )
        scratch = tempfile.mkdtemp(prefix="mputui-put-")
        uploaded: dict[str, ObjectDone] = {}
        try:
            for record in plan.stale:
                self._abort_stale(record, summary)
            # Copies of content this run uploads wait for their source: they go in a second round.
            first = [i for i in todo if i.copy_of is None]
            later = [i for i in todo if i.copy_of is not None]
            for round_items in (first, later):
                run_one = lambda i: self._put_item(i, ctx, scratch, uploaded)  # noqa: E731
                for item, result in objects.map_unordered(run_one, round_items, retry=False):
                    self._account(item, result, summary, tracker, uploaded)
        except KeyboardInterrupt:
            self.cancel()
            summary.cancelled = True
            raise
        finally:
            objects.shutdown(wait=True)
            parts.shutdown(wait=True)
            shutil.rmtree(scratch, ignore_errors=True)
            summary.elapsed = time.monotonic() - t0
        summary.cancelled = summary.cancelled or self.cancel_token.cancelled
        return summary

    def _put_item(
        self, item: PutItem, ctx: UploadContext, scratch: str, uploaded: dict[str, ObjectDone]
    ) -> ObjectDone:
        self.cancel_token.check()
        assert ctx.tracker is not None
        ctx.tracker.started(item.dst)
        if item.action == Action.COPY:
            source = item.copy_from
            if source is None and item.copy_of is not None:
                done = uploaded.get(item.copy_of)
                if done is None or done.etag is None:
                    # Its source did not make it: send the bytes after all.
                    return self._put_item(
                        replace(item, action=Action.UPLOAD, copy_of=None), ctx, scratch, uploaded
                    )
                source = _uploaded_info(item.bucket, item.copy_of, done)
            if source is not None:
                return self._copy(item, source, ctx)
        if not item.multipart:
            return self._put_small(item, ctx)
        return self._put_multipart(item, ctx, scratch)

    def _copy(self, item: PutItem, source: ObjectInfo, ctx: UploadContext) -> ObjectDone:
        digest = item.digest
        assert digest is not None
        with_retries(
            lambda: server_copy(
                self.conn,
                source,
                item.bucket,
                item.key,
                digest.md5,
                content_type=item.content_type,
                content_encoding=item.content_encoding,
            ),
            cancel=self.cancel_token,
        )
        assert ctx.tracker is not None
        ctx.tracker.copied(item.size)
        return ObjectDone(
            FileSource(item.file.path),
            item.dst,
            item.size,
            PutMethod.COPY,
            bytes_sent=0,
            copy_from=source.url,
            etag=None,
        )

    def _put_small(self, item: PutItem, ctx: UploadContext) -> ObjectDone:
        digest = item.digest
        assert digest is not None and ctx.budget is not None and ctx.tracker is not None
        with ctx.budget.hold(digest.size):
            data = (
                gzip_bytes(item.file.path)
                if self.options.gzip
                else read_range(item.file.path, 0, digest.size)
            )
            etag = with_retries(
                lambda: put_small(
                    self.conn,
                    item.bucket,
                    item.key,
                    data,
                    digest.md5,
                    content_type=item.content_type,
                    content_encoding=item.content_encoding,
                ),
                cancel=self.cancel_token,
            )
        ctx.tracker.sent(digest.size)
        return ObjectDone(
            FileSource(item.file.path),
            item.dst,
            digest.size,
            PutMethod.PUT,
            bytes_sent=digest.size,
            etag=etag,
        )

    def _put_multipart(self, item: PutItem, ctx: UploadContext, scratch: str) -> ObjectDone:
        digest = item.digest
        assert digest is not None and item.job_id is not None
        record = self.journal.load(item.job_id) or self._record(item)
        path = item.file.path
        temp: str | None = None
        try:
            if self.options.gzip:
                # The gzip stream goes to a scratch file (never whole into memory); it is the same stream the
                # MD5 pass hashed, so the part MD5s from that pass are its Content-MD5s.
                fd, temp = tempfile.mkstemp(dir=scratch, suffix=".gz")
                with os.fdopen(fd, "wb") as out:
                    stream_file(path, out, gzip_it=True, cancel=self.cancel_token)
                path = temp
            source = UploadSource(
                path=path,
                size=digest.size,
                part_size=digest.part_size,
                part_md5s={n + 1: m for n, m in enumerate(digest.part_md5s)},
                md5=digest.md5,
                content_type=item.content_type,
                content_encoding=item.content_encoding,
            )
            result = file_job(ctx, record, source).run()
        finally:
            if temp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
        return replace(result, source=FileSource(item.file.path))

    def _record(self, item: PutItem) -> JobRecord:
        digest = item.digest
        assert digest is not None and item.job_id is not None
        return JobRecord(
            id=item.job_id,
            source=FileSource(item.file.path),
            src_etag=digest.md5,
            src_size=digest.size,
            dst_bucket=item.bucket,
            dst_key=item.key,
            part_size=digest.part_size,
            parts_total=len(digest.part_md5s),
            method=PutMethod.MULTIPART,
            kind=JobKind.PUT,
            dst_endpoint=self._endpoint(),
            dst_profile=self.conn.settings.profile,
            extra={
                "content_type": item.content_type or "",
                "content_encoding": item.content_encoding or "",
                "file_size": str(item.file.size),
            },
        )

    def _endpoint(self) -> str | None:
        return clean_endpoint(self.conn.endpoint_url)

    def _account(
        self,
        item: PutItem,
        result: object,
        summary: PutSummary,
        tracker: RunTracker,
        uploaded: dict[str, ObjectDone],
    ) -> None:
        if isinstance(result, ObjectDone):
            uploaded[item.key] = result
            if result.method is PutMethod.COPY:
                summary.copied += 1
                summary.bytes_saved += result.size
            else:
                summary.uploaded += 1
                summary.bytes_uploaded += result.bytes_sent
                summary.parts_sent += result.parts_sent
                summary.resumed += result.resumed
            tracker.finished(item.dst)
            self.emit(result)
        elif isinstance(result, Cancelled):
            summary.cancelled = True
        elif isinstance(result, BaseException):
            resumable = isinstance(result, JobFailed) and result.resumable
            failed = ObjectFailed(
                FileSource(item.file.path),
                item.dst,
                item.size,
                describe(result),
                item.job_id if resumable else None,
                resumable,
            )
            summary.failed += 1
            summary.failures.append(failed)
            tracker.finished(item.dst)
            self.emit(failed)

    def _abort_stale(self, record: JobRecord, summary: PutSummary) -> None:
        try:
            abort_record(Transfer(self.conn, self.conn), self.journal, record)
        except Exception as exc:
            self.emit(
                ObjectFailed(record.source, record.dst, record.src_size, describe(exc), record.id, True)
            )
            summary.failed += 1
            return
        summary.aborted_jobs += 1
        self.emit(JobAborted(record.id, record.source, record.dst, "the file changed since the job started"))

    # -- journal --------------------------------------------------------------------------------------

    def resume_record(self, record: JobRecord, *, abort_changed: bool = True) -> PutSummary:
        """Finish one journaled put job. If its file changed (or is gone), abort its upload instead; with
        ``abort_changed=False`` (the TUI's R: resuming must not destroy parts) raise MputuiError and leave the
        upload and its job as they are."""
        if record.kind != JobKind.PUT:
            raise MputuiError(f"job {record.id} is a {record.kind} job, not a put job", exit_code=2)
        gzip_it = record.extra.get("content_encoding") == "gzip"
        options = replace(self.options, gzip=gzip_it, part_size=record.part_size)
        self.options = options
        why = None
        try:
            stat = os.stat(record.path)
            digest = digest_file(record.path, record.part_size, gzip_it=gzip_it)
            if digest.md5 != record.src_etag or digest.size != record.src_size:
                why = "changed"
        except OSError:
            why = "no longer exists"
        if why is not None:
            if not abort_changed:
                raise MputuiError(
                    f"{record.path} {why} since job {record.id} started: nothing sent, its upload is kept "
                    f"(`mputui jobs abort {record.id}` aborts it)"
                )
            self._abort_stale(record, PutSummary())
            raise MputuiError(f"{record.path} {why} since job {record.id} started; its upload was aborted")
        file = LocalFile(
            record.path, os.path.basename(record.path), record.dst_key, stat.st_size, stat.st_mtime_ns
        )
        item = PutItem(
            file=file,
            bucket=record.dst_bucket,
            key=record.dst_key,
            action=Action.RESUME,
            reason="journaled",
            digest=digest,
            part_size=record.part_size,
            content_type=record.extra.get("content_type") or None,
            content_encoding=record.extra.get("content_encoding") or None,
            job_id=put_job_id(self._endpoint(), record.path, record.dst, digest, gzip_it),
        )
        if item.job_id != record.id:
            item = replace(item, job_id=record.id)
        return self.run(PutPlan((item,)))


def _uploaded_info(bucket: str, key: str, done: ObjectDone) -> ObjectInfo:
    return ObjectInfo(bucket=bucket, key=key, size=done.size, etag=done.etag or "")


def plan_events(plan: PutPlan) -> list[Planned]:
    """The plan as events (what ``--dry-run`` prints)."""
    return [
        Planned(
            FileSource(i.file.path),
            i.dst,
            i.size,
            i.action,
            i.parts,
            reason=i.reason,
            copy_from=i.copy_source,
            job_id=i.job_id,
        )
        for i in plan.items
    ]
