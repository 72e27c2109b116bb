"""Frozen events that put and resume report (besides ``JobProgress``, ``ObjectSkipped``, ``ObjectFailed`` and
``JobAborted`` from ``mputui.jobs.events``, which they share with copies), and the run-wide progress tracker."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from mputui.jobs.events import JobAborted, JobProgress, ObjectFailed, ObjectSkipped


@dataclass(frozen=True, slots=True)
class FilePlanned:
    """What put will do with one file: ``action`` is upload, replace, resume, copy (server side) or skip."""

    path: str
    dst: str
    size: int
    action: str
    reason: str
    parts: int = 1
    copy_from: str | None = None  # the s3:// URL a server-side copy is made from
    job_id: str | None = None


@dataclass(frozen=True, slots=True)
class PartUploaded:
    """One part of a local file was uploaded, checked against its MD5 and journaled."""

    job_id: str
    path: str
    dst: str
    part_number: int
    size: int


@dataclass(frozen=True, slots=True)
class FileUploaded:
    """A file is complete at its destination. ``method``: put (one request), multipart or copy (server side,
    from ``copy_from``); ``bytes_sent`` is what this run sent (0 for a copy)."""

    path: str
    dst: str
    size: int
    method: str
    parts: int = 1
    parts_sent: int = 1
    bytes_sent: int = 0
    resumed: bool = False
    copy_from: str | None = None
    job_id: str | None = None
    etag: str | None = None


@dataclass(frozen=True, slots=True)
class PutProgress:
    """A snapshot of a whole put (or resume) run. ``bytes_done`` counts finished bytes including parts found
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


PutEvent = (
    FilePlanned
    | PartUploaded
    | FileUploaded
    | PutProgress
    | JobProgress
    | ObjectSkipped
    | ObjectFailed
    | JobAborted
)
PutCallback = Callable[[PutEvent], None]


class PutTracker:
    """Thread-safe totals of one run; emits ``PutProgress`` when a file or part ends, and at most every
    ``interval`` otherwise."""

    def __init__(
        self,
        files_total: int,
        bytes_total: int,
        emit: Callable[[PutProgress], None],
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

    def snapshot(self) -> PutProgress:
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

    def _snapshot(self, now: float) -> PutProgress:
        elapsed = now - self._t0
        rate = self.bytes_sent / elapsed if elapsed > 0 else 0.0
        remaining = max(0, self.bytes_total - self.bytes_done)
        eta = remaining / rate if rate > 0 else (0.0 if remaining == 0 else None)
        return PutProgress(
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
