"""Output of ``mputui put`` and ``mputui resume``: JSON Lines objects and the live TTY progress line."""

from __future__ import annotations

from typing import Any

from mputui.cli.common import (
    Context,
)
from mputui.cli.job_output import LiveLine, shared_event_json, shared_event_text
from mputui.formatting import format_ranges as ranges
from mputui.formatting import format_size, safe_text
from mputui.jobs.events import (
    JobEvent,
    JobProgress,
    ObjectDone,
    ObjectSkipped,
    PartSent,
    Planned,
    RunProgress,
)
from mputui.jobs.put import PutSummary, plan_events
from mputui.jobs.put_plan import PutPlan
from mputui.jobs.resume import ResumePlan, ResumeSummary


def event_json(event: JobEvent) -> dict[str, Any] | None:
    """The JSON Lines object for an event (None for progress ticks)."""
    if isinstance(event, Planned):
        return {
            "type": "planned",
            "path": event.src,
            "dst": event.dst,
            "size": event.size,
            "action": event.action,
            "reason": event.reason,
            "parts": event.parts,
            "copy_from": event.copy_from,
            "job": event.job_id,
        }
    if isinstance(event, PartSent):
        return {
            "type": "part",
            "job": event.job_id,
            "path": event.src,
            "dst": event.dst,
            "part_number": event.part_number,
            "size": event.size,
        }
    if isinstance(event, ObjectDone):
        return {
            "type": "copied" if event.method == "copy" else "uploaded",
            "path": event.src,
            "dst": event.dst,
            "size": event.size,
            "method": event.method,
            "parts": event.parts,
            "parts_sent": event.parts_sent,
            "bytes_sent": event.bytes_sent,
            "resumed": event.resumed,
            "copy_from": event.copy_from,
            "job": event.job_id,
            "etag": event.etag,
        }
    return shared_event_json(event, source_field="path")


