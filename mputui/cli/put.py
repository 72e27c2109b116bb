"""``mputui put LOCAL_PATH s3://BUCKET/PREFIX`` and ``mputui resume s3://BUCKET/KEY --upload-id ID --file PATH``."""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

from mputui.cli.common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    Context,
    add_global_options,
    positive_int,
    size_arg,
)
from mputui.cli.copy import check_part_size
from mputui.formatting import format_size, safe_text
from mputui.jobs.events import JobAborted, JobProgress, ObjectFailed, ObjectSkipped
from mputui.jobs.journal import JobRecord, Journal
from mputui.jobs.plan import DEFAULT_PART_SIZE
from mputui.jobs.put import PutSummary, Putter, plan_events
from mputui.jobs.put_plan import MODES, PutOptions, PutPlan
from mputui.jobs.resume import ResumePlan, Resumer, ResumeSummary
from mputui.jobs.upload import KIND_PUT, KIND_RESUME
from mputui.jobs.upload_events import FilePlanned, FileUploaded, PartUploaded, PutEvent, PutProgress
from mputui.parsing import parse_s3_url
from mputui.s3.commit import _ranges as ranges
from mputui.s3.connect import S3Connection
from mputui.s3.errors import MputuiError


def register(sub: Any) -> None:
    """Add ``put`` and ``resume``."""
    put = sub.add_parser(
        "put",
        help="upload local files in parallel (multipart for large ones), resumable",
        description=(
            "Upload a file or a tree: keys are PREFIX + the path relative to LOCAL_PATH. Large files go up as "
            "concurrent multipart uploads, journaled so a re-run resumes them; content already under the "
            "prefix (or twice in the tree) is sent once and copied server side."
        ),
    )
    put.add_argument("local_path", metavar="LOCAL_PATH", help="a file or a directory")
    put.add_argument("dst", metavar="DST", help="s3://BUCKET[/PREFIX]")
    put.add_argument(
        "--mode",
        choices=MODES,
        default="update",
        help="add: only absent keys; update (default): also changed content (by MD5); always: no checks",
    )
    put.add_argument("--limit", type=positive_int, metavar="N", help="upload no more than N files")
    put.add_argument("--content-type", metavar="T", help="Content-Type for every file (default: guessed)")
    put.add_argument("--gzip", action="store_true", help="compress and set Content-Encoding: gzip")
    put.add_argument("--include", action="append", default=[], metavar="GLOB", help="only matching files")
    put.add_argument("--exclude", action="append", default=[], metavar="GLOB", help="skip matching files")
    put.add_argument(
        "--part-size",
        type=size_arg,
        default=DEFAULT_PART_SIZE,
        metavar="SIZE",
        help="files above this go up in parts of this size (default 64MiB, at least 5MiB)",
    )
    put.add_argument("--no-dedupe", action="store_true", help="upload duplicates instead of copying them")
    put.add_argument("--dry-run", action="store_true", help="print what would be done, change nothing")
    put.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    put.add_argument("--json", action="store_true", help="JSON Lines output")
    add_global_options(put, suppress=True)
    put.set_defaults(handler=cmd_put)

    resume = sub.add_parser(
        "resume",
        help="finish an abandoned upload from its local file",
        description=(
            "Resume an upload from the file it was made from: lists its parts, infers the part size, checks "
            "each part against the file's MD5, sends only the missing parts, completes and verifies."
        ),
    )
    resume.add_argument("url", metavar="s3://BUCKET/KEY")
    resume.add_argument("--upload-id", required=True, help="the upload to resume")
    resume.add_argument("--file", required=True, metavar="PATH", help="the local file the upload is made of")
    resume.add_argument(
        "--overwrite-mismatched",
        action="store_true",
        help="send parts whose ETag does not match the file again (default: refuse, it may be the wrong file)",
    )
    resume.add_argument(
        "--part-size", type=size_arg, metavar="SIZE", help="only needed when the upload has no parts yet"
    )
    resume.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    resume.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    resume.add_argument("--json", action="store_true", help="JSON Lines output")
    add_global_options(resume, suppress=True)
    resume.set_defaults(handler=cmd_resume)


