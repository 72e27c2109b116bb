"""Abort many exact uploads on the jobs engine (retries, cancel), keeping the job journal in step.

Used by the TUI and the CLI. Many targets go out as DELETEs on the lean event loop; anything else, and a single
target, goes the per-upload way: retried on throttling and 5xx with backoff. Either way a commit that raced an
abort is looked for per batch (``confirm_aborts``), each key no sooner than ``RACE_SETTLE_SECONDS`` after its
abort was accepted, and every accepted abort is verified (``verify_aborts``: the upload is gone, else it is
aborted again, a bounded number of times). An upload that belonged to a journaled job takes its journal record with it.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

from mputui.jobs.engine import DEFAULT_RETRY, Engine, RetryPolicy, with_retries
from mputui.jobs.journal import Journal
from mputui.s3.actions import (
    RACE_SETTLE_SECONDS,
    AbortResult,
    confirm_abort,
    confirm_aborts,
    refuse_unsafe_target,
    upload_exists,
    verify_aborts,
)
from mputui.s3.cancel import Cancelled, CancelToken
from mputui.s3.connect import S3Connection
from mputui.s3.errors import describe, is_gone
from mputui.s3.lean import key_path
from mputui.s3.lean_loop import LeanCall, LeanLoop, LeanResponse, LoopCancelled, never_sent
from mputui.s3.models import Upload

# An abort on the event loop is a bodiless DELETE that costs a thread nothing while it waits: keeping twice the
# settings' concurrency in flight fills the server's queue across the round trip (2,000 aborts on Ceph RGW at
# 20 ms RTT: ~3.2 s with 32 in flight, ~2.6 s with 64; python bench/abort.py).
IN_FLIGHT_PER_WORKER = 2


@dataclass(frozen=True, slots=True)
class Accepted:
    """An abort the server accepted, not yet checked for a commit that raced it."""

    upload: Upload
    response: dict[str, Any]
    at: float  # time.monotonic() when the answer arrived


def send_abort(
    conn: S3Connection,
    upload: Upload,
    *,
    policy: RetryPolicy = DEFAULT_RETRY,
    cancel: CancelToken | None = None,
    maybe_landed: bool = False,
) -> AbortResult | Accepted:
    """Abort exactly ``upload``, retrying transient errors; never raises for S3 errors. ``Accepted`` when the
    server accepted it: the check for a racing commit is the caller's (``confirm_abort``/``confirm_aborts``).

    ``maybe_landed``: an earlier DELETE of this upload may have reached the server (its answer was lost).
    """
    refused = refuse_unsafe_target(upload)
    if refused is not None:
        return refused
    lost = [maybe_landed]

    def retried(_attempt: int, _exc: BaseException) -> None:
        lost[0] = True  # a retried error (dropped connection, timeout, 5xx): that DELETE may have landed

    try:
        response = with_retries(
            lambda: conn.call(
                upload.bucket, "abort_multipart_upload", Key=upload.key, UploadId=upload.upload_id
            ),
            policy=policy,
            cancel=cancel,
            on_retry=retried,
        )
    except Cancelled:
        raise
    except Exception as exc:
        return _after_failed_abort(conn, upload, exc, maybe_landed=lost[0], policy=policy, cancel=cancel)
    return Accepted(upload, response, time.monotonic())


def _after_failed_abort(
    conn: S3Connection,
    upload: Upload,
    exc: Exception,
    *,
    maybe_landed: bool,
    policy: RetryPolicy,
    cancel: CancelToken | None,
) -> AbortResult:
    """What an abort that ended in ``exc`` did, as the server shows it: a listing (retried like the abort)
    decides between gone and still there, so the report matches the server even when answers were lost."""
    try:
        exists = with_retries(
            lambda: upload_exists(conn, upload.bucket, upload.key, upload.upload_id),
            policy=policy,
            cancel=cancel,
        )
    except Cancelled:
        raise
    except Exception:
        exists = None  # could not tell
    if exists is False and (maybe_landed or not is_gone(exc)):
        return AbortResult(upload, ok=True, verified_by_listing=True, verified=True)
    if exists is False or (exists is None and is_gone(exc)):
        return AbortResult(upload, ok=False, already_gone=True, error="already gone", verified=True)
    return AbortResult(upload, ok=False, error=describe(exc))


def abort_one(
    conn: S3Connection,
    upload: Upload,
    *,
    policy: RetryPolicy = DEFAULT_RETRY,
    cancel: CancelToken | None = None,
) -> AbortResult:
    """Abort exactly ``upload``, retrying transient errors, check for a racing commit and verify it is gone;
    never raises for S3 errors."""
    sent = send_abort(conn, upload, policy=policy, cancel=cancel)
    if isinstance(sent, AbortResult):
        return sent
    (result,) = verify_aborts(conn, [confirm_abort(conn, upload, sent.response, accepted_at=sent.at)])
    return result


def abort_uploads(
    conn: S3Connection,
    uploads: Iterable[Upload],
    *,
    concurrency: int | None = None,
    cancel: CancelToken | None = None,
    journal: Journal | None = None,
    policy: RetryPolicy = DEFAULT_RETRY,
) -> Iterator[AbortResult]:
    """Abort many exact targets concurrently; yields each result as it completes.

    At most ``concurrency`` aborts are in flight (default: ``IN_FLIGHT_PER_WORKER`` times the settings'
    concurrency on the event loop, the settings' concurrency on threads). Stops starting new aborts once
    ``cancel`` is cancelled. When ``journal`` is given, the record of a journaled
    job whose upload is now gone is removed.
    """
    todo = []
    for upload in uploads:
        refused = refuse_unsafe_target(upload)
        if refused is None:
            todo.append(upload)
        else:
            yield refused  # an empty key or upload id would widen the DELETE to the bucket or an object
    token = cancel or CancelToken()
    jobs = journal.by_upload() if journal is not None else {}
    workers = max(1, min(concurrency or conn.settings.concurrency, len(todo) or 1))
    loop = _loop_for(conn, todo, token, concurrency or IN_FLIGHT_PER_WORKER * conn.settings.concurrency)
    if loop is None:
        results = _threaded(conn, todo, workers, token, policy)
    else:
        results = _on_loop(conn, loop, todo, token, policy)
    for result in results:
        record = jobs.get(result.upload.ident)
        if record is not None and journal is not None and (result.ok or result.already_gone):
            journal.remove(record.id)
        yield result


def _threaded(
    conn: S3Connection,
    todo: list[Upload],
    workers: int,
    token: CancelToken,
    policy: RetryPolicy,
) -> Iterator[AbortResult]:
    checks = _RaceChecks(conn)
    with Engine(workers, policy=policy, cancel=token, name="mputui-abort") as engine:
        for upload, result in engine.map_unordered(
            lambda u: send_abort(conn, u, policy=policy, cancel=token), todo, retry=False
        ):
            if isinstance(result, Accepted):
                checks.add(result)
            elif isinstance(result, AbortResult):
                yield result
            elif not isinstance(result, Cancelled):
                yield AbortResult(upload, ok=False, error=str(result))
            yield from checks.due()
    yield from checks.rest()


def _loop_for(
    conn: S3Connection,
    todo: list[Upload],
    token: CancelToken,
    in_flight: int,
) -> LeanLoop | None:
    if len(todo) < 2:
        return None
    try:
        return conn.lean_loop(concurrency=min(in_flight, len(todo)), cancel=token)
    except Exception:
        return None  # e.g. no credentials: the threaded path reports it per upload


# Aborts the server accepted are checked for a racing commit together (see confirm_aborts), each no sooner than
# RACE_SETTLE_SECONDS after its answer: up to this many at once.
CHECK_BATCH = 500
DRAIN_PAUSE = 0.005


class _RaceChecks:
    """Accepted aborts waiting for their check for a racing commit, oldest first."""

    def __init__(self, conn: S3Connection) -> None:
        self.conn = conn
        self.pending: list[Accepted] = []

    def add(self, accepted: Accepted) -> None:
        self.pending.append(accepted)

    def wait(self) -> float | None:
        """Seconds until the oldest may be checked (None: nothing pending)."""
        if not self.pending:
            return None
        return max(0.0, self.pending[0].at + RACE_SETTLE_SECONDS - time.monotonic())

    def due(self) -> list[AbortResult]:
        """Check those accepted at least ``RACE_SETTLE_SECONDS`` ago (up to ``CHECK_BATCH``)."""
        now = time.monotonic()
        ready = 0
        while (
            ready < min(CHECK_BATCH, len(self.pending))
            and self.pending[ready].at + RACE_SETTLE_SECONDS <= now
        ):
            ready += 1
        return self._check(ready) if ready else []

    def rest(self) -> Iterator[AbortResult]:
        """Check all, waiting for the youngest to settle."""
        while self.pending:
            yield from self._check(min(CHECK_BATCH, len(self.pending)))

    def _check(self, count: int) -> list[AbortResult]:
        batch, self.pending = self.pending[:count], self.pending[count:]
        checked = confirm_aborts(self.conn, [(a.upload, a.response) for a in batch], accepted_at=batch[-1].at)
        return verify_aborts(self.conn, checked)


def _on_loop(
    conn: S3Connection,
    loop: LeanLoop,
    todo: list[Upload],
    token: CancelToken,
    policy: RetryPolicy,
) -> Iterator[AbortResult]:
    """DELETEs on the event loop; anything but an accepted abort is redone on the threaded path."""
    answers: queue.SimpleQueue[tuple[str, Upload, Any]] = queue.SimpleQueue()

    def answered(upload: Upload, _call: LeanCall, answer: LeanResponse | BaseException) -> None:
        if isinstance(answer, LeanResponse) and answer.status in (200, 204):
            metadata = {"HTTPStatusCode": answer.status, "HTTPHeaders": answer.headers}
            answers.put(
                ("accepted", upload, Accepted(upload, {"ResponseMetadata": metadata}, time.monotonic()))
            )
        elif isinstance(answer, LoopCancelled):
            answers.put(("skipped", upload, None))
        else:
            # No answer, or a 5xx: that DELETE may have landed. A 4xx (NoSuchUpload, AccessDenied) says it did
            # not, and so does a request that was never sent (the lean path stepped aside, refused, no route).
            landed = answer.status >= 500 if isinstance(answer, LeanResponse) else not never_sent(answer)
            answers.put(("redo", upload, landed))

    def redo(upload: Upload, maybe_landed: bool) -> None:
        try:
            sent = send_abort(conn, upload, policy=policy, cancel=token, maybe_landed=maybe_landed)
            answers.put(("accepted" if isinstance(sent, Accepted) else "done", upload, sent))
        except Cancelled:
            answers.put(("skipped", upload, None))
        except Exception as exc:
            answers.put(("done", upload, AbortResult(upload, ok=False, error=str(exc))))

    checks = _RaceChecks(conn)
    with loop, ThreadPoolExecutor(max_workers=8, thread_name_prefix="mputui-abort") as pool:
        loop.submit(
            (
                LeanCall(
                    "DELETE",
                    u.bucket,
                    conn.bucket_region(u.bucket),
                    key_path(u.key),
                    (("uploadId", u.upload_id),),
                ),
                partial(answered, u),
            )
            for u in todo
        )
        outstanding = len(todo)
        while outstanding:
            for kind, upload, payload in _drain(answers, checks.wait()):
                if kind == "redo":
                    pool.submit(redo, upload, payload)
                    continue
                outstanding -= 1
                if kind == "accepted":
                    checks.add(payload)
                elif kind == "done":
                    yield payload
            yield from checks.due()
    yield from checks.rest()


def _drain(answers: queue.SimpleQueue[tuple[str, Upload, Any]], wait: float | None) -> list[Any]:
    """The next answer (waiting up to ``wait``) and every one that arrives within a few ms after it: one
    wake-up of this thread per batch, not per abort, at hundreds of aborts a second."""
    try:
        batch = [answers.get(timeout=wait)]
    except queue.Empty:
        return []
    time.sleep(DRAIN_PAUSE)
    while True:
        try:
            batch.append(answers.get_nowait())
        except queue.Empty:
            return batch
