"""``mputui cp SRC DST``: restartable server-side copy of objects and prefixes (streamed across endpoints)."""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from typing import Any

from mputui.cli.common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    Context,
    add_global_options,
    ask_to_overwrite,
    refuse_unsafe,
    size_arg,
)
from mputui.cli.job_output import LiveLine, note_jobs_elsewhere, shared_event_json, shared_event_text
from mputui.formatting import copy_plan_lines, format_count, format_size, safe_text
from mputui.jobs.copy import Copier, CopyPlan, CopySummary, plan_events
from mputui.jobs.events import (
    JobEvent,
    JobProgress,
    ObjectDone,
    ObjectFailed,
    ObjectSkipped,
    PartSent,
    Planned,
)
from mputui.jobs.kinds import Action
from mputui.jobs.plan import DEFAULT_PART_SIZE, MAX_PART_SIZE, MIN_PART_SIZE
from mputui.parsing import parse_s3_url
from mputui.s3.connect import ConnectionSettings, S3Connection
from mputui.s3.errors import MputuiError


def register(sub: Any) -> None:
    """Add ``cp`` to the subcommand parsers."""
    cp = sub.add_parser(
        "cp",
        help="copy objects or prefixes, server side, restartable",
        description=(
            "Copy an object (s3://a/k s3://b/k2) or a prefix with cp -r semantics (s3://a/dir s3://b/x/ puts "
            "dir/... under x/; s3://a/dir/* s3://b/x/ puts what dir holds under x/). Large objects are copied "
            "in parts server side and journaled: re-running an interrupted copy finishes it. cp asks only "
            "before it overwrites existing objects with other content (naming them; off a terminal that needs "
            "--yes)."
        ),
    )
    cp.add_argument("src", metavar="SRC", help="s3://BUCKET[/KEY|/PREFIX/|/PREFIX*]")
    cp.add_argument("dst", metavar="DST", help="s3://BUCKET[/KEY|/PREFIX/]")
    cp.add_argument(
        "--part-size",
        type=size_arg,
        default=DEFAULT_PART_SIZE,
        metavar="SIZE",
        help="part size for multipart copies (default 64MiB, at least 5MiB; grown to keep ≤ 10,000 parts)",
    )
    cp.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    cp.add_argument(
        "-y", "--yes", action="store_true", help="overwrite objects with other content without asking"
    )
    cp.add_argument("--json", action="store_true", help="JSON Lines output")
    add_dest_options(cp)
    add_global_options(cp, suppress=True)
    cp.set_defaults(handler=cmd_cp)


def add_dest_options(parser: argparse.ArgumentParser) -> None:
    """``--dest-profile`` / ``--dest-endpoint-url``: other credentials or another endpoint for DST."""
    g = parser.add_argument_group("destination")
    g.add_argument(
        "--dest-profile", metavar="PROFILE", help="AWS profile for the destination (default: --profile)"
    )
    g.add_argument(
        "--dest-endpoint-url",
        metavar="URL",
        help="endpoint of the destination (default: --endpoint-url); another endpoint means a streamed copy",
    )


def dest_settings(args: argparse.Namespace, settings: ConnectionSettings) -> ConnectionSettings | None:
    """Settings for the destination, or None when it is the source's connection."""
    if not args.dest_profile and not args.dest_endpoint_url:
        return None
    return replace(
        settings,
        profile=args.dest_profile or settings.profile,
        endpoint_url=args.dest_endpoint_url or settings.endpoint_url,
    )


def check_part_size(size: int) -> None:
    if not MIN_PART_SIZE <= size <= MAX_PART_SIZE:
        raise MputuiError(
            f"--part-size must be between 5MiB and 5GiB (S3's limits), not {format_size(size)}", exit_code=2
        )


