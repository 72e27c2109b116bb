"""One journaled multipart upload, whatever its parts come from (``PartSource``, see ``sources``): create (or
find) the upload, send the missing parts, complete.

The journal record exists before the upload does and is updated after every part, so whatever stops the
process (Ctrl-C, a crash, kill -9, a lost network) a re-run finds the upload, asks the server which parts
it holds, copies only the others, and completes. The record goes away only once Complete or Abort succeeded.

A run that dies after journaling the job but before journaling the upload id may have sent a Create whose answer
it never read. The server still carries it out, possibly late: after the re-run listed the key to adopt that
upload, found none and created its own. So such a re-run marks the record (``LOST_CREATE``) and, just before
completing (or when aborting the job), aborts the uploads that Create made (``late_creates``).

Within one run the same holds for a Create whose answer is lost on the way (a dropped connection, a timeout, a
5xx): ``UploadCreator`` never lets botocore resend it blindly, lists the key and adopts what the lost Create made.

A run killed between a successful Complete and removing the record leaves a record whose upload is gone: a re-run,
``jobs resume`` and ``jobs abort`` check the destination object against the record (``completed_by_record``) and
close the record as done.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, NoReturn, Protocol, TypeVar

from mputui.formatting import problems_text
from mputui.jobs.engine import Engine, RetryPolicy, is_retryable
from mputui.jobs.events import JobAborted, PartState, ProgressTracker, S3Source
from mputui.jobs.journal import JobRecord, Journal
from mputui.jobs.plan import part_range, part_sizes
from mputui.jobs.transfer import Transfer
from mputui.s3.actions import abort_upload, upload_exists
from mputui.s3.cancel import Cancelled, CancelToken
from mputui.s3.checksums import multipart_etag, plain_md5, quoted_etag
from mputui.s3.commit import complete_upload, plan_commit, with_listed_checksums
from mputui.s3.connect import S3Connection
from mputui.s3.errors import MputuiError, describe, is_gone
from mputui.s3.inventory import key_uploads, list_parts
from mputui.s3.models import Part, Upload
from mputui.s3.objects import ObjectInfo, head_object, same_content

# Test hook (used by tests/test_copy_resume.py): after this many parts are journaled in this process, the
# process sends itself SIGKILL: no cleanup, no flush, exactly like kill -9. Read only here; unset in normal use.
CRASH_AFTER_PARTS_ENV = "MPUTUI_TEST_CRASH_AFTER_PARTS"
# Test hook (tests/test_crash_complete.py): set to 1, the process SIGKILLs itself right after a job's upload was
# completed (and checked), before its journal record is removed.
CRASH_AFTER_COMPLETE_ENV = "MPUTUI_TEST_CRASH_AFTER_COMPLETE"
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
    """Counts journaled parts and kills the process after ``MPUTUI_TEST_CRASH_AFTER_PARTS`` of them, or after a
    completed upload with ``MPUTUI_TEST_CRASH_AFTER_COMPLETE=1``."""

    def __init__(self) -> None:
        value = os.environ.get(CRASH_AFTER_PARTS_ENV, "")
        self.limit = int(value) if value.isdigit() else None
        self.after_complete = os.environ.get(CRASH_AFTER_COMPLETE_ENV) == "1"
        self._count = 0
        self._lock = threading.Lock()

    def part_journaled(self) -> None:
        if self.limit is None:
            return
        with self._lock:
            self._count += 1
            if self._count >= self.limit:
                _kill_self()

    def completed(self) -> None:
        """A job's upload was completed; its record is not removed yet."""
        if self.after_complete:
            _kill_self()


def _kill_self() -> None:
    os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))
    os._exit(137)


@dataclass
class JobContext:
    """What every job of one run shares."""

    transfer: Transfer
    journal: Journal
    parts: Engine
    emit: Callable[[Any], None]
    crash_hook: CrashHook


ResultT = TypeVar("ResultT", covariant=True)


