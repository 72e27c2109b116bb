"""The one vocabulary of frozen events that copy, put and resume report to their callback (the CLI prints them,
the TUI posts them as messages), the typed source they carry, and the trackers that make progress snapshots."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from mputui.jobs.kinds import Action, CopyMethod, Method


class PartState(StrEnum):
    """Where one part of a multipart job stands."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class JobProgress:
    """A snapshot of one job. ``bytes_moved``/``rate``: by this run (not parts found done); ``eta`` in seconds."""

    job_id: str
    src: str
    dst: str
    bytes_done: int
    bytes_total: int
    parts_done: int
    parts_total: int
    rate: float
    eta: float | None
    part_states: tuple[PartState, ...] = ()
    bytes_moved: int = 0

    @property
    def fraction(self) -> float:
        return self.bytes_done / self.bytes_total if self.bytes_total else 1.0


@dataclass(frozen=True, slots=True)
class S3Source:
    """An S3 object a job reads (copies)."""

    bucket: str
    key: str

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def __str__(self) -> str:
        return self.url


@dataclass(frozen=True, slots=True)
class FileSource:
    """A local file a job reads (put, resume)."""

    path: str

    def __str__(self) -> str:
        return self.path


Source = S3Source | FileSource


@dataclass(frozen=True, slots=True)
class Planned:
    """What a run will do for one object. ``action``: copy, upload, replace, resume or skip (a put's copy from
    ``copy_from`` is a server-side copy of an identical object); ``method`` how (copies); ``reason`` why
    (puts)."""

    source: Source
    dst: str
    size: int
    action: Action
    parts: int = 1
    method: CopyMethod | None = None
    reason: str = ""
    copy_from: str | None = None  # the s3:// URL a put's server-side copy is made from
    job_id: str | None = None

    @property
    def src(self) -> str:
        return str(self.source)


@dataclass(frozen=True, slots=True)
class PartSent:
    """One part was sent (copied server side, streamed, or uploaded from a file) and journaled by this run."""

    job_id: str
    source: Source
    dst: str
    part_number: int
    size: int

    @property
    def src(self) -> str:
        return str(self.source)


@dataclass(frozen=True, slots=True)
class ObjectDone:
    """An object is complete at its destination. ``method``: put (one request), multipart, stream, or copy
    (server side, from ``copy_from``); ``parts_sent`` counts the parts this run sent, ``bytes_sent`` the bytes
    it uploaded from a file."""

    source: Source
    dst: str
    size: int
    method: Method
    parts: int = 1
    parts_sent: int = 1
    bytes_sent: int = 0
    resumed: bool = False
    copy_from: str | None = None
    job_id: str | None = None
    etag: str | None = None

    @property
    def src(self) -> str:
        return str(self.source)


@dataclass(frozen=True, slots=True)
class ObjectSkipped:
    """Nothing to do: the destination already holds the same content."""

    source: Source
    dst: str
    size: int
    reason: str

    @property
    def src(self) -> str:
        return str(self.source)


@dataclass(frozen=True, slots=True)
class ObjectFailed:
    """The object was not written. ``resumable``: its upload is journaled under ``job_id``."""

    source: Source
    dst: str
    size: int
    error: str
    job_id: str | None = None
    resumable: bool = False

    @property
    def src(self) -> str:
        return str(self.source)


@dataclass(frozen=True, slots=True)
class JobAborted:
    """A journaled job was aborted (its upload removed), e.g. because its source changed."""

    job_id: str
    source: Source
    dst: str
    reason: str

    @property
    def src(self) -> str:
        return str(self.source)


@dataclass(frozen=True, slots=True)
class RunProgress:
    """A snapshot of a whole run (put, resume). ``bytes_done`` counts finished bytes including parts found
    already uploaded and server-side copies; ``rate`` is what this run sent per second; ``active`` lists the
    destinations being transferred right now."""

    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int
    bytes_sent: int
    bytes_copied: int
    rate: float
    eta: float | None
    active: tuple[str, ...] = ()

    @property
    def fraction(self) -> float:
        return self.bytes_done / self.bytes_total if self.bytes_total else 1.0


JobEvent = (
    Planned | PartSent | ObjectDone | ObjectSkipped | ObjectFailed | JobAborted | JobProgress | RunProgress
)
EventCallback = Callable[[JobEvent], None]


