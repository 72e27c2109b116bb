"""Resume an abandoned multipart upload from the local file it was made from.

``Resumer`` is the API the CLI and the TUI share::

    resumer = Resumer(conn, on_event=callback)           # callback gets JobEvent objects, from worker threads
    plan = resumer.plan("bkt", "big.iso", upload_id, "/data/big.iso", progress=lambda done, total: ...)
    if plan.ok:
        summary = resumer.run(plan)                      # blocking; resumer.cancel() from any thread stops it
    resumer.resume_record(journal.find(job_id))          # continue an interrupted resume (or put) job

The plan lists the upload's parts, infers the part size (every part but the last shares one size), hashes the
matching chunks of the file once and compares each with its part's ETag. It refuses, before anything is sent,
a file shorter than the parts already uploaded, parts beyond the end of the file, and parts whose chunk does not
match (unless ``overwrite_mismatched``: then they are sent again from the file). Running it journals the upload
(kind ``resume``) before the first part, so ``mputui jobs`` lists it and ``jobs resume`` continues it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mputui.jobs.engine import Engine
from mputui.jobs.events import FileSource, JobEvent, RunTracker
from mputui.jobs.journal import JobRecord, Journal, clean_endpoint, job_id_for
from mputui.jobs.kinds import JobKind, Outcome, PutMethod
from mputui.jobs.multipart import JobFailed, completed_by_record
from mputui.jobs.plan import MAX_PARTS, MIN_PART_SIZE, part_count, part_range
from mputui.jobs.runner import JobRunner
from mputui.jobs.sources import file_job
from mputui.jobs.transfer import Transfer
from mputui.jobs.upload import (
    UploadContext,
    UploadSource,
)
from mputui.s3.cancel import Cancelled, CancelToken
from mputui.s3.checksums import can_compute, md5_range, plain_md5
from mputui.s3.commit import format_ranges as ranges
from mputui.s3.connect import S3Connection
from mputui.s3.errors import MputuiError, describe, is_gone
from mputui.s3.inventory import find_upload, list_parts
from mputui.s3.models import Part

OVERWRITE_FLAG = "overwrite_mismatched"
HASH_WORKERS = 4  # parts hashed at once when matching a file against an upload


@dataclass(frozen=True, slots=True)
class ResumePlan:
    """How a local file compares with an upload's parts, and what resuming would send."""

    bucket: str
    key: str
    upload_id: str
    path: str
    file_size: int
    part_size: int
    parts_total: int  # parts the whole file needs at ``part_size``
    listed: int
    present: tuple[int, ...] = ()  # listed parts that match their chunk: kept
    send: tuple[int, ...] = ()  # parts to upload: missing ones (and mismatching ones when overwriting)
    mismatched: tuple[int, ...] = ()
    extra: tuple[int, ...] = ()  # listed parts beyond the end of the file
    unknown: tuple[int, ...] = ()  # listed parts whose ETag is not an MD5 (cannot be checked)
    part_md5s: dict[int, str] = field(default_factory=dict)  # MD5 of every chunk hashed by the plan
    problems: tuple[str, ...] = ()
    job_id: str | None = None  # the journaled job this upload already belongs to, if any
    overwrite_mismatched: bool = False
    # The upload is gone and its object holds what the job's record says: a run completed it and was killed
    # before forgetting the job. Running the plan closes the job; nothing is sent.
    finished: bool = False
    etag: str | None = None
    checksum_algorithm: str | None = None  # the upload's: every part is sent with a checksum of it

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def dst(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def part_size_of(self, n: int) -> int:
        first, last = part_range(n, self.file_size, self.part_size)
        return last - first + 1

    @property
    def bytes_present(self) -> int:
        return sum(self.part_size_of(n) for n in self.present)

    @property
    def bytes_to_send(self) -> int:
        return sum(self.part_size_of(n) for n in self.send)


def infer_part_size(parts: list[Part]) -> tuple[int | None, str | None]:
    """The part size every part but the last shares, or ``(None, reason)``."""
    ordered = sorted(parts, key=lambda p: p.part_number)
    if not ordered:
        return None, "the upload has no parts to infer the part size from (pass --part-size)"
    *body, last = ordered
    sizes = sorted({p.size for p in body})
    if len(sizes) > 1:
        shown = ", ".join(str(s) for s in sizes[:5])
        return None, (
            f"the upload's parts do not share one size ({shown} bytes): it was not made by splitting one "
            "file evenly, so mputui cannot tell which bytes each part holds"
        )
    size = sizes[0] if sizes else last.size
    if last.size > size:
        return None, f"part {last.part_number} ({last.size} bytes) is larger than the others ({size} bytes)"
    return size, None


def plan_resume(
    conn: S3Connection,
    bucket: str,
    key: str,
    upload_id: str,
    path: str | Path,
    *,
    part_size: int | None = None,
    overwrite_mismatched: bool = False,
    journal: Journal | None = None,
    progress: Callable[[int, int], None] | None = None,
    cancel: CancelToken | None = None,
) -> ResumePlan:
    """Compare the file with the upload's listed parts (reads only the chunks of listed parts, once).

    Raises MputuiError for an unreadable file (exit 2) or an upload that does not exist (or is not an upload of
    this key: some servers list and complete an upload by its id alone, whatever key the request names). A
    journaled upload that is gone because its job completed it (and was killed before forgetting the job) gives
    a ``finished`` plan.
    """
    path = os.path.abspath(path)
    try:
        file_size = os.stat(path).st_size
    except OSError as exc:
        raise MputuiError(f"cannot read {path}: {exc.strerror or exc}", exit_code=2) from exc
    job = (journal or Journal()).by_upload().get((bucket, key, upload_id))
    listed: list[Part] | None = None
    upload = find_upload(conn, bucket, key, upload_id)
    if upload is not None:
        try:
            listed = list_parts(conn, bucket, key, upload_id)
        except Exception as exc:
            if not is_gone(exc):
                raise
    if listed is None:
        done = completed_by_record(conn, job) if job is not None else None
        if job is not None and done is not None:
            return ResumePlan(
                bucket,
                key,
                upload_id,
                path,
                file_size,
                job.part_size,
                job.parts_total,
                0,
                present=tuple(range(1, job.parts_total + 1)),
                job_id=job.id,
                finished=True,
                etag=done.etag,
            )
        hint = f"; `mputui jobs abort {job.id}` forgets its job" if job is not None else ""
        raise MputuiError(
            f"upload {upload_id} of s3://{bucket}/{key} not found (already aborted or completed, or an upload "
            f"of another key){hint}"
        )
    base = ResumePlan(
        bucket,
        key,
        upload_id,
        path,
        file_size,
        0,
        0,
        len(listed),
        job_id=job.id if job else None,
        overwrite_mismatched=overwrite_mismatched,
        checksum_algorithm=upload.checksum_algorithm if upload else None,
    )
    if part_size is None and job is not None:
        part_size = job.part_size
    if part_size is None:
        part_size, reason = infer_part_size(listed)
        if part_size is None:
            return _with(base, problems=(reason or "cannot infer the part size",))
    else:
        wrong = [p.part_number for p in listed[:-1] if p.size != part_size]
        if wrong:
            return _with(
                base,
                part_size=part_size,
                problems=(f"part(s) {ranges(wrong)} are not {part_size} bytes, the given part size",),
            )
    total = part_count(file_size, part_size)
    base = _with(base, part_size=part_size, parts_total=total)
    problems: list[str] = []
    end = max((p.part_number - 1) * part_size + p.size for p in listed) if listed else 0
    extra = tuple(p.part_number for p in listed if (p.part_number - 1) * part_size >= file_size)
    if file_size < end:
        problems.append(
            f"the file is shorter ({file_size:,} bytes) than the parts already uploaded ({end:,} bytes"
            + (f"; part(s) {ranges(list(extra))} lie beyond its end" if extra else "")
            + "): wrong file?"
        )
        return _with(base, extra=extra, problems=tuple(problems))
    if total > MAX_PARTS:
        problems.append(f"the file needs {total:,} parts of {part_size} bytes: more than S3's {MAX_PARTS:,}")
    if total > 1 and part_size < MIN_PART_SIZE:
        problems.append(f"part size {part_size} bytes is under 5 MiB: the upload could never be completed")
    present, mismatched, unknown, md5s = _compare(path, listed, file_size, part_size, progress, cancel)
    if mismatched and not overwrite_mismatched:
        problems.append(
            f"part(s) {ranges(list(mismatched))} do not match the same bytes of {path}: wrong file? "
            "(--overwrite-mismatched sends them again from the file)"
        )
    if unknown and not overwrite_mismatched:
        problems.append(
            f"part(s) {ranges(list(unknown))} have an ETag that is not an MD5 (encrypted?): they cannot be "
            "checked against the file (--overwrite-mismatched sends them again)"
        )
    listed_numbers = {p.part_number for p in listed}
    send = [n for n in range(1, total + 1) if n not in listed_numbers]
    if overwrite_mismatched:
        send = sorted([*send, *mismatched, *unknown])
    algorithm = base.checksum_algorithm
    if send and algorithm and not can_compute(algorithm):
        problems.append(
            f"the upload was created with {algorithm} checksums, which mputui cannot compute: its parts "
            "cannot be sent"
        )
    return _with(
        base,
        present=present,
        send=tuple(send),
        mismatched=mismatched,
        unknown=unknown,
        part_md5s=md5s,
        problems=tuple(problems),
    )


def _with(plan: ResumePlan, **changes: Any) -> ResumePlan:
    return replace(plan, **changes)


def _compare(
    path: str,
    listed: list[Part],
    file_size: int,
    part_size: int,
    progress: Callable[[int, int], None] | None,
    cancel: CancelToken | None,
) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], dict[int, str]]:
    present: list[int] = []
    mismatched: list[int] = []
    unknown: list[int] = []
    md5s: dict[int, str] = {}
    total = sum(p.size for p in listed)
    done = 0
    to_hash: list[Part] = []
    for p in sorted(listed, key=lambda p: p.part_number):
        first, last = part_range(p.part_number, file_size, part_size)
        if p.size != last - first + 1:
            mismatched.append(p.part_number)  # a short part that is not the file's last one
        else:
            to_hash.append(p)

    def local_md5(p: Part) -> str:
        if cancel is not None:
            cancel.check()
        with open(path, "rb") as handle:
            handle.seek(part_range(p.part_number, file_size, part_size)[0])
            local, got = md5_range(handle, p.size)
        if got != p.size:
            raise MputuiError(f"{path} became shorter while being read")
        return local

    # Parts are independent chunks: hash them on every core (hashlib lets go of the GIL).
    workers = max(1, min(len(to_hash), os.cpu_count() or 1, HASH_WORKERS))
    pool = ThreadPoolExecutor(workers, thread_name_prefix="mputui-md5")
    try:
        for p, local in zip(to_hash, pool.map(local_md5, to_hash), strict=True):
            md5s[p.part_number] = local
            remote = plain_md5(p.etag)
            if remote is None:
                unknown.append(p.part_number)
            elif remote == local:
                present.append(p.part_number)
            else:
                mismatched.append(p.part_number)
            done += p.size
            if progress is not None:
                progress(done, total)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # an error or a cancel: hash no further parts
    mismatched.sort()
    return tuple(present), tuple(mismatched), tuple(unknown), md5s