class PartSource(Protocol[ResultT]):
    """Where a ``MultipartJob``'s parts come from (server-side copy ranges, chunks of a local file), and what
    only the source knows: which listed parts hold its bytes, whether an object at the key is its content, why
    a failure is final, and the events that tell the caller."""

    then: str  # what the user does after aborting the wrong uploads when several could be the job's
    can_recreate: bool  # the journaled upload vanished: start a new one (else the job fails)
    checksum_algorithm: str | None  # the upload's flexible checksum algorithm (a resumed upload's), if any

    def create_info(self) -> ObjectInfo:
        """What Create carries (metadata, content headers)."""
        ...

    def keep(self, part: Part) -> str | None:
        """The ETag to journal for a listed part of the right size that already holds the source's bytes, or
        None to send it again."""
        ...

    def is_ours(self, record: JobRecord, obj: ObjectInfo) -> bool:
        """``obj`` (the destination, the upload gone) holds what the job was writing."""
        ...

    def present(self, size: int) -> None:
        """``size`` bytes found already at the server when the job (re)starts."""
        ...

    def send(self, record: JobRecord, part_number: int, first: int, last: int) -> str:
        """Send one part; the ETag to journal. Retried by the engine on transient errors."""
        ...

    def sent(self, record: JobRecord, part_number: int, size: int) -> Any:
        """A part was sent and journaled: the event to emit."""
        ...

    def abandon(self, job: MultipartJob[Any], exc: BaseException) -> None:
        """After a part failed: raise if the whole job must be given up (its upload aborted)."""
        ...

    def final(self, record: JobRecord, exc: BaseException) -> JobFailed | None:
        """After a part failed and the upload still exists: the error if a re-run cannot fix it."""
        ...

    def before_complete(self, job: MultipartJob[Any]) -> None:
        """Last check before Complete (a copy's source may have changed)."""
        ...

    def result(self, record: JobRecord, *, resumed: bool, parts: int, size: int, etag: str | None) -> ResultT:
        """The job's event once its object is complete (``parts``/``size``: what this run sent)."""
        ...