def _refuse_unsafe(ctx: Context, args: argparse.Namespace, what: str) -> None:
    if args.dry_run:
        return
    if ctx.read_only:
        raise MputuiError(f"--read-only: refusing to {what} (--dry-run shows the plan)", exit_code=EXIT_USAGE)
    if not args.yes and not ctx.stdin_is_tty:
        raise MputuiError(
            f"refusing to {what} without confirmation: stdin is not a terminal; pass --yes",
            exit_code=EXIT_USAGE,
        )


def _ask(ctx: Context, question: str) -> bool:
    ctx.err.write(question + " Proceed? [y/N] ")
    ctx.err.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")


# -- put ------------------------------------------------------------------------------------------------------


def cmd_put(args: argparse.Namespace, ctx: Context) -> int:
    """Plan (walk, list, hash), confirm, upload with live progress; a re-run resumes or skips what is done."""
    dst = parse_s3_url(args.dst)
    check_part_size(args.part_size)
    if not os.path.exists(args.local_path):
        raise MputuiError(f"no such file or directory: {args.local_path}", exit_code=EXIT_USAGE)
    _refuse_unsafe(ctx, args, "upload")
    options = PutOptions(
        mode=args.mode,
        part_size=args.part_size,
        gzip=args.gzip,
        content_type=args.content_type,
        includes=tuple(args.include),
        excludes=tuple(args.exclude),
        limit=args.limit,
        dedupe=not args.no_dedupe,
    )
    printer = PutPrinter(ctx, json_output=args.json)
    putter = Putter(S3Connection(ctx.settings), options, on_event=printer.on_event)
    try:
        plan = putter.plan(args.local_path, dst, hashed=printer.hashed)
    finally:
        printer.clear()
    for path, why in plan.unreadable:
        ctx.err.write(f"mputui: warning: skipped {safe_text(path)}: {why}\n")
    if args.dry_run:
        printer.print_plan(plan)
        return EXIT_OK
    todo = plan.todo
    if todo and not args.yes:
        question = (
            f"upload {plan.count('upload', 'replace', 'resume')} file(s), "
            f"{format_size(plan.size('upload', 'replace', 'resume'))}, and copy {plan.count('copy')} server side "
            f"to {safe_text(str(dst))}"
        )
        if plan.count("replace"):
            question += f"; {plan.count('replace')} existing object(s) will be REPLACED"
        if plan.stale:
            question += f"; {len(plan.stale)} outdated job(s) aborted"
        if not _ask(ctx, question + "."):
            ctx.err.write("mputui: nothing uploaded\n")
            return EXIT_FAILED
    printer.start(len(todo), sum(i.size for i in todo))
    try:
        summary = putter.run(plan)
    except KeyboardInterrupt:
        printer.clear()
        ctx.err.write(
            "mputui: interrupted; finished parts are journaled: re-run the same command to resume\n"
        )
        return EXIT_INTERRUPTED
    printer.print_summary(summary)
    if summary.failed:
        return EXIT_FAILED
    return EXIT_INTERRUPTED if summary.cancelled else EXIT_OK


# -- resume ---------------------------------------------------------------------------------------------------