@dataclass
class ResumeSummary:
    """What one resume did."""

    job_id: str | None = None
    parts_sent: int = 0
    bytes_sent: int = 0
    parts_present: int = 0
    etag: str | None = None
    completed: bool = False
    cancelled: bool = False
    elapsed: float = 0.0
    error: str | None = None
    resumable: bool = False
    plan: ResumePlan | None = None

    @property
    def outcome(self) -> Outcome:
        if self.completed:
            return Outcome.DONE
        return Outcome.CANCELLED if self.cancelled else Outcome.FAILED

    @property
    def reason(self) -> str | None:
        return self.error


class Resumer(JobRunner[JobEvent]):
    """Plans and runs resumes of uploads on ``conn`` from local files."""

    def __init__(
        self,
        conn: S3Connection,
        *,
        journal: Journal | None = None,
        on_event: Callable[[JobEvent], None] | None = None,
        cancel: CancelToken | None = None,
    ) -> None:
        super().__init__(journal=journal, on_event=on_event, cancel=cancel)
        self.conn = conn

    def plan(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        path: str | Path,
        *,
        part_size: int | None = None,
        overwrite_mismatched: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> ResumePlan:
        """See ``plan_resume``; hashing stops (Cancelled) when this resumer is cancelled."""
        return plan_resume(
            self.conn,
            bucket,
            key,
            upload_id,
            path,
            part_size=part_size,
            overwrite_mismatched=overwrite_mismatched,
            journal=self.journal,
            progress=progress,
            cancel=self.cancel_token,
        )

    def run(self, plan: ResumePlan) -> ResumeSummary:
        """Journal the upload, send the planned parts concurrently, complete and verify; blocking.

        A failure is reported in the summary (``error``; ``resumable`` when ``jobs resume`` can finish it).
        KeyboardInterrupt cancels, waits for running parts, then re-raises.
        """
        if not plan.ok:
            raise MputuiError("refusing to resume: " + "; ".join(plan.problems), exit_code=2)
        if plan.finished and plan.job_id is not None:
            with self.journal.lock(plan.job_id):
                self.journal.remove(plan.job_id)
            return ResumeSummary(
                job_id=plan.job_id, parts_present=plan.parts_total, etag=plan.etag, completed=True, plan=plan
            )
        record = self._record(plan)
        summary = ResumeSummary(job_id=record.id, parts_present=len(plan.present), plan=plan)
        tracker = RunTracker(1, plan.file_size, self.emit)
        t0 = time.monotonic()
        parts = Engine(self.conn.settings.concurrency, cancel=self.cancel_token, name="mputui-resume")
        ctx = UploadContext(
            Transfer(self.conn, self.conn), self.journal, parts, self.emit, self._crash_hook, tracker
        )
        source = UploadSource(
            plan.path,
            plan.file_size,
            plan.part_size,
            dict(plan.part_md5s),
            checksum_algorithm=plan.checksum_algorithm,
        )
        job = file_job(ctx, record, source, can_recreate=False)
        try:
            tracker.started(plan.dst)
            result = job.run()
            tracker.finished(plan.dst)
            summary.completed = True
            summary.etag = result.etag
            self.emit(result)
        except Cancelled:
            summary.cancelled = True
            summary.resumable = True
        except KeyboardInterrupt:
            self.cancel()
            summary.cancelled = True
            raise
        except (JobFailed, MputuiError) as exc:
            summary.error = exc.message
            summary.resumable = isinstance(exc, JobFailed) and exc.resumable
        except Exception as exc:
            summary.error = describe(exc)
            summary.resumable = True
        finally:
            parts.shutdown(wait=True)
            summary.parts_sent, summary.bytes_sent = job.parts_sent, job.bytes_sent
            summary.elapsed = time.monotonic() - t0
        summary.cancelled = summary.cancelled or self.cancel_token.cancelled
        return summary

    def resume_record(self, record: JobRecord) -> tuple[ResumePlan, ResumeSummary | None]:
        """Continue a journaled ``resume`` job from its file: re-plan (the file is checked again), then run.

        Returns the plan and, when the plan is ok, the summary.
        """
        if record.kind != JobKind.RESUME or record.upload_id is None:
            raise MputuiError(f"job {record.id} is a {record.kind} job, not a resume job", exit_code=2)
        plan = self.plan(
            record.dst_bucket,
            record.dst_key,
            record.upload_id,
            record.path,
            part_size=record.part_size,
            overwrite_mismatched=record.extra.get(OVERWRITE_FLAG) == "1",
        )
        return plan, (self.run(plan) if plan.ok else None)

    def _record(self, plan: ResumePlan) -> JobRecord:
        """This upload's journal record: the job it already belongs to, or a new ``resume`` job."""
        existing = self.journal.by_upload().get((plan.bucket, plan.key, plan.upload_id))
        if existing is not None:
            if existing.part_size != plan.part_size or existing.src_size != plan.file_size:
                raise MputuiError(
                    f"upload {plan.upload_id} belongs to job {existing.id} for {existing.src_size} bytes in parts "
                    f"of {existing.part_size}; the file does not fit it"
                )
            if existing.kind == JobKind.PUT and existing.extra.get("content_encoding"):
                raise MputuiError(
                    f"upload {plan.upload_id} holds gzipped content (put job {existing.id}); "
                    f"finish it with `mputui jobs resume {existing.id}`",
                    exit_code=2,
                )
            return existing
        endpoint = clean_endpoint(self.conn.endpoint_url)
        return JobRecord(
            id=job_id_for(None, f"file://{plan.path}", endpoint, plan.dst, plan.upload_id),
            source=FileSource(plan.path),
            src_etag="",
            src_size=plan.file_size,
            dst_bucket=plan.bucket,
            dst_key=plan.key,
            part_size=plan.part_size,
            parts_total=plan.parts_total,
            method=PutMethod.MULTIPART,
            kind=JobKind.RESUME,
            upload_id=plan.upload_id,
            done={n: plan.part_md5s[n] for n in plan.present},
            dst_endpoint=endpoint,
            dst_profile=self.conn.settings.profile,
            extra={OVERWRITE_FLAG: "1" if plan.overwrite_mismatched else ""},
        )