class MultipartJob(Generic[ResultT]):
    """One journaled multipart upload of ``record``'s destination, whose parts come from ``source``.

    Adopt (a Create an earlier run never heard the answer to) or create the upload, or sync the journaled one's
    parts with the server; send the missing parts, journaling each; abort late Creates; complete with exactly
    parts 1..N and verify (``complete_upload``); forget the job.
    """

    def __init__(self, ctx: JobContext, record: JobRecord, source: PartSource[ResultT]) -> None:
        self.ctx = ctx
        self.record = record
        self.source = source
        self._lock = threading.Lock()
        self._stop = CancelToken()  # the first failure stops the job's other parts
        self.parts_sent = 0
        self.bytes_sent = 0
        self.creator = UploadCreator(ctx.transfer, ctx.parts.cancel)

    @property
    def t(self) -> Transfer:
        return self.ctx.transfer

    def run(self) -> ResultT:
        """Run to completion. Raises ``JobFailed``/``Cancelled`` (or the source's own error) otherwise."""
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
                    r, self.source.create_info(), fresh=stored is None, then=self.source.then
                )
                journal.save(r)
            elif self._sync_parts():
                journal.remove(r.id)  # completed by an earlier run that died before forgetting the job
                return self.source.result(r, resumed=True, parts=0, size=0, etag=None)
            self.source.present(r.bytes_done)
            self._send_missing()
            self.source.before_complete(self)
            abort_late_creates(self.t, r, self.creator)
            etag = self._complete()
            self.ctx.crash_hook.completed()
            journal.remove(r.id)
        return self.source.result(r, resumed=resumed, parts=self.parts_sent, size=self.bytes_sent, etag=etag)

    # -- upload ---------------------------------------------------------------------------------------

    def _sync_parts(self) -> bool:
        """Keep the listed parts the source vouches for. True if the job turns out finished."""
        r = self.record
        assert r.upload_id is not None
        try:
            listed = list_parts(self.t.dst_conn, r.dst_bucket, r.dst_key, r.upload_id)
        except Exception as exc:
            if not is_gone(exc):
                raise
            return self._upload_vanished()
        sizes = part_sizes(r.src_size, r.part_size)
        done = {}
        for p in listed:
            if p.part_number <= len(sizes) and p.size == sizes[p.part_number - 1]:
                etag = self.source.keep(p)
                if etag:
                    done[p.part_number] = etag
        r.done = done
        self.ctx.journal.save(r)
        return False

    def _upload_vanished(self) -> bool:
        r = self.record
        existing = head_object(self.t.dst_conn, r.dst_bucket, r.dst_key, metadata=True)
        if existing is not None and existing.size == r.src_size and self.source.is_ours(r, existing):
            return True
        if not self.source.can_recreate:
            self.ctx.journal.remove(r.id)
            raise JobFailed(
                f"upload {r.upload_id} of {r.dst} no longer exists (aborted or completed by someone else)",
                resumable=False,
            )
        r.upload_id, r.done = None, {}
        self.ctx.journal.save(r)
        r.upload_id = self.creator.create(r, self.source.create_info())
        self.ctx.journal.save(r)
        return False

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
                self._stop.cancel()
        if self.ctx.parts.cancel.cancelled:
            raise Cancelled
        if failure is not None:
            self.fail(failure)

    def _send(self, n: int, tracker: ProgressTracker) -> None:
        if self._stop.cancelled:
            raise Cancelled
        r = self.record
        assert r.upload_id is not None
        tracker.set_state(n, PartState.RUNNING)
        first, last = part_range(n, r.src_size, r.part_size)
        etag = self.source.send(r, n, first, last)
        with self._lock:
            self.ctx.journal.add_part(r, n, etag)
            self.parts_sent += 1
            self.bytes_sent += last - first + 1
        self.ctx.crash_hook.part_journaled()
        self.ctx.emit(self.source.sent(r, n, last - first + 1))
        tracker.set_state(n, PartState.DONE)

    def fail(self, exc: BaseException) -> NoReturn:
        """Turn a part failure into the right end: given up (the source's call), gone, final, or resumable."""
        self.source.abandon(self, exc)
        r = self.record
        assert r.upload_id is not None
        if not upload_exists(self.t.dst_conn, r.dst_bucket, r.dst_key, r.upload_id):
            self.ctx.journal.remove(r.id)
            raise JobFailed(
                f"the upload of job {r.id} was aborted or completed by someone else", resumable=False
            ) from exc
        final = self.source.final(r, exc)
        if final is not None:
            raise final from exc
        raise JobFailed(
            f"{describe(exc)}; {len(r.done)}/{r.parts_total} parts kept, finish with `mputui jobs resume {r.id}`",
            resumable=True,
        ) from exc

    def _complete(self) -> str | None:
        """Complete with exactly parts 1..N and their journaled ETags; HEAD must show the size (and the
        multipart ETag, when the parts' ETags are MD5s)."""
        r = self.record
        assert r.upload_id is not None
        sizes = part_sizes(r.src_size, r.part_size)
        parts = [Part(n, sizes[n - 1], quoted_etag(r.done[n]), None) for n in range(1, r.parts_total + 1)]
        if self.source.checksum_algorithm:
            # Complete must name every part's checksum: the server's word, as for `commit`.
            parts = with_listed_checksums(
                parts, list_parts(self.t.dst_conn, r.dst_bucket, r.dst_key, r.upload_id)
            )
        plan = plan_commit(r.dst_bucket, r.dst_key, r.upload_id, parts)
        if not plan.ok:
            raise JobFailed(f"cannot complete {r.dst}: {problems_text(plan.problems)}", resumable=True)
        # The job's plan decided what to replace; a salvage commit is what refuses to (``mputui commit``).
        result = complete_upload(self.t.dst_conn, plan, overwrite=True)
        if result.status == "failed":
            raise JobFailed(
                f"completing {r.dst} failed: {result.error}; retry with `mputui jobs resume {r.id}`",
                resumable=True,
            )
        if not result.ok or not result.verified:
            self.ctx.journal.remove(r.id)
            raise JobFailed(f"{r.dst}: {result.error}", resumable=False)
        return result.etag

    def abort(self, reason: str) -> None:
        """Abort this job's upload and forget the job (kept in the journal if the abort fails)."""
        abort_record(self.t, self.ctx.journal, self.record)
        self.ctx.emit(JobAborted(self.record.id, self.record.source, self.record.dst, reason))


