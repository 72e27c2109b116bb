"""What the copy and put/resume printers share: JSON for the engine's common events, and the live TTY line."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from mputui.cli.common import Context
from mputui.formatting import safe_text
from mputui.jobs.events import JobAborted, ObjectFailed, ObjectSkipped
from mputui.jobs.journal import JobRecord

SharedEvent = ObjectSkipped | ObjectFailed | JobAborted


def shared_event_json(event: object, *, source_field: str) -> dict[str, Any] | None:
    """The JSON Lines object of a skipped/failed/aborted event (None for any other event).

    ``source_field`` names the source: ``src`` (an S3 URL) for copies, ``path`` (a local file) for puts.
    """
    if isinstance(event, ObjectSkipped):
        return {
            "type": "skipped",
            source_field: event.src,
            "dst": event.dst,
            "size": event.size,
            "reason": event.reason,
        }
    if isinstance(event, ObjectFailed):
        return {
            "type": "failed",
            source_field: event.src,
            "dst": event.dst,
            "size": event.size,
            "error": event.error,
            "job": event.job_id,
            "resumable": event.resumable,
        }
    if isinstance(event, JobAborted):
        return {
            "type": "aborted",
            "job": event.job_id,
            source_field: event.src,
            "dst": event.dst,
            "reason": event.reason,
        }
    return None


def shared_event_text(ctx: Context, event: object) -> bool:
    """Write a failed or aborted event's error line to stderr; False for any other event."""
    if isinstance(event, ObjectFailed):
        ctx.err.write(f"mputui: error: {safe_text(event.src)} → {safe_text(event.dst)}: {event.error}\n")
        return True
    if isinstance(event, JobAborted):
        ctx.err.write(f"mputui: aborted job {event.job_id} ({safe_text(event.dst)}): {event.reason}\n")
        return True
    return False


class LiveLine:
    """One progress line rewritten in place on a terminal's stderr (nothing when stderr is not a terminal)."""

    INTERVAL = 0.2  # seconds between redraws: enough to look live, cheap at thousands of events per second

    def __init__(self, ctx: Context, *, json_output: bool) -> None:
        self.ctx = ctx
        self.json = json_output
        self.live = not json_output and bool(getattr(ctx.err, "isatty", lambda: False)())
        self._shown = False
        self._last = 0.0

    def due(self, *, force: bool = False) -> bool:
        """Whether to redraw now (and, if so, the redraw is counted)."""
        if not self.live:
            return False
        now = time.monotonic()
        if not force and now - self._last < self.INTERVAL:
            return False
        self._last = now
        return True

    def show(self, text: str) -> None:
        """Replace the line with ``text`` (call after ``due()``)."""
        self.ctx.err.write(f"\r\x1b[K{text}")
        self.ctx.err.flush()
        self._shown = True

    def clear(self) -> None:
        """Erase the line, before ordinary output."""
        if self._shown:
            self.ctx.err.write("\r\x1b[K")
            self.ctx.err.flush()
            self._shown = False


def note_jobs_elsewhere(ctx: Context, records: Iterable[JobRecord]) -> None:
    """Name the journaled jobs for these destinations whose endpoint this run could not match to its own."""
    for record in {r.id: r for r in records}.values():
        ctx.err.write(
            f"mputui: an interrupted job for this destination exists: `mputui jobs` (job {record.id}, "
            f"{safe_text(record.dst)} via {safe_text(record.dst_endpoint or 'the default endpoint')})\n"
        )