class PutPrinter(LiveLine):
    """Prints put/resume events: JSON Lines, or text lines plus a live progress line on a terminal's stderr."""

    def __init__(self, ctx: Context, *, json_output: bool) -> None:
        super().__init__(ctx, json_output=json_output)
        self._hashed = 0
        self._progress: RunProgress | None = None

    def start(self, files: int, size: int) -> None:
        self._progress = None
        self._last = 0.0

    def hashed(self, n: int) -> None:
        """MD5 pass progress (from worker threads)."""
        self._hashed += n
        self._line(f"hashing local files: {format_size(self._hashed)}")

    def verifying(self, done: int, total: int) -> None:
        self._line(f"checking parts against the file: {format_size(done)} / {format_size(total)}")

    def on_event(self, event: JobEvent) -> None:
        if isinstance(event, RunProgress):
            self._progress = event
            self._show_progress(event)
            return
        if isinstance(event, JobProgress | PartSent):
            if self.json and isinstance(event, PartSent):
                self.ctx.json_line(event_json(event) or {})
            return
        if self.json:
            line = event_json(event)
            if line is not None:
                self.ctx.json_line(line)
            return
        self.clear()
        if isinstance(event, ObjectDone):
            if event.method == "copy":
                how = f"server-side copy of {safe_text(event.copy_from or '?')}"
            elif event.method == "multipart":
                how = f"{event.parts} parts"
                if event.resumed:
                    how += f", resumed: {event.parts_sent} sent now"
            else:
                how = "put"
            self.ctx.out.write(
                f"{'copied  ' if event.method == 'copy' else 'uploaded'} {safe_text(event.dst)}  "
                f"{format_size(event.size)} ({how})\n"
            )
        elif isinstance(event, ObjectSkipped):
            self.ctx.out.write(f"skipped  {safe_text(event.dst)}  ({event.reason})\n")
        else:
            shared_event_text(self.ctx, event)
        self.ctx.out.flush()
        if self._progress is not None:
            self._show_progress(self._progress, force=True)

    def _show_progress(self, p: RunProgress, *, force: bool = False) -> None:
        if not self.due(force=force):
            return
        eta = f"  ETA {int(p.eta)}s" if p.eta is not None and p.bytes_done < p.bytes_total else ""
        active = ""
        if p.active:
            names = ", ".join(safe_text(d.rsplit("/", 1)[-1]) for d in p.active[:3])
            active = f"  [{names}{', …' if len(p.active) > 3 else ''}]"
        text = (
            f"{p.files_done}/{p.files_total} files  {format_size(p.bytes_done)}/{format_size(p.bytes_total)}  "
            f"{format_size(int(p.rate))}/s{eta}{active}"
        )
        self.show(text[:200])

    def _line(self, text: str) -> None:
        if self.due():
            self.show(text)

    # -- plans and summaries ----------------------------------------------------------------------------------

    def print_plan(self, plan: PutPlan) -> None:
        for record in plan.stale:
            if self.json:
                self.ctx.json_line(
                    {
                        "type": "planned",
                        "path": record.src,
                        "dst": record.dst,
                        "action": "abort",
                        "job": record.id,
                    }
                )
            else:
                self.ctx.out.write(
                    f"would abort outdated job {record.id} ({safe_text(record.dst)}): the file changed\n"
                )
        for event in plan_events(plan):
            if self.json:
                self.ctx.json_line(event_json(event) or {})
                continue
            extra = f", {event.parts} parts" if event.parts > 1 else ""
            source = f" from {safe_text(event.copy_from)}" if event.copy_from else ""
            self.ctx.out.write(
                f"would {event.action:<7} {safe_text(event.src)} → {safe_text(event.dst)}  "
                f"{format_size(event.size)} ({event.reason}{extra}){source}\n"
            )
        upload = plan.count("upload", "replace", "resume")
        upload_bytes, copy_bytes = plan.size("upload", "replace", "resume"), plan.size("copy")
        line: dict[str, Any] = {
            "type": "summary",
            "dry_run": True,
            "upload": upload,
            "upload_bytes": upload_bytes,
            "copy": plan.count("copy"),
            "copy_bytes": copy_bytes,
            "replace": plan.count("replace"),
            "resume": plan.count("resume"),
            "skip": plan.count("skip"),
            "limited": plan.limited,
            "abort": len(plan.stale),
        }
        if self.json:
            self.ctx.json_line(line)
        else:
            self.ctx.out.write(
                f"dry run: would upload {upload} file(s), {format_size(upload_bytes)} "
                f"({line['replace']} replaced, {line['resume']} resumed), copy {line['copy']} server side "
                f"({format_size(copy_bytes)} not sent), skip {line['skip']}"
                + (f", leave {plan.limited} for later (--limit)" if plan.limited else "")
                + "\n"
            )

    def print_summary(self, s: PutSummary) -> None:
        self.clear()
        if self.json:
            self.ctx.json_line(
                {
                    "type": "summary",
                    "dry_run": False,
                    "uploaded": s.uploaded,
                    "copied": s.copied,
                    "skipped": s.skipped,
                    "failed": s.failed,
                    "resumed": s.resumed,
                    "bytes_uploaded": s.bytes_uploaded,
                    "bytes_saved": s.bytes_saved,
                    "parts_sent": s.parts_sent,
                    "aborted_jobs": s.aborted_jobs,
                    "limited": s.limited,
                    "cancelled": s.cancelled,
                    "elapsed": round(s.elapsed, 3),
                }
            )
            return
        rate = s.bytes_uploaded / s.elapsed if s.elapsed > 0 else 0.0
        self.ctx.out.write(
            f"uploaded {s.uploaded} file(s), {format_size(s.bytes_uploaded)} in {s.elapsed:.1f}s "
            f"({format_size(int(rate))}/s); copied {s.copied} server side, saving {format_size(s.bytes_saved)}; "
            f"skipped {s.skipped}; failed {s.failed}\n"
        )

    def print_resume_plan(self, plan: ResumePlan) -> None:
        if self.json:
            self.ctx.json_line(
                {
                    "type": "plan",
                    "bucket": plan.bucket,
                    "key": plan.key,
                    "upload_id": plan.upload_id,
                    "path": plan.path,
                    "file_size": plan.file_size,
                    "part_size": plan.part_size,
                    "parts_total": plan.parts_total,
                    "listed_parts": plan.listed,
                    "present": list(plan.present),
                    "send": list(plan.send),
                    "mismatched": list(plan.mismatched),
                    "extra": list(plan.extra),
                    "unknown": list(plan.unknown),
                    "bytes_to_send": plan.bytes_to_send if plan.part_size else None,
                    "job": plan.job_id,
                    "finished": plan.finished,
                    "problems": list(plan.problems),
                }
            )
            return
        out = self.ctx.out
        out.write(
            f"resume plan for {safe_text(plan.dst)} (upload {safe_text(plan.upload_id)}) from {safe_text(plan.path)}\n"
        )
        out.write(f"  file:      {format_size(plan.file_size)} ({plan.file_size} bytes)\n")
        if plan.part_size:
            out.write(
                f"  parts:     {plan.parts_total} of {format_size(plan.part_size)}; {plan.listed} listed\n"
            )
            out.write(f"  matching:  {len(plan.present)} part(s), {format_size(plan.bytes_present)} kept\n")
            out.write(
                f"  to send:   {len(plan.send)} part(s), {format_size(plan.bytes_to_send)}"
                + (f" (numbers {ranges(list(plan.send))})" if plan.send else "")
                + "\n"
            )
        if plan.mismatched:
            out.write(f"  mismatch:  part(s) {ranges(list(plan.mismatched))}\n")
        if plan.job_id:
            out.write(f"  journal:   job {plan.job_id}\n")
        if plan.finished:
            out.write(
                f"  complete:  already: the upload is gone and {safe_text(plan.dst)} holds what job "
                f"{plan.job_id} was writing (its run stopped before forgetting the job); nothing to send\n"
            )
        for problem in plan.problems:
            out.write(f"  PROBLEM:   {problem}\n")

    def print_resume_summary(self, s: ResumeSummary, plan: ResumePlan) -> None:
        self.clear()
        if self.json:
            self.ctx.json_line(
                {
                    "type": "summary",
                    "completed": s.completed,
                    "dst": plan.dst,
                    "upload_id": plan.upload_id,
                    "job": s.job_id,
                    "parts_sent": s.parts_sent,
                    "bytes_sent": s.bytes_sent,
                    "parts_present": s.parts_present,
                    "etag": s.etag,
                    "cancelled": s.cancelled,
                    "error": s.error,
                    "resumable": s.resumable,
                    "elapsed": round(s.elapsed, 3),
                }
            )
        elif s.completed:
            self.ctx.out.write(
                f"completed {safe_text(plan.dst)}: {format_size(plan.file_size)}, ETag {s.etag}; sent "
                f"{s.parts_sent} part(s), {format_size(s.bytes_sent)}, kept {s.parts_present} in {s.elapsed:.1f}s\n"
            )
        if s.error:
            hint = f"; finish with `mputui jobs resume {s.job_id}`" if s.resumable and s.job_id else ""
            self.ctx.err.write(f"mputui: error: {s.error}{hint}\n")
        elif s.cancelled and not self.json:
            self.ctx.err.write(f"mputui: cancelled; resume again with `mputui jobs resume {s.job_id}`\n")