def refused_key(key: str, create_exc: BaseException) -> MputuiError | None:
    """The plain account of a server that fails to create an upload of a key with control characters and then
    cannot list the key's uploads (moto); None for any other key."""
    controls = [f"U+{ord(c):04X}" for c in dict.fromkeys(key) if ord(c) < 0x20 or ord(c) == 0x7F]
    if not controls:
        return None
    return MputuiError(
        f"the server does not take this key, which has control characters ({', '.join(controls)}; S3 accepts "
        f"them): creating its upload failed ({describe(create_exc)}) and its uploads cannot be listed since"
    )


class UploadCreator:
    """CreateMultipartUpload for one job, never resent blindly.

    Why: a Create whose answer is lost (a dropped connection, a timeout, a 5xx after the server acted) may still
    have made an upload. botocore would send it again and use the second upload; the first one, whose id nobody
    heard, stayed behind with 0 parts although the run reported success. So a Create goes out once (a
    single-attempt connection, ``Transfer.create``); after a lost answer the key is listed and what appeared
    since the listing taken before the first Create is this run's: one is adopted, any other aborted, and only if
    none appeared is Create sent again (after a backoff). Nothing here trusts ``Initiated`` (moto reports
    2010-11-10 for every upload): the before/after listings of the exact key decide. A lost Create can also
    land later, after the run listed the key: ``strays`` finds those for ``abort_late_creates`` before the job
    completes. The record is marked ``LOST_CREATE`` so that a re-run of a killed run looks for them too.
    """

    def __init__(self, transfer: Transfer, cancel: CancelToken | None = None) -> None:
        self.t = transfer
        self.cancel = cancel
        self.before: set[str] | None = None  # the key's uploads listed before this run's first Create
        self.lost = 0  # Creates of this run whose answer was lost
        self.policy = RetryPolicy(attempts=max(1, transfer.dst_conn.max_attempts))

    def adopt_or_create(self, record: JobRecord, src: ObjectInfo, *, fresh: bool, then: str) -> str:
        """A new upload; or, if an earlier run died between journaling and learning the upload id, that one.

        ``then``: what the user does after aborting the wrong uploads when several could be the job's.
        """
        listed = None
        if not fresh:
            listed = key_uploads(self.t.dst_conn, record.dst_bucket, record.dst_key)
            candidates = unjournaled_uploads(self.t, record, listed)
            if len(candidates) == 1:
                return candidates[0].upload_id
            if candidates:
                ids = ", ".join(u.upload_id for u in candidates)
                raise JobFailed(
                    f"job {record.id}: cannot tell which upload of {record.dst} is this job's ({ids}); "
                    f"abort the wrong ones with `mputui abort`, then {then}",
                    resumable=True,
                )
        return self.create(record, src, listed)

    def create(self, record: JobRecord, src: ObjectInfo, listed: list[Upload] | None = None) -> str:
        """A new upload of ``record``'s destination carrying ``src``'s metadata (``listed``: the key's uploads,
        if just listed). Raises the last error once every attempt's answer was lost and no upload appeared."""
        conn = self.t.dst_conn
        if listed is None:
            listed = key_uploads(conn, record.dst_bucket, record.dst_key)
        if self.before is None:  # a second Create (the first upload vanished) keeps the first listing
            self.before = {u.upload_id for u in listed}
        attempt = 1
        while True:
            try:
                return self.t.create(src, record.dst_bucket, record.dst_key)
            except Exception as exc:
                if not is_retryable(exc):
                    raise
                self.lost += 1
                expect_lost_create(record)
                try:
                    adopted = self._adopt_appeared(record)
                except Exception as list_exc:
                    refused = refused_key(record.dst_key, exc)
                    if refused is None:
                        raise
                    raise refused from list_exc
                if adopted is not None:
                    return adopted
                if attempt >= self.policy.attempts:
                    raise
                delay = self.policy.delay(attempt)
                if self.cancel is None:
                    time.sleep(delay)
                elif self.cancel.sleep(delay):
                    raise Cancelled from exc
                attempt += 1

    def _appeared(self, record: JobRecord) -> list[Upload]:
        """Uploads of the key that were not there before this run's first Create."""
        before = self.before or set()
        return [
            u
            for u in key_uploads(self.t.dst_conn, record.dst_bucket, record.dst_key)
            if u.upload_id not in before
        ]

    def _adopt_appeared(self, record: JobRecord) -> str | None:
        """After a lost answer: the upload the lost Creates made, if one appeared (any more are aborted)."""
        appeared = self._appeared(record)
        if not appeared:
            return None
        initiators = {u.initiator for u in appeared}
        if len(appeared) > self.lost or len(initiators) > 1:
            ids = ", ".join(u.upload_id for u in appeared)
            raise JobFailed(
                f"job {record.id}: the answer to CreateMultipartUpload was lost and {len(appeared)} uploads of "
                f"{record.dst} appeared meanwhile ({ids}): another client is creating uploads of this key too; "
                "abort the wrong ones with `mputui abort`, then re-run",
                resumable=True,
            )
        adopted, *extra = appeared
        for upload in extra:  # several lost Creates all landed: one upload is enough
            abort_upload(self.t.dst_conn, upload)
        return adopted.upload_id

    def strays(self, record: JobRecord, same_key: list[Upload]) -> list[Upload]:
        """Uploads a lost Create of this run made that landed after the run looked (``same_key``: the key's
        uploads now, the job's own among them)."""
        if not self.lost or self.before is None or record.upload_id is None:
            return []
        mine = next((u.initiator for u in same_key if u.upload_id == record.upload_id), None)
        found = [
            u
            for u in same_key
            if u.upload_id not in self.before
            and u.upload_id != record.upload_id
            and (mine is None or u.initiator == mine)
        ]
        return found if len(found) <= self.lost else []