def cmd_cp(args: argparse.Namespace, ctx: Context) -> int:
    """``mputui cp``: plan, confirm, copy with live progress; a re-run resumes or skips what is done."""
    src = parse_s3_url(args.src)
    dst = parse_s3_url(args.dst)
    check_part_size(args.part_size)
    refuse_unsafe(ctx, "copy", yes=True, dry_run=args.dry_run)  # --read-only; --yes is asked for below
    src_conn = S3Connection(ctx.settings)
    dst_extra = dest_settings(args, ctx.settings)
    dst_conn = S3Connection(dst_extra) if dst_extra else src_conn
    printer = CopyPrinter(ctx, json_output=args.json)
    copier = Copier(src_conn, dst_conn, part_size=args.part_size, on_event=printer.on_event)
    plan = copier.plan(src, dst)
    note_jobs_elsewhere(ctx, plan.elsewhere)
    if args.dry_run:
        printer.print_plan(plan)
        return EXIT_OK
    if not confirm(ctx, plan, str(dst), yes=args.yes):
        ctx.err.write("mputui: nothing copied\n")
        return EXIT_FAILED
    printer.start(plan)
    try:
        summary = copier.run(plan)
    except KeyboardInterrupt:
        printer.clear()
        jobs = " ".join(printer.unfinished_jobs) or "ID"
        ctx.err.write(
            f"mputui: interrupted; finished parts are journaled: re-run the command or `mputui jobs resume {jobs}`\n"
        )
        return EXIT_INTERRUPTED
    printer.print_summary(summary, dry_run=False)
    if summary.failed:
        return EXIT_FAILED
    return EXIT_INTERRUPTED if summary.cancelled else EXIT_OK


def confirm(ctx: Context, plan: CopyPlan, dst: str, *, yes: bool) -> bool:
    """Ask only before overwriting existing objects with other content; True to go on."""
    targets = [i.dst for i in plan.items if i.action == Action.REPLACE]
    what = f"{format_count(len(targets))} existing object(s) with other content will be OVERWRITTEN"
    question = "; ".join(line.text for line in copy_plan_lines(plan, dst)) + ". Proceed?"
    return ask_to_overwrite(ctx, what, targets, question, yes=yes)


def event_json(event: JobEvent) -> dict[str, Any] | None:
    """The JSON Lines object for an event (None for progress ticks)."""
    if isinstance(event, Planned):
        return {
            "type": "planned",
            "src": event.src,
            "dst": event.dst,
            "size": event.size,
            "parts": event.parts,
            "action": event.action,
            "method": event.method,
            "job": event.job_id,
        }
    if isinstance(event, PartSent):
        return {
            "type": "part",
            "job": event.job_id,
            "src": event.src,
            "dst": event.dst,
            "part_number": event.part_number,
            "size": event.size,
        }
    if isinstance(event, ObjectDone):
        return {
            "type": "copied",
            "src": event.src,
            "dst": event.dst,
            "size": event.size,
            "parts": event.parts,
            "parts_copied": event.parts_sent,
            "method": event.method,
            "resumed": event.resumed,
            "job": event.job_id,
        }
    return shared_event_json(event, source_field="src")


