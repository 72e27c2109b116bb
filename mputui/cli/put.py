"""``mputui put LOCAL_PATH s3://BUCKET/PREFIX`` and ``mputui resume s3://BUCKET/KEY --upload-id ID --file PATH``."""

from __future__ import annotations

import argparse
import os
from typing import Any

from mputui.cli.common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    Context,
    add_global_options,
    ask,
    ask_to_overwrite,
    positive_int,
    refuse_unsafe,
    size_arg,
)
from mputui.cli.copy import check_part_size
from mputui.cli.job_output import note_jobs_elsewhere
from mputui.cli.put_output import PutPrinter
from mputui.formatting import format_count, format_size, safe_text
from mputui.jobs.filerules import Rule
from mputui.jobs.plan import DEFAULT_PART_SIZE
from mputui.jobs.put import Putter
from mputui.jobs.put_plan import MODES, PutOptions, PutPlan
from mputui.jobs.resume import ResumePlan, Resumer
from mputui.parsing import parse_s3_url
from mputui.s3.connect import S3Connection
from mputui.s3.errors import MputuiError

PUT_DESCRIPTION = """\
Upload a file or a tree: keys are PREFIX + the path relative to LOCAL_PATH. Large files go up as concurrent
multipart uploads, journaled so a re-run resumes them; content already under the prefix (or twice in the tree)
is sent once and copied server side. put asks only before it overwrites existing objects with other content
(naming them; off a terminal that needs --yes); --mode add never overwrites, so it never asks."""

RULES_HELP = """\
--include and --exclude (as rsync):
  Rules are tried in the order given; the first whose pattern matches a file decides. A file that no rule
  matches is taken, unless some --include was given: then it is left out.
  A pattern without / is matched against names: the file's, or any directory's on its path (so a rule about
  a directory covers everything in it). A pattern with / is matched against paths relative to LOCAL_PATH:
  the file's, or a directory's (so /TODO is TODO at the top only). A trailing / matches directories only.
  * and ? stay within one name, [a-z] and [!a-z] match one character, ** matches across /. Case-sensitive.

examples:
  --exclude 'page1*' --include '*.html'   .html files but those named page1*; nothing else
  --include '*.html' --exclude 'page1*'   every .html file, page1.html too (the include matches it first);
                                          nothing else
  --exclude '*.tmp' --exclude .git        everything but .tmp files and what is under .git directories
  --include 'docs/**/*.md'                Markdown files anywhere under docs/ (top level), nothing else
  --exclude 'build/' --exclude '/TODO'    leave out directories named build, and the file TODO at the top"""


class RuleAction(argparse.Action):
    """``--include``/``--exclude``: append the rule to one shared list, keeping the command line's order."""

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any, option: Any = None
    ) -> None:
        try:
            rule = Rule(bool(self.const), str(values))
        except ValueError as exc:
            raise argparse.ArgumentError(self, str(exc)) from None
        setattr(namespace, self.dest, [*(getattr(namespace, self.dest, None) or []), rule])


def register(sub: Any) -> None:
    """Add ``put`` and ``resume``."""
    put = sub.add_parser(
        "put",
        help="upload local files in parallel (multipart for large ones), resumable",
        description=PUT_DESCRIPTION,
        epilog=RULES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
    put.add_argument(
        "--include",
        action=RuleAction,
        dest="rules",
        const=True,
        default=[],
        metavar="GLOB",
        help="take matching files (first matching rule wins; once any is given, unmatched files are left out)",
    )
    put.add_argument(
        "--exclude",
        action=RuleAction,
        dest="rules",
        const=False,
        default=[],
        metavar="GLOB",
        help="leave out matching files (first matching rule wins)",
    )
    put.add_argument(
        "--part-size",
        type=size_arg,
        default=DEFAULT_PART_SIZE,
        metavar="SIZE",
        help="files above this go up in parts of this size (default 64MiB, at least 5MiB)",
    )
    put.add_argument("--no-dedupe", action="store_true", help="upload duplicates instead of copying them")
    put.add_argument("--dry-run", action="store_true", help="print what would be done, change nothing")
    put.add_argument(
        "-y", "--yes", action="store_true", help="overwrite objects with other content without asking"
    )
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


# -- put ------------------------------------------------------------------------------------------------------


def cmd_put(args: argparse.Namespace, ctx: Context) -> int:
    """Plan (walk, list, hash), confirm, upload with live progress; a re-run resumes or skips what is done."""
    dst = parse_s3_url(args.dst)
    check_part_size(args.part_size)
    if not os.path.exists(args.local_path):
        raise MputuiError(f"no such file or directory: {args.local_path}", exit_code=EXIT_USAGE)
    refuse_unsafe(ctx, "upload", yes=True, dry_run=args.dry_run)  # --read-only; --yes is asked for below
    options = PutOptions(
        mode=args.mode,
        part_size=args.part_size,
        gzip=args.gzip,
        content_type=args.content_type,
        rules=tuple(args.rules),
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
    note_jobs_elsewhere(ctx, plan.elsewhere)
    if args.dry_run:
        printer.print_plan(plan)
        return EXIT_OK
    todo = plan.todo
    if not _confirmed(ctx, args, plan, str(dst)):
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


def _confirmed(ctx: Context, args: argparse.Namespace, plan: PutPlan, dst: str) -> bool:
    """Ask only before overwriting: objects with other content (``update``), or whatever is at the keys
    (``always`` does not look); ``add`` never overwrites, so it never asks."""
    if args.mode == "always":
        targets = [i.dst for i in plan.todo]
        what = (
            f"--mode always does not look: whatever is at these {format_count(len(targets))} key(s) "
            "is OVERWRITTEN"
        )
    else:
        targets = list(plan.overwrites)
        what = f"{format_count(len(targets))} existing object(s) with other content will be OVERWRITTEN"
    question = (
        f"upload {plan.count('upload', 'replace', 'resume')} file(s), "
        f"{format_size(plan.size('upload', 'replace', 'resume'))}, and copy {plan.count('copy')} server side "
        f"to {safe_text(dst)}"
    )
    if plan.stale:
        question += f"; {len(plan.stale)} outdated job(s) aborted"
    return ask_to_overwrite(ctx, what, targets, question + ". Proceed?", yes=args.yes)


# -- resume ---------------------------------------------------------------------------------------------------


def cmd_resume(args: argparse.Namespace, ctx: Context) -> int:
    """Plan (list parts, hash the matching chunks), refuse a wrong file, confirm, send what is missing."""
    url = parse_s3_url(args.url, require_key=True)
    if os.path.isdir(args.file):
        raise MputuiError(f"--file {safe_text(args.file)} is a directory, not a file", exit_code=EXIT_USAGE)
    if args.part_size is not None:
        check_part_size(args.part_size)
    refuse_unsafe(ctx, "resume an upload", yes=args.yes, dry_run=args.dry_run)
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
    if not args.yes and not ask(
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


# -- output ---------------------------------------------------------------------------------------------------