def unjournaled_uploads(
    transfer: Transfer, record: JobRecord, listed: list[Upload] | None = None
) -> list[Upload]:
    """Uploads of exactly ``record``'s destination key started since the record was written (``listed``: the
    key's uploads, if just listed).

    Only needed when a run died between CreateMultipartUpload and journaling its id.
    """
    created = datetime.fromisoformat(record.created.replace("Z", "+00:00"))
    if listed is None:
        listed = key_uploads(transfer.dst_conn, record.dst_bucket, record.dst_key)
    return [u for u in listed if u.key == record.dst_key and u.initiated >= created - _ADOPT_SLACK]


def expect_lost_create(record: JobRecord) -> None:
    """Note on ``record`` (journaled, upload id unknown) that an earlier run's Create may still land."""
    record.extra.setdefault(LOST_CREATE, record.updated)


def late_creates(transfer: Transfer, record: JobRecord, creator: UploadCreator | None = None) -> list[Upload]:
    """The uploads that a lost Create of an earlier run of ``record``'s job made, other than the job's own.

    Why: a Create whose answer never arrived (the run was killed) is still carried out by the server, and it can
    land after the re-run listed the key: Ceph RGW spends ~2 s on the first Create of a cluster (it creates a
    pool), a loaded server or proxy can hold a request as long. The re-run then found nothing, created its own
    upload, and the late one would be an orphan of ours. Which uploads are ours: exactly the rule that adopts an
    unjournaled upload (this bucket and key, initiated since the journal write before that Create, with the same
    clock slack), narrowed to the initiator of the job's own upload (listed here, before it is completed) so that
    another identity's upload of the key is never touched. Whatever the re-run adopted is the job's own upload;
    several candidates stop the re-run before this, so every upload found here appeared after the re-run looked.
    ``creator`` (this run's): also the uploads its own lost Creates made (``UploadCreator.strays``), found by
    listing rather than by time; uploads it listed before its first Create are never counted.
    """
    since = record.extra.get(LOST_CREATE)
    in_run = creator is not None and creator.lost > 0
    if (since is None and not in_run) or record.upload_id is None:
        return []
    same_key = key_uploads(transfer.dst_conn, record.dst_bucket, record.dst_key)
    before = (creator.before if creator is not None else None) or set()
    found = {u.upload_id: u for u in creator.strays(record, same_key)} if creator is not None else {}
    if since is not None:
        start = datetime.fromisoformat(since.replace("Z", "+00:00")) - _ADOPT_SLACK
        mine = next((u.initiator for u in same_key if u.upload_id == record.upload_id), None)
        for u in same_key:
            if (
                u.upload_id != record.upload_id
                and u.upload_id not in before
                and u.initiated >= start
                and (mine is None or u.initiator == mine)
            ):
                found.setdefault(u.upload_id, u)
    return list(found.values())


