"""``mputui jobs``: list journaled (interrupted or running) jobs; ``jobs resume ID``; ``jobs abort ID``."""

from __future__ import annotations

import argparse
from dataclasses import replace
from datetime import datetime
from typing import Any

from mputui.cli.common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    Context,
    add_global_options,
    ask,
    refuse_unsafe,
)
from mputui.cli.copy import CopyPrinter, add_dest_options
from mputui.cli.put_output import PutPrinter
from mputui.formatting import age_of, format_age, format_size, safe_text
from mputui.jobs.copy import Copier, CopySummary
from mputui.jobs.events import FileSource
from mputui.jobs.journal import JobRecord, Journal
from mputui.jobs.journaled import ResumeRefused, resume
from mputui.jobs.kinds import JobKind, Outcome
from mputui.jobs.multipart import ABORTED, ALREADY_COMPLETE
from mputui.jobs.put import PutSummary
from mputui.jobs.resume import ResumeSummary
from mputui.jobs.transfer import SourceChanged
from mputui.s3.connect import ConnectionSettings, S3Connection
from mputui.s3.errors import MputuiError


def register(sub: Any) -> None:
    """Add ``jobs`` (with ``resume`` and ``abort``) to the subcommand parsers."""
    jobs = sub.add_parser(
        "jobs",
        help="list, resume or abort journaled copy jobs",
        description="Multipart uploads mputui started are journaled until they complete or are aborted.",
    )
    jobs.add_argument("--json", action="store_true", help="JSON Lines output")
    add_global_options(jobs, suppress=True)
    jobs.set_defaults(handler=cmd_jobs)
    actions = jobs.add_subparsers(dest="jobs_command", metavar="ACTION", parser_class=type(jobs))

    resume = actions.add_parser(
        "resume", help="finish an interrupted job", description="Finish a journaled job."
    )
    resume.add_argument("job_id", metavar="ID", help="job id (or a unique prefix), see `mputui jobs`")
    resume.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    resume.add_argument("--json", action="store_true", help="JSON Lines output")
    add_dest_options(resume)
    add_global_options(resume, suppress=True)
    resume.set_defaults(handler=cmd_resume)

    abort = actions.add_parser(
        "abort", help="abort a job's upload and forget the job", description="Abort a journaled job's upload."
    )
    abort.add_argument("job_id", metavar="ID", help="job id (or a unique prefix), see `mputui jobs`")
    abort.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    abort.add_argument("--json", action="store_true", help="JSON Lines output")
    add_dest_options(abort)
    add_global_options(abort, suppress=True)
    abort.set_defaults(handler=cmd_abort)


def record_json(record: JobRecord) -> dict[str, Any]:
    """The ``"job"`` JSON Lines object."""
    return {
        "type": "job",
        "id": record.id,
        "kind": record.kind,
        "method": record.method,
        "src": record.src,
        "dst": record.dst,
        "upload_id": record.upload_id,
        "src_etag": record.src_etag,
        "size": record.src_size,
        "part_size": record.part_size,
        "parts_total": record.parts_total,
        "parts_done": len(record.done),
        "bytes_done": record.bytes_done,
        "src_endpoint": record.src_endpoint,
        "dst_endpoint": record.dst_endpoint,
        "created": record.created,
        "updated": record.updated,
    }


