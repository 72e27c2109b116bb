"""Frozen events a running job reports to its callback (the CLI prints them, the TUI posts them as messages)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum


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
class CopyPlanned:
    """What a copy will do for one object: ``action`` is copy, replace, resume or skip."""

    src: str
    dst: str
    size: int
    parts: int
    action: str
    method: str
    job_id: str | None = None


@dataclass(frozen=True, slots=True)
class PartCopied:
    """One part was copied (server side or streamed) and journaled by this run."""

    job_id: str
    src: str
    dst: str
    part_number: int
    size: int


@dataclass(frozen=True, slots=True)
class ObjectCopied:
    """An object is complete at its destination. ``parts_copied`` counts the parts this run moved."""

    src: str
    dst: str
    size: int
    parts: int
    parts_copied: int
    method: str
    resumed: bool = False
    job_id: str | None = None


@dataclass(frozen=True, slots=True)
class ObjectSkipped:
    """Nothing to do: the destination already holds the same content."""

    src: str
    dst: str
    size: int
    reason: str


@dataclass(frozen=True, slots=True)
class ObjectFailed:
    """The object was not copied. ``resumable``: its upload is journaled under ``job_id``."""

    src: str
    dst: str
    size: int
    error: str
    job_id: str | None = None
    resumable: bool = False


@dataclass(frozen=True, slots=True)
class JobAborted:
    """A journaled job was aborted (its upload removed), e.g. because its source changed."""

    job_id: str
    src: str
    dst: str
    reason: str


CopyEvent = CopyPlanned | PartCopied | ObjectCopied | ObjectSkipped | ObjectFailed | JobAborted | JobProgress
EventCallback = Callable[[CopyEvent], None]


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
