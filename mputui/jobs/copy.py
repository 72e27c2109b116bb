"""Copy objects and prefixes between buckets (and endpoints): plan, run, resume, abort.

``Copier`` is the API the CLI and the TUI share::

    copier = Copier(src_conn, dst_conn, part_size=64 * MIB, on_event=callback)
    plan = copier.plan(parse_s3_url("s3://a/dir/"), parse_s3_url("s3://b/x/"))
    summary = copier.run(plan)          # blocking; call copier.cancel() from any thread to stop
    copier.resume(journal.find(job_id)) # finish an interrupted job

Events (``mputui.jobs.events``) reach ``on_event`` one at a time, from worker threads.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from mputui.jobs.engine import Engine, with_retries
from mputui.jobs.events import (
    JobAborted,
    JobEvent,
    ObjectDone,
    ObjectFailed,
    ObjectSkipped,
    Planned,
    S3Source,
    Source,
)
from mputui.jobs.journal import JobIndex, JobRecord, Journal, clean_endpoint, job_id_for
from mputui.jobs.kinds import Action, CopyMethod, Outcome
from mputui.jobs.multipart import JobContext, JobFailed, abort_record
from mputui.jobs.plan import (
    DEFAULT_PART_SIZE,
    SourceSpec,
    as_prefix,
    dest_dir,
    dest_key_for_object,
    dest_key_for_prefix,
    effective_part_size,
    part_count,
    source_spec,
    uses_multipart,
)
from mputui.jobs.runner import JobRunner
from mputui.jobs.sources import copy_job
from mputui.jobs.transfer import SourceChanged, Transfer
from mputui.parsing import S3Url
from mputui.s3.cancel import Cancelled, CancelToken
from mputui.s3.connect import S3Connection
from mputui.s3.errors import MputuiError, describe
from mputui.s3.objects import ObjectInfo, head_object, list_objects, same_content

HEAD_LIMIT = 50  # up to this many objects, HEAD each destination key; beyond, list the destination prefix
STREAM_WORKERS = 8  # streamed parts are held in memory: at most this many × part size at once


@dataclass(frozen=True, slots=True)
class CopyItem:
    """One object of a plan. ``action``: copy, replace (destination differs), resume (journaled) or skip."""

    src: ObjectInfo
    dst_bucket: str
    dst_key: str
    action: Action
    method: CopyMethod
    part_size: int
    job_id: str | None = None

    @property
    def dst(self) -> str:
        return f"s3://{self.dst_bucket}/{self.dst_key}"

    @property
    def parts(self) -> int:
        return (
            part_count(self.src.size, self.part_size) if uses_multipart(self.src.size, self.part_size) else 1
        )


@dataclass(frozen=True, slots=True)
class CopyPlan:
    """Everything one ``cp`` will do; ``stale`` jobs (their source changed since) will be aborted first;
    ``elsewhere``: journaled jobs of the same copy through an endpoint this run cannot match to its own."""

    items: tuple[CopyItem, ...]
    stale: tuple[JobRecord, ...] = ()
    elsewhere: tuple[JobRecord, ...] = ()

    def count(self, *actions: str) -> int:
        return sum(1 for i in self.items if i.action in actions)

    def size(self, *actions: str) -> int:
        return sum(i.src.size for i in self.items if i.action in actions)


@dataclass
class CopySummary:
    """Totals of one run."""

    copied: int = 0
    skipped: int = 0
    failed: int = 0
    bytes_copied: int = 0
    parts_copied: int = 0
    aborted_jobs: int = 0
    cancelled: bool = False
    elapsed: float = 0.0
    failures: list[ObjectFailed] = field(default_factory=list)

    @property
    def outcome(self) -> Outcome:
        if self.failed:
            return Outcome.FAILED
        return Outcome.CANCELLED if self.cancelled else Outcome.DONE

    @property
    def reason(self) -> str | None:
        """Why it failed, when no ``ObjectFailed`` event said so."""
        return None


class Copier(JobRunner[JobEvent]):
    """Plans and runs copies from ``src_conn`` to ``dst_conn`` (the same connection by default)."""

    def __init__(
        self,
        src_conn: S3Connection,
        dst_conn: S3Connection | None = None,
        *,
        part_size: int = DEFAULT_PART_SIZE,
        journal: Journal | None = None,
        on_event: Callable[[JobEvent], None] | None = None,
        cancel: CancelToken | None = None,
    ) -> None:
        super().__init__(journal=journal, on_event=on_event, cancel=cancel)
        self.src_conn = src_conn
        self.dst_conn = dst_conn or src_conn
        self.part_size = part_size
        self.transfer = Transfer(self.src_conn, self.dst_conn)
        workers = self.dst_conn.settings.concurrency
        if self.transfer.streaming:
            workers = min(workers, STREAM_WORKERS)
        self.workers = workers
        self._index: JobIndex | None = None

    # -- plan -----------------------------------------------------------------------------------------

    def plan(self, src: S3Url, dst: S3Url) -> CopyPlan:
        """Resolve SRC and DST into items, compare with what the destination holds, find journaled jobs."""
        spec = source_spec(src)
        pairs: list[tuple[ObjectInfo, str]] = []
        if spec.kind == "object":
            obj = head_object(self.src_conn, spec.bucket, src.key, metadata=True)
            if obj is not None:
                pairs = [(obj, dest_key_for_object(src.key, dst))]
            else:
                spec = as_prefix(spec)
        if spec.kind != "object":
            pairs = [
                (o, dest_key_for_prefix(spec, o.key, dst))
                for o in list_objects(self.src_conn, spec.bucket, spec.prefix)
            ]
        if not pairs:
            raise MputuiError(f"nothing to copy: no object or prefix {src}")
        if not self.transfer.streaming and any(o.bucket == dst.bucket and o.key == key for o, key in pairs):
            raise MputuiError("source and destination are the same object", exit_code=2)
        existing = self._existing(dst, spec, pairs)
        self._index = JobIndex(self.journal)
        items = [self._item(o, dst.bucket, key, existing.get(key)) for o, key in pairs]
        stale = self._stale_jobs(items)
        elsewhere = [
            r for i in items for r in self._index.elsewhere(i.dst, self.dst_conn.endpoint_url, i.src.url)
        ]
        return CopyPlan(tuple(items), tuple(stale), tuple(elsewhere))

    def _existing(
        self, dst: S3Url, spec: SourceSpec, pairs: list[tuple[ObjectInfo, str]]
    ) -> dict[str, ObjectInfo]:
        """What the destination already holds at the planned keys (HEADs for a few, one listing for many)."""
        if len(pairs) > HEAD_LIMIT:
            prefix = dest_dir(dst) + spec.nest
            return {o.key: o for o in list_objects(self.dst_conn, dst.bucket, prefix)}
        keys = [key for _, key in pairs]
        found: dict[str, ObjectInfo] = {}
        with Engine(min(len(keys), self.workers, 16), cancel=self.cancel_token, name="mputui-head") as engine:
            for key, result in engine.map_unordered(
                lambda k: head_object(self.dst_conn, dst.bucket, k, metadata=True), keys
            ):
                if isinstance(result, BaseException):
                    raise result
                if result is not None:
                    found[key] = result
        return found

    def _item(self, src: ObjectInfo, dst_bucket: str, dst_key: str, existing: ObjectInfo | None) -> CopyItem:
        part_size = effective_part_size(src.size, self.part_size)
        multipart = uses_multipart(src.size, part_size)
        job_id = self._job_id(src, dst_bucket, dst_key) if multipart else None
        if job_id is not None and self.journal.load(job_id) is not None:
            action = Action.RESUME
        elif existing is None:
            action = Action.COPY
        elif self._same(src, existing):
            action = Action.SKIP
        else:
            action = Action.REPLACE
        return CopyItem(src, dst_bucket, dst_key, action, self.transfer.method(multipart), part_size, job_id)

    def _same(self, src: ObjectInfo, dst: ObjectInfo) -> bool:
        if src.size != dst.size:
            return False
        if same_content(src, dst):
            return True
        # Listings carry no metadata: the MD5 (or copy marker) may be in it.
        if not src.headed:
            src = head_object(self.src_conn, src.bucket, src.key, metadata=True) or src
        if not dst.headed:
            dst = head_object(self.dst_conn, dst.bucket, dst.key, metadata=True) or dst
        return same_content(src, dst)

    def _job_id(self, src: ObjectInfo, dst_bucket: str, dst_key: str) -> str:
        job_id = job_id_for(
            self.src_conn.endpoint_url,
            src.url,
            self.dst_conn.endpoint_url,
            f"s3://{dst_bucket}/{dst_key}",
            src.etag,
        )
        if self._index is None:
            self._index = JobIndex(self.journal)
        return self._index.resolve(job_id)

    def _stale_jobs(self, items: Iterable[CopyItem]) -> list[JobRecord]:
        wanted = {(i.src.url, i.dst): i.job_id for i in items}
        src_ep, dst_ep = (
            clean_endpoint(self.src_conn.endpoint_url),
            clean_endpoint(self.dst_conn.endpoint_url),
        )
        return [
            r
            for r in self.journal.records()
            if (r.src, r.dst) in wanted
            and wanted[(r.src, r.dst)] != r.id
            and (clean_endpoint(r.src_endpoint), clean_endpoint(r.dst_endpoint)) == (src_ep, dst_ep)
        ]

    # -- run ------------------------------------------------------------------------------------------

    def run(self, plan: CopyPlan) -> CopySummary:
        """Carry out ``plan``; blocking. KeyboardInterrupt cancels, waits for running parts, then re-raises."""
        summary = CopySummary()
        t0 = time.monotonic()
        todo = [i for i in plan.items if i.action != Action.SKIP]
        for item in plan.items:
            if item.action == Action.SKIP:
                summary.skipped += 1
                self.emit(
                    ObjectSkipped(
                        S3Source(item.src.bucket, item.src.key),
                        item.dst,
                        item.src.size,
                        "same content already there",
                    )
                )
        objects = Engine(
            max(1, min(len(todo), self.workers, 8)), cancel=self.cancel_token, name="mputui-copy"
        )
        parts = Engine(self.workers, cancel=self.cancel_token, name="mputui-part")
        try:
            for record in plan.stale:
                self._abort_stale(record, summary)
            for item, result in objects.map_unordered(lambda i: self._copy_item(i, parts), todo, retry=False):
                self._account(
                    S3Source(item.src.bucket, item.src.key),
                    item.dst,
                    item.src.size,
                    item.job_id,
                    result,
                    summary,
                )
        except KeyboardInterrupt:
            self.cancel()
            summary.cancelled = True
            objects.shutdown(wait=True)
            raise
        finally:
            objects.shutdown(wait=True)
            parts.shutdown(wait=True)
            summary.elapsed = time.monotonic() - t0
        summary.cancelled = summary.cancelled or self.cancel_token.cancelled
        return summary

    def resume(self, record: JobRecord) -> CopySummary:
        """Finish one journaled job. If its source changed (or is gone), abort it instead."""
        source = record.source
        if not isinstance(source, S3Source):
            raise MputuiError(f"job {record.id} is a {record.kind} job, not a copy", exit_code=2)
        summary = CopySummary()
        t0 = time.monotonic()
        parts = Engine(self.workers, cancel=self.cancel_token, name="mputui-part")
        try:
            src = head_object(self.src_conn, source.bucket, source.key, metadata=True)
            if src is None or src.etag != record.src_etag:
                why = "no longer exists" if src is None else f"changed (ETag {record.src_etag} → {src.etag})"
                abort_record(self.transfer, self.journal, record)
                summary.aborted_jobs += 1
                self.emit(JobAborted(record.id, record.source, record.dst, f"source {why}"))
                raise SourceChanged(
                    f"source {record.src} {why} since job {record.id} started; its upload was aborted"
                )
            result: object
            try:
                result = self._run_job(src, record, parts)
            except Exception as exc:
                result = exc
            self._account(record.source, record.dst, record.src_size, record.id, result, summary)
        except KeyboardInterrupt:
            self.cancel()
            summary.cancelled = True
            raise
        finally:
            parts.shutdown(wait=True)
            summary.elapsed = time.monotonic() - t0
        summary.cancelled = summary.cancelled or self.cancel_token.cancelled
        return summary

    def abort(self, record: JobRecord, reason: str = "aborted by request") -> str:
        """Abort a journaled job's upload (exact target) and forget the job; what was found (``abort_record``)."""
        outcome = abort_record(self.transfer, self.journal, record)
        self.emit(JobAborted(record.id, record.source, record.dst, reason))
        return outcome

    def _abort_stale(self, record: JobRecord, summary: CopySummary) -> None:
        try:
            abort_record(self.transfer, self.journal, record)
        except Exception as exc:
            self.emit(
                ObjectFailed(record.source, record.dst, record.src_size, describe(exc), record.id, True)
            )
            summary.failed += 1
            return
        summary.aborted_jobs += 1
        self.emit(JobAborted(record.id, record.source, record.dst, "source changed since the job started"))

    def _copy_item(self, item: CopyItem, parts: Engine) -> ObjectDone | None:
        self.cancel_token.check()
        # A fresh HEAD: the metadata to carry, and the ETag every source read will insist on.
        src = with_retries(
            lambda: head_object(self.src_conn, item.src.bucket, item.src.key, metadata=True),
            cancel=self.cancel_token,
        )
        if src is None:
            raise MputuiError(f"source {item.src.url} disappeared before it was copied")
        part_size = effective_part_size(src.size, self.part_size)
        if not uses_multipart(src.size, part_size):
            with_retries(
                lambda: self.transfer.copy_single(src, item.dst_bucket, item.dst_key),
                cancel=self.cancel_token,
            )
            return ObjectDone(S3Source(src.bucket, src.key), item.dst, src.size, self.transfer.method(False))
        job_id = self._job_id(src, item.dst_bucket, item.dst_key)
        record = self.journal.load(job_id) or JobRecord(
            id=job_id,
            source=S3Source(src.bucket, src.key),
            src_etag=src.etag,
            src_size=src.size,
            dst_bucket=item.dst_bucket,
            dst_key=item.dst_key,
            part_size=part_size,
            parts_total=part_count(src.size, part_size),
            method=self.transfer.method(True),
            src_endpoint=clean_endpoint(self.src_conn.endpoint_url),
            dst_endpoint=clean_endpoint(self.dst_conn.endpoint_url),
            src_profile=self.src_conn.settings.profile,
            dst_profile=self.dst_conn.settings.profile,
        )
        return self._run_job(src, record, parts)

    def _run_job(self, src: ObjectInfo, record: JobRecord, parts: Engine) -> ObjectDone:
        ctx = JobContext(self.transfer, self.journal, parts, self.emit, self._crash_hook)
        return copy_job(ctx, record, src).run()

    def _account(
        self, src: Source, dst: str, size: int, job_id: str | None, result: object, summary: CopySummary
    ) -> None:
        if isinstance(result, ObjectDone):
            summary.copied += 1
            summary.bytes_copied += result.size
            summary.parts_copied += result.parts_sent
            self.emit(result)
        elif isinstance(result, Cancelled):
            summary.cancelled = True
        elif isinstance(result, BaseException):
            resumable = isinstance(result, JobFailed) and result.resumable
            failed = ObjectFailed(src, dst, size, describe(result), job_id if resumable else None, resumable)
            summary.failed += 1
            summary.failures.append(failed)
            self.emit(failed)


def plan_events(plan: CopyPlan) -> list[Planned]:
    """The plan as events (what ``--dry-run`` prints)."""
    return [
        Planned(
            S3Source(i.src.bucket, i.src.key), i.dst, i.src.size, i.action, i.parts, i.method, job_id=i.job_id
        )
        for i in plan.items
    ]