def cmd_jobs(args: argparse.Namespace, ctx: Context) -> int:
    """``mputui jobs``: every journaled job."""
    journal = Journal()
    records = journal.records()
    for _, problem in journal.problems():
        ctx.err.write(f"mputui: warning: {safe_text(problem)}\n")
    if args.json:
        for r in records:
            ctx.json_line(record_json(r))
        return EXIT_OK
    if not records:
        ctx.out.write("no journaled jobs\n")
        return EXIT_OK
    rows = [("ID", "PARTS", "DONE", "SIZE", "UPDATED", "COPY")]
    for r in records:
        updated = datetime.fromisoformat(r.updated.replace("Z", "+00:00"))
        rows.append(
            (
                r.id,
                f"{len(r.done)}/{r.parts_total}",
                format_size(r.bytes_done),
                format_size(r.src_size),
                f"{format_age(age_of(updated, ctx.now))} ago",
                f"{safe_text(r.src)} → {safe_text(r.dst)}"
                + ("" if r.upload_id else "  (upload not created yet)"),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for row in rows:
        cells = [row[0].ljust(widths[0])] + [row[i].rjust(widths[i]) for i in range(1, 5)]
        ctx.out.write("  ".join([*cells, row[5]]) + "\n")
    ctx.out.write(
        f"{len(records)} job(s); finish one with `mputui jobs resume ID`, or `mputui jobs abort ID`\n"
    )
    return EXIT_OK


def _connections(
    args: argparse.Namespace, ctx: Context, record: JobRecord
) -> tuple[S3Connection, S3Connection]:
    """Connections for a journaled job: the journaled endpoints/profiles unless options say otherwise."""
    given = ctx.settings

    def pick(
        endpoint: str | None, profile: str | None, opt_endpoint: str | None, opt_profile: str | None
    ) -> ConnectionSettings:
        return replace(
            given,
            endpoint_url=opt_endpoint or endpoint or given.endpoint_url,
            profile=opt_profile or profile or given.profile,
        )

    src_settings = pick(record.src_endpoint, record.src_profile, given.endpoint_url, given.profile)
    dst_settings = pick(record.dst_endpoint, record.dst_profile, args.dest_endpoint_url, args.dest_profile)
    src = S3Connection(src_settings)
    dst = src if dst_settings == src_settings else S3Connection(dst_settings)
    return src, dst


def cmd_resume(args: argparse.Namespace, ctx: Context) -> int:
    """``mputui jobs resume ID``: copy the missing parts and complete; abort if the source changed."""
    refuse_unsafe(ctx, "resume a job", yes=args.yes)
    journal = Journal()
    record = journal.find(args.job_id)
    if not args.yes and not ask(
        ctx,
        f"resume job {record.id}: {safe_text(record.src)} → {safe_text(record.dst)}, "
        f"{len(record.done)}/{record.parts_total} parts done, send the rest and complete?",
    ):
        ctx.err.write("mputui: nothing resumed\n")
        return EXIT_FAILED
    src, dst = _connections(args, ctx, record)
    # A job reading a local file prints as put/resume do (``path``), one reading S3 as cp does (``src``).
    printer: CopyPrinter | PutPrinter
    if isinstance(record.source, FileSource):
        printer = PutPrinter(ctx, json_output=args.json)
        printer.start(1, record.src_size)
    else:
        printer = CopyPrinter(ctx, json_output=args.json)
        printer.start_totals(1, record.src_size)
    try:
        summary = resume(record, src, dst, journal=journal, on_event=printer.on_event)
    except ResumeRefused as exc:
        if isinstance(printer, PutPrinter):
            printer.print_resume_plan(exc.plan)
        raise
    except SourceChanged as exc:
        printer.clear()
        raise MputuiError(exc.message) from exc
    except KeyboardInterrupt:
        printer.clear()
        ctx.err.write(
            f"mputui: interrupted; {_RESUME_AGAIN.get(record.kind, _RESUME_JOB).format(record.id)}\n"
        )
        return EXIT_INTERRUPTED
    if isinstance(summary, ResumeSummary):
        if isinstance(printer, PutPrinter) and summary.plan is not None:
            printer.print_resume_summary(summary, summary.plan)
    elif isinstance(printer, PutPrinter):
        assert isinstance(summary, PutSummary)
        printer.print_summary(summary)
    else:
        assert isinstance(summary, CopySummary)
        printer.print_summary(summary, dry_run=False)
    return _EXIT[summary.outcome]


_EXIT = {Outcome.DONE: EXIT_OK, Outcome.CANCELLED: EXIT_INTERRUPTED, Outcome.FAILED: EXIT_FAILED}
_RESUME_JOB = "resume again with `mputui jobs resume {}`"
# What a stopped resume of an upload from a file has always said (``mputui resume`` says the same).
_RESUME_AGAIN = {JobKind.RESUME: "sent parts are journaled: re-run the command or `mputui jobs resume`"}


def cmd_abort(args: argparse.Namespace, ctx: Context) -> int:
    """``mputui jobs abort ID``: abort exactly the job's upload, then forget the job."""
    refuse_unsafe(ctx, "abort a job", yes=args.yes)
    journal = Journal()
    record = journal.find(args.job_id)
    if not args.yes and not ask(
        ctx,
        f"abort job {record.id}: upload {safe_text(record.upload_id or '(not created)')} of {safe_text(record.dst)}, "
        f"{len(record.done)}/{record.parts_total} parts done?",
    ):
        ctx.err.write("mputui: nothing aborted\n")
        return EXIT_FAILED
    src, dst = _connections(args, ctx, record)
    outcome = Copier(src, dst, journal=journal).abort(record)
    if args.json:
        ctx.json_line(
            {
                "type": "aborted",
                "job": record.id,
                "src": record.src,
                "dst": record.dst,
                "upload_id": record.upload_id,
                "already_gone": outcome != ABORTED,
                "complete": outcome == ALREADY_COMPLETE,
            }
        )
    elif outcome == ABORTED:
        ctx.out.write(
            f"aborted job {record.id}: upload {safe_text(record.upload_id or '-')} of {safe_text(record.dst)}\n"
        )
    elif outcome == ALREADY_COMPLETE:
        ctx.out.write(
            f"job {record.id} was complete: {safe_text(record.dst)} holds what it was writing (its run stopped "
            "before forgetting the job); nothing aborted, job forgotten\n"
        )
    else:
        upload = f"upload {safe_text(record.upload_id)}" if record.upload_id else "its upload (never created)"
        ctx.out.write(
            f"job {record.id}: {upload} of {safe_text(record.dst)} was already gone (aborted or completed "
            "elsewhere); nothing aborted, job forgotten\n"
        )
    return EXIT_OK