def cmd_resume(args: argparse.Namespace, ctx: Context) -> int:
    """Plan (list parts, hash the matching chunks), refuse a wrong file, confirm, send what is missing."""
    url = parse_s3_url(args.url, require_key=True)
    if args.part_size is not None:
        check_part_size(args.part_size)
    _refuse_unsafe(ctx, args, "resume an upload")
    printer = PutPrinter(ctx, json_output=args.json)
    resumer = Resumer(S3Connection(ctx.settings), on_event=printer.on_event)
    try:
        plan = resumer.plan(
            url.bucket,
            url.key,
            args.upload_id,
            args.file,
            part_size=args.part_size,
            overwrite_mismatched=args.overwrite_mismatched,
            progress=printer.verifying,
        )
    finally:
        printer.clear()
    printer.print_resume_plan(plan)
    if not plan.ok:
        ctx.err.write("mputui: error: refusing to resume: " + "; ".join(plan.problems) + "\n")
        return EXIT_FAILED
    if args.dry_run:
        if not args.json:
            ctx.out.write("dry run: nothing sent\n")
        return EXIT_OK
    if not args.yes and not _ask(
        ctx,
        f"send {len(plan.send)} part(s), {format_size(plan.bytes_to_send)}, and complete "
        f"{safe_text(plan.dst)} ({format_size(plan.file_size)})?",
    ):
        ctx.err.write("mputui: nothing sent\n")
        return EXIT_FAILED
    return _run_resume(ctx, printer, resumer, plan)


def _run_resume(ctx: Context, printer: PutPrinter, resumer: Resumer, plan: ResumePlan) -> int:
    printer.start(1, plan.file_size)
    try:
        summary = resumer.run(plan)
    except KeyboardInterrupt:
        printer.clear()
        ctx.err.write(
            "mputui: interrupted; sent parts are journaled: re-run the command or `mputui jobs resume`\n"
        )
        return EXIT_INTERRUPTED
    printer.print_resume_summary(summary, plan)
    if summary.error:
        return EXIT_FAILED
    return EXIT_INTERRUPTED if summary.cancelled else EXIT_OK


def resume_job(
    ctx: Context, conn: S3Connection, journal: Journal, record: JobRecord, *, json_output: bool
) -> int:
    """``mputui jobs resume ID`` for a put or resume job."""
    printer = PutPrinter(ctx, json_output=json_output)
    if record.kind == KIND_RESUME:
        resumer = Resumer(conn, journal=journal, on_event=printer.on_event)
        plan = resumer.plan(
            record.dst_bucket,
            record.dst_key,
            record.upload_id or "",
            record.src_key,
            part_size=record.part_size,
            overwrite_mismatched=record.extra.get("overwrite_mismatched") == "1",
        )
        if not plan.ok:
            printer.print_resume_plan(plan)
            raise MputuiError("refusing to resume: " + "; ".join(plan.problems))
        return _run_resume(ctx, printer, resumer, plan)
    if record.kind != KIND_PUT:
        raise MputuiError(f"job {record.id} is a {record.kind} job", exit_code=EXIT_USAGE)
    putter = Putter(conn, journal=journal, on_event=printer.on_event)
    printer.start(1, record.src_size)
    try:
        summary = putter.resume_record(record)
    except KeyboardInterrupt:
        printer.clear()
        ctx.err.write(f"mputui: interrupted; resume again with `mputui jobs resume {record.id}`\n")
        return EXIT_INTERRUPTED
    printer.print_summary(summary)
    if summary.failed:
        return EXIT_FAILED
    return EXIT_INTERRUPTED if summary.cancelled else EXIT_OK


# -- output ---------------------------------------------------------------------------------------------------