class ProgressTracker:
    """Thread-safe per-part bookkeeping for one job that emits ``JobProgress`` when a part ends (and when one
    starts, at most every ``interval``)."""

    def __init__(
        self,
        job_id: str,
        src: str,
        dst: str,
        part_sizes: list[int],
        emit: Callable[[JobProgress], None],
        *,
        interval: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.job_id, self.src, self.dst = job_id, src, dst
        self._sizes = part_sizes
        self._states = [PartState.PENDING] * len(part_sizes)
        self._emit = emit
        self._interval = interval
        self._clock = clock
        self._t0 = clock()
        self._last = float("-inf")
        self._moved = 0  # bytes moved by this run (parts done earlier do not count toward the rate)
        self._done_bytes = 0
        self._done_parts = 0
        self._lock = threading.Lock()

    def preset_done(self, part_numbers: Iterable[int]) -> None:
        """Mark parts found already done (resume) without a report; they do not count toward the rate."""
        with self._lock:
            for n in part_numbers:
                self._set(n, PartState.DONE)

    def set_state(self, part_number: int, state: PartState) -> None:
        """Record a part's new state and report it."""
        with self._lock:
            self._set(part_number, state)
            if state is PartState.DONE:
                self._moved += self._sizes[part_number - 1]
            now = self._clock()
            # Part starts are throttled; ends always report, so the last snapshot is never stale.
            if state is PartState.RUNNING and now - self._last < self._interval:
                return
            self._last = now
            snapshot = self._snapshot(now)
        self._emit(snapshot)

    def _set(self, part_number: int, state: PartState) -> None:
        old = self._states[part_number - 1]
        if old is PartState.DONE and state is not PartState.DONE:
            self._done_bytes -= self._sizes[part_number - 1]
            self._done_parts -= 1
        elif state is PartState.DONE and old is not PartState.DONE:
            self._done_bytes += self._sizes[part_number - 1]
            self._done_parts += 1
        self._states[part_number - 1] = state

    def snapshot(self) -> JobProgress:
        """The current progress."""
        with self._lock:
            return self._snapshot(self._clock())

    def _snapshot(self, now: float) -> JobProgress:
        total = sum(self._sizes)
        elapsed = now - self._t0
        rate = self._moved / elapsed if elapsed > 0 else 0.0
        remaining = total - self._done_bytes
        eta = remaining / rate if rate > 0 else (0.0 if remaining == 0 else None)
        return JobProgress(
            job_id=self.job_id,
            src=self.src,
            dst=self.dst,
            bytes_done=self._done_bytes,
            bytes_total=total,
            parts_done=self._done_parts,
            parts_total=len(self._sizes),
            rate=rate,
            eta=eta,
            part_states=tuple(self._states),
            bytes_moved=self._moved,
        )


class RunTracker:
    """Thread-safe totals of one run; emits ``RunProgress`` when a file or part ends, and at most every
    ``interval`` otherwise."""

    def __init__(
        self,
        files_total: int,
        bytes_total: int,
        emit: Callable[[RunProgress], None],
        *,
        interval: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.files_total, self.bytes_total = files_total, bytes_total
        self._emit = emit
        self._interval = interval
        self._clock = clock
        self._t0 = clock()
        self._last = float("-inf")
        self._lock = threading.Lock()
        self.files_done = 0
        self.bytes_done = 0
        self.bytes_sent = 0
        self.bytes_copied = 0
        self._active: dict[str, int] = {}

    def started(self, dst: str) -> None:
        with self._lock:
            self._active[dst] = self._active.get(dst, 0) + 1
        self._report(force=False)

    def present(self, size: int) -> None:
        """Bytes found already uploaded (resumed parts): done, but not sent by this run."""
        with self._lock:
            self.bytes_done += size
        self._report(force=False)

    def sent(self, size: int) -> None:
        """A part or a small file went up."""
        with self._lock:
            self.bytes_done += size
            self.bytes_sent += size
        self._report(force=True)

    def copied(self, size: int) -> None:
        with self._lock:
            self.bytes_done += size
            self.bytes_copied += size
        self._report(force=True)

    def finished(self, dst: str, *, leftover: int = 0) -> None:
        """A file ended (``leftover``: its bytes not yet counted, e.g. a skipped or failed file)."""
        with self._lock:
            self.files_done += 1
            self.bytes_done += leftover
            left = self._active.get(dst, 0) - 1
            if left > 0:
                self._active[dst] = left
            else:
                self._active.pop(dst, None)
        self._report(force=True)

    def snapshot(self) -> RunProgress:
        with self._lock:
            return self._snapshot(self._clock())

    def _report(self, *, force: bool) -> None:
        with self._lock:
            now = self._clock()
            if not force and now - self._last < self._interval:
                return
            self._last = now
            snap = self._snapshot(now)
        self._emit(snap)

    def _snapshot(self, now: float) -> RunProgress:
        elapsed = now - self._t0
        rate = self.bytes_sent / elapsed if elapsed > 0 else 0.0
        remaining = max(0, self.bytes_total - self.bytes_done)
        eta = remaining / rate if rate > 0 else (0.0 if remaining == 0 else None)
        return RunProgress(
            files_done=self.files_done,
            files_total=self.files_total,
            bytes_done=min(self.bytes_done, self.bytes_total),
            bytes_total=self.bytes_total,
            bytes_sent=self.bytes_sent,
            bytes_copied=self.bytes_copied,
            rate=rate,
            eta=eta,
            active=tuple(self._active),
        )
