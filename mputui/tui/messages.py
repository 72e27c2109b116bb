"""Messages that worker threads post to the app (``post_message`` is thread-safe).

Every scan message carries the id of the scan that produced it, so results of a cancelled or superseded
scan can be told apart and dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from mputui.jobs.events import JobEvent, JobProgress, RunProgress
from mputui.jobs.journal import JobRecord
from mputui.jobs.journaled import Summary
from mputui.s3.actions import AbortResult
from mputui.s3.connect import S3Connection
from mputui.s3.models import Part, ScanEvent, Upload
from mputui.tui.viewcalc import ViewResult


@dataclass
class Connected(Message):
    """The S3 connection exists (no request has been made yet)."""

    conn: S3Connection


@dataclass
class ConnectionFailed(Message):
    """The S3 connection could not be created (bad profile, endpoint, region...)."""

    error: str


@dataclass
class UploadsFound(Message):
    """A batch of streamed uploads (batched: one message per ~100 ms or 500 uploads)."""

    scan_id: int
    uploads: list[Upload]


@dataclass
class ScanEventPosted(Message):
    """Any other scan event (buckets listed, bucket done, progress, failure, finished)."""

    scan_id: int
    event: ScanEvent

    def can_replace(self, message: Message) -> bool:
        # Only progress ticks are interchangeable; the newest one is all the status line needs.
        from mputui.s3.models import ScanProgress

        return (
            isinstance(message, ScanEventPosted)
            and message.scan_id == self.scan_id
            and isinstance(message.event, ScanProgress)
            and isinstance(self.event, ScanProgress)
        )


@dataclass
class PartsListed(Message):
    """The parts of one upload (or why they could not be listed)."""

    upload: Upload
    parts: list[Part] | None
    error: str | None = None


@dataclass
class AbortsDone(Message):
    """A batch of finished aborts."""

    results: list[AbortResult]


@dataclass
class AbortFinished(Message):
    """Every requested abort has reported (or the run was cancelled)."""

    cancelled: bool = False


@dataclass
class ViewComputed(Message):
    """A background computation of the uploads view finished (``seq`` tells superseded ones apart)."""

    seq: int
    result: ViewResult


@dataclass
class JournalLoaded(Message):
    """The job journal was read: records by the upload they own, and every record."""

    by_upload: dict[tuple[str, str, str], JobRecord]
    records: list[JobRecord]


@dataclass
class JobEventPosted(Message):
    """An event of a running job (progress ticks replace each other: the newest is all the view needs)."""

    run_id: int
    event: JobEvent

    def can_replace(self, message: Message) -> bool:
        if not isinstance(message, JobEventPosted) or message.run_id != self.run_id:
            return False
        if isinstance(message.event, RunProgress) and isinstance(self.event, RunProgress):
            return True
        return (
            isinstance(message.event, JobProgress)
            and isinstance(self.event, JobProgress)
            and message.event.job_id == self.event.job_id
        )


@dataclass
class JobEnded(Message):
    """A job's worker returned: its summary, or the error that stopped it."""

    run_id: int
    summary: Summary | None
    error: str | None = None