def event_json(event: PutEvent) -> dict[str, Any] | None:
    """The JSON Lines object for an event (None for progress ticks)."""
    if isinstance(event, FilePlanned):
        return {
            "type": "planned",
            "path": event.path,
            "dst": event.dst,
            "size": event.size,
            "action": event.action,
            "reason": event.reason,
            "parts": event.parts,
            "copy_from": event.copy_from,
            "job": event.job_id,
        }
    if isinstance(event, PartUploaded):
        return {
            "type": "part",
            "job": event.job_id,
            "path": event.path,
            "dst": event.dst,
            "part_number": event.part_number,
            "size": event.size,
        }
    if isinstance(event, FileUploaded):
        return {
            "type": "copied" if event.method == "copy" else "uploaded",
            "path": event.path,
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
    if isinstance(event, ObjectSkipped):
        return {
            "type": "skipped",
            "path": event.src,
            "dst": event.dst,
            "size": event.size,
            "reason": event.reason,
        }
    if isinstance(event, ObjectFailed):
        return {
            "type": "failed",
            "path": event.src,
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
            "path": event.src,
            "dst": event.dst,
            "reason": event.reason,
        }
    return None


class PutPrinter:
    """Prints put/resume events: JSON Lines, or text lines plus a live progress line on a terminal's stderr."""

    def __init__(self, ctx: Context, *, json_output: bool) -> None:
        self.ctx = ctx
        self.json = json_output
        self.live = not json_output and bool(getattr(ctx.err, "isatty", lambda: False)())
        self._shown = False
        self._last = 0.0
        self._hashed = 0
        self._progress: PutProgress | None = None

    def start(self, files: int, size: int) -> None:
        self._progress = None
        self._last = 0.0

    def hashed(self, n: int) -> None:
        """MD5 pass progress (from worker threads)."""
        self._hashed += n
        self._line(f"hashing local files: {format_size(self._hashed)}")

    def verifying(self, done: int, total: int) -> None:
        self._line(f"checking parts against the file: {format_size(done)} / {format_size(total)}")

    def on_event(self, event: PutEvent) -> None:
        if isinstance(event, PutProgress):
            self._progress = event
            self._show_progress(event)
            return
        if isinstance(event, JobProgress | PartUploaded):
            if self.json and isinstance(event, PartUploaded):
                self.ctx.json_line(event_json(event) or {})
            return
        if self.json:
            line = event_json(event)
            if line is not None:
                self.ctx.json_line(line)
            return
        self.clear()
        if isinstance(event, FileUploaded):
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
        elif isinstance(event, ObjectFailed):
            self.ctx.err.write(
                f"mputui: error: {safe_text(event.src)} → {safe_text(event.dst)}: {event.error}\n"
            )
        elif isinstance(event, JobAborted):
            self.ctx.err.write(
                f"mputui: aborted job {event.job_id} ({safe_text(event.dst)}): {event.reason}\n"
            )
        self.ctx.out.flush()
        if self._progress is not None:
            self._show_progress(self._progress, force=True)

    def _show_progress(self, p: PutProgress, *, force: bool = False) -> None:
        if not self.live:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.2:
            return
        self._last = now
        eta = f"  ETA {int(p.eta)}s" if p.eta is not None and p.bytes_done < p.bytes_total else ""
        active = ""
        if p.active:
            names = ", ".join(safe_text(d.rsplit("/", 1)[-1]) for d in p.active[:3])
            active = f"  [{names}{', …' if len(p.active) > 3 else ''}]"
        text = (
            f"{p.files_done}/{p.files_total} files  {format_size(p.bytes_done)}/{format_size(p.bytes_total)}  "
            f"{format_size(int(p.rate))}/s{eta}{active}"
        )
        self._line(text[:200], throttle=False)

    def _line(self, text: str, *, throttle: bool = True) -> None:
        if not self.live:
            return
        now = time.monotonic()
        if throttle and now - self._last < 0.2:
            return
        self._last = now
        self.ctx.err.write(f"\r\x1b[K{text}")
        self.ctx.err.flush()
        self._shown = True

    def clear(self) -> None:
        if self._shown:
            self.ctx.err.write("\r\x1b[K")
            self.ctx.err.flush()
            self._shown = False

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
                f"would {event.action:<7} {safe_text(event.path)} → {safe_text(event.dst)}  "
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
                    "problems": list(plan.problems),
                }
            )
            return
        out = self.ctx.out
        out.write(
            f"resume plan for {safe_text(plan.dst)} (upload {plan.upload_id}) from {safe_text(plan.path)}\n"
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