def abort_late_creates(transfer: Transfer, record: JobRecord, creator: UploadCreator | None = None) -> None:
    """Abort ``late_creates``; JobFailed (resumable: the record keeps the mark) if one cannot be aborted."""
    for upload in late_creates(transfer, record, creator):
        result = abort_upload(transfer.dst_conn, upload)
        if not result.ok and not result.already_gone:
            raise JobFailed(
                f"aborting upload {upload.upload_id} of {record.dst}, made by a lost Create of an earlier run "
                f"of job {record.id}, failed: {result.error}; retry with `mputui jobs resume {record.id}`",
                resumable=True,
            )


# What ``abort_record`` found: it aborted the job's upload; the upload was gone and the destination holds what
# the job was writing (completed by a run that died before forgetting the job); the upload was gone otherwise
# (aborted or completed elsewhere, or never created).
ABORTED, ALREADY_COMPLETE, ALREADY_GONE = "aborted", "complete", "gone"


def abort_record(transfer: Transfer, journal: Journal, record: JobRecord) -> str:
    """Abort exactly the journaled upload of ``record`` (and ``late_creates``); remove the record once gone.

    Returns ``ABORTED``, ``ALREADY_COMPLETE`` or ``ALREADY_GONE`` for the job's own upload.
    """
    if record.upload_id is not None:
        own = Upload(record.dst_bucket, record.dst_key, record.upload_id, initiated=datetime.now(UTC))
        uploads = [own, *late_creates(transfer, record)]
    else:
        uploads = unjournaled_uploads(transfer, record)
        if len(uploads) > 1:
            ids = ", ".join(u.upload_id for u in uploads)
            raise MputuiError(
                f"job {record.id}: cannot tell which upload of {record.dst} is this job's ({ids})"
            )
    outcome = ALREADY_GONE
    for n, upload in enumerate(uploads):
        result = abort_upload(transfer.dst_conn, upload)
        if not result.ok and not result.already_gone:
            raise MputuiError(f"aborting the upload of job {record.id} failed: {result.error}")
        if n == 0 and result.ok:
            outcome = ABORTED
        elif n == 0 and record.upload_id is not None and completed_by_record(transfer.dst_conn, record):
            outcome = ALREADY_COMPLETE
    journal.remove(record.id)
    return outcome


def completed_by_record(conn: S3Connection, record: JobRecord) -> ObjectInfo | None:
    """The destination object if it holds what ``record``'s job was writing, else None.

    For a record whose upload is gone: a run completed it and was killed before it removed the record. Checked
    against the record alone (a re-run of ``resume`` or ``jobs abort`` may have neither the source nor the
    file): the size, and the multipart ETag of the journaled parts (every part is journaled before Complete), or
    the content MD5 the job stored on the object (``x-amz-meta-md5``: put, copies of a plain-ETag source) or the
    source's ETag (copies).
    """
    existing = head_object(conn, record.dst_bucket, record.dst_key, metadata=True)
    if existing is None or existing.size != record.src_size:
        return None
    n = record.parts_total
    md5s = [plain_md5(record.done.get(i, "")) for i in range(1, n + 1)]
    if n and all(md5s) and existing.etag.lower() == multipart_etag(m for m in md5s if m):
        return existing
    if isinstance(record.source, S3Source):  # a copy: the source version it was made from
        src = ObjectInfo(record.source.bucket, record.source.key, record.src_size, record.src_etag)
        return existing if same_content(src, existing) else None
    if record.src_etag and existing.md5 == record.src_etag.lower():
        return existing
    return None