class CopyPrinter(LiveLine):
    """Prints copy events: JSON Lines, or text lines plus a live progress line on a terminal's stderr."""

    def __init__(self, ctx: Context, *, json_output: bool) -> None:
        super().__init__(ctx, json_output=json_output)
        self._jobs: dict[str, JobProgress] = {}
        self._objects_total = 0
        self._bytes_total = 0
        self._objects_done = 0
        self._bytes_done = 0
        self._moved_done = 0
        self._t0 = time.monotonic()

    def start(self, plan: CopyPlan) -> None:
        todo = [i for i in plan.items if i.action != "skip"]
        self.start_totals(len(todo), sum(i.src.size for i in todo))

    def start_totals(self, objects: int, size: int) -> None:
        self._objects_total = objects
        self._bytes_total = size
        self._t0 = time.monotonic()

    @property
    def unfinished_jobs(self) -> list[str]:
        """Ids of jobs that made progress in this run and did not finish."""
        return sorted(self._jobs)

    def print_plan(self, plan: CopyPlan) -> None:
        for record in plan.stale:
            if self.json:
                self.ctx.json_line(
                    {
                        "type": "planned",
                        "src": record.src,
                        "dst": record.dst,
                        "action": "abort",
                        "job": record.id,
                    }
                )
            else:
                self.ctx.out.write(
                    f"would abort outdated job {record.id} ({safe_text(record.dst)}): source changed\n"
                )
        for event in plan_events(plan):
            if self.json:
                self.ctx.json_line(event_json(event) or {})
            else:
                extra = f", {event.parts} parts" if event.parts > 1 else ""
                self.ctx.out.write(
                    f"would {event.action:<7} {safe_text(event.src)} → {safe_text(event.dst)}  "
                    f"{format_size(event.size)} ({event.method}{extra})\n"
                )
        todo = plan.count("copy", "replace", "resume")
        size = plan.size("copy", "replace", "resume")
        line = {
            "type": "summary",
            "dry_run": True,
            "objects": todo,
            "size": size,
            "replace": plan.count("replace"),
            "resume": plan.count("resume"),
            "skip": plan.count("skip"),
            "abort": len(plan.stale),
        }
        if self.json:
            self.ctx.json_line(line)
        else:
            self.ctx.out.write(
                f"dry run: would copy {todo} object(s), {format_size(size)} "
                f"({line['replace']} replaced, {line['resume']} resumed), skip {line['skip']}\n"
            )

    def on_event(self, event: JobEvent) -> None:
        if isinstance(event, JobProgress):
            self._jobs[event.job_id] = event
            self._progress()
            return
        if isinstance(event, ObjectDone | ObjectFailed):
            self._objects_done += 1
            self._bytes_done += event.size
            job = self._jobs.pop(event.job_id, None) if event.job_id else None
            if isinstance(event, ObjectDone):
                self._moved_done += job.bytes_moved if job is not None else event.size
        if self.json:
            line = event_json(event)
            if line is not None:
                self.ctx.json_line(line)
            return
        if isinstance(event, PartSent):
            self._progress()
            return
        self.clear()
        if isinstance(event, ObjectDone):
            how = f"{event.parts} parts, {event.method}" if event.parts > 1 else event.method
            if event.resumed:
                how += f", resumed: {event.parts_sent} part(s) copied now"
            self.ctx.out.write(
                f"copied  {safe_text(event.src)} → {safe_text(event.dst)}  {format_size(event.size)} ({how})\n"
            )
        elif isinstance(event, ObjectSkipped):
            self.ctx.out.write(f"skipped {safe_text(event.src)} → {safe_text(event.dst)}  ({event.reason})\n")
        else:
            shared_event_text(self.ctx, event)
        self.ctx.out.flush()
        self._progress(force=True)

    def print_summary(self, summary: CopySummary, *, dry_run: bool) -> None:
        self.clear()
        if self.json:
            self.ctx.json_line(
                {
                    "type": "summary",
                    "dry_run": dry_run,
                    "copied": summary.copied,
                    "skipped": summary.skipped,
                    "failed": summary.failed,
                    "bytes_copied": summary.bytes_copied,
                    "parts_copied": summary.parts_copied,
                    "aborted_jobs": summary.aborted_jobs,
                    "cancelled": summary.cancelled,
                    "elapsed": round(summary.elapsed, 3),
                }
            )
            return
        if not summary.copied and not summary.failed and summary.skipped:
            self.ctx.out.write(f"nothing to copy: all {summary.skipped} object(s) already there\n")
            return
        self.ctx.out.write(
            f"copied {summary.copied} object(s), {format_size(summary.bytes_copied)} ({summary.parts_copied} "
            f"part(s)), skipped {summary.skipped}, failed {summary.failed} in {summary.elapsed:.1f}s\n"
        )

    def _progress(self, force: bool = False) -> None:
        if not self.due(force=force):
            return
        now = time.monotonic()
        done = self._bytes_done + sum(p.bytes_done for p in self._jobs.values())
        moved = self._moved_done + sum(p.bytes_moved for p in self._jobs.values())
        elapsed = now - self._t0
        rate = moved / elapsed if elapsed > 0 else 0.0
        eta = (
            f"ETA {int((self._bytes_total - done) / rate)}s" if rate > 0 and done < self._bytes_total else ""
        )
        self.show(
            f"{self._objects_done}/{self._objects_total} objects  {format_size(done)}/"
            f"{format_size(self._bytes_total)}  {format_size(int(rate))}/s  {eta}"
        )
