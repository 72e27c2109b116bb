"""``mputui commit`` and ``mputui abort``: act on exact uploads (bucket + key + upload id), after confirmation."""

from __future__ import annotations

import argparse
from datetime import timedelta
from typing import Any

from mputui.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    Context,
    add_global_options,
    ask,
    duration_arg,
    refuse_unsafe,
)
from mputui.formatting import (
    age_of,
    commit_plan_lines,
    existing_object_text,
    format_age,
    format_size,
    iso_utc,
    problem_text,
    problems_text,
    replace_warning,
    safe_text,
    verification_problem,
    verification_summary,
)
from mputui.jobs.abort import abort_uploads
from mputui.parsing import parse_s3_url
from mputui.s3.actions import AbortResult
from mputui.s3.checksums import FileVerification, verify_file
from mputui.s3.commit import CommitPlan, complete_upload, load_plan
from mputui.s3.connect import S3Connection
from mputui.s3.errors import MputuiError, describe, is_gone
from mputui.s3.inventory import InventoryScan, find_upload, iter_upload_pages, list_parts, with_parts
from mputui.s3.models import BucketDone, ScanFailed, Upload, UploadFound
from mputui.s3.objects import ObjectInfo

SHOW_TARGETS = 20


def register(sub: Any) -> None:
    """Add ``commit`` and ``abort``."""
    commit = sub.add_parser(
        "commit",
        help="complete an abandoned upload from its listed parts",
        description="Complete an upload from its listed parts, after showing and validating the plan.",
    )
    commit.add_argument("url", help="s3://BUCKET/KEY")
    commit.add_argument("--upload-id", required=True, help="the upload to complete")
    commit.add_argument(
        "--contiguous-prefix",
        action="store_true",
        help="if part numbers have a gap, commit parts 1..k before the first gap (later parts are discarded)",
    )
    commit.add_argument(
        "--verify-file", metavar="PATH", help="check every part against this local file first"
    )
    commit.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an object that exists at the key (by default the commit refuses)",
    )
    _add_action_options(commit)
    commit.set_defaults(handler=cmd_commit)

    abort = sub.add_parser(
        "abort",
        help="abort uploads (exact targets only)",
        description="Abort uploads in one bucket: one (--upload-id), the stale ones (--older-than) or all (--all).",
    )
    abort.add_argument("url", help="s3://BUCKET[/KEY-OR-PREFIX]")
    which = abort.add_mutually_exclusive_group(required=True)
    which.add_argument("--upload-id", help="abort exactly this upload (the URL names its key)")
    which.add_argument(
        "--older-than",
        type=duration_arg,
        metavar="DURATION",
        help="abort uploads with no activity (no new part) for this long: 90m, 12h, 7d, 2w, 6mo (30 days), 1y",
    )
    which.add_argument("--all", action="store_true", help="abort every upload under the bucket/prefix")
    _add_action_options(abort)
    abort.set_defaults(handler=cmd_abort)


def _add_action_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dry-run", action="store_true", help="show what would be done; change nothing")
    parser.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    parser.add_argument("--json", action="store_true", help="JSON Lines output")
    add_global_options(parser, suppress=True)


# --- commit ------------------------------------------------------------------------------------------------


def cmd_commit(args: argparse.Namespace, ctx: Context) -> int:
    """Plan, optionally verify against a local file, confirm, complete, and check the object."""
    url = parse_s3_url(args.url, require_key=True)
    refuse_unsafe(ctx, "commit", yes=args.yes, dry_run=args.dry_run)
    conn = S3Connection(ctx.settings)
    gone = MputuiError(
        f"no upload {args.upload_id!r} for {safe_text(str(url))} "
        "(aborted, completed, never existed, or an upload of another key)"
    )
    upload = find_upload(conn, url.bucket, url.key, args.upload_id)
    if upload is None:
        raise gone
    try:
        plan = load_plan(
            conn, url.bucket, url.key, args.upload_id, contiguous_prefix=args.contiguous_prefix, upload=upload
        )
    except Exception as exc:
        if is_gone(exc):
            raise gone from exc
        raise
    existing = plan.existing
    verification = _verify(args, ctx, plan) if args.verify_file else None
    _show_plan(args, ctx, plan, existing, verification)
    if not plan.ok:
        ctx.err.write(f"mputui: error: refusing to commit: {problems_text(plan.problems, flag_hints=True)}\n")
        return EXIT_FAILED
    if existing is not None and not args.overwrite:
        ctx.err.write(f"mputui: error: refusing to commit: {_exists_refusal(existing)}\n")
        return EXIT_FAILED
    if verification is not None and not verification.ok:
        ctx.err.write(f"mputui: error: refusing to commit: {verification_problem(verification)}\n")
        return EXIT_FAILED
    if args.dry_run:
        if not args.json:
            ctx.out.write("dry run: nothing committed\n")
        return EXIT_OK
    replace_note = " and REPLACE the existing object" if existing is not None else ""
    question = (
        f"Commit {len(plan.parts)} part(s), {format_size(plan.size)}, to "
        f"{safe_text(f's3://{plan.bucket}/{plan.key}')}{replace_note}?"
    )
    if not args.yes and not ask(ctx, question):
        ctx.err.write("cancelled: nothing committed\n")
        return EXIT_FAILED
    result = complete_upload(conn, plan, overwrite=args.overwrite)
    record = {
        "bucket": plan.bucket,
        "key": plan.key,
        "upload_id": plan.upload_id,
        "size": plan.size,
        "parts": len(plan.parts),
    }
    if args.json:
        if result.ok:
            ctx.json_line({"type": "committed", **record, "etag": result.etag, "verified": result.verified})
        else:
            failed = {"type": "failed", **record, "error": result.error, "status": result.status}
            if result.status == "refused":
                failed["existing_object"] = _object_record(result.existing)
            ctx.json_line(failed)
    elif result.ok:
        note = "" if result.verified else f" ({result.error})"
        ctx.out.write(
            f"committed {safe_text(f's3://{plan.bucket}/{plan.key}')}: {format_size(plan.size)}, "
            f"ETag {result.etag}{note}\n"
        )
    elif result.status == "refused":
        ctx.err.write(f"mputui: error: commit refused: {_exists_refusal(result.existing)}\n")
    else:
        ctx.err.write(f"mputui: error: commit {result.status}: {result.error}\n")
    return EXIT_OK if result.ok and result.verified else EXIT_FAILED


def _exists_refusal(existing: ObjectInfo | None) -> str:
    return f"{existing_object_text(existing)}; nothing committed (--overwrite replaces it)"


def _object_record(obj: ObjectInfo | None) -> dict[str, Any] | None:
    if obj is None:
        return None
    return {"size": obj.size, "last_modified": iso_utc(obj.last_modified), "etag": obj.etag}


def _verify(args: argparse.Namespace, ctx: Context, plan: CommitPlan) -> FileVerification:
    show = not args.json and ctx.err.isatty()

    def progress(done: int, total: int) -> None:
        if show:
            ctx.err.write(f"\rverifying {format_size(done)} / {format_size(total)}")
            ctx.err.flush()

    try:
        result = verify_file(
            args.verify_file, plan.parts, algorithm=plan.checksum_algorithm, progress=progress
        )
    except OSError as exc:
        raise MputuiError(f"cannot read {args.verify_file}: {exc.strerror}", exit_code=EXIT_USAGE) from exc
    if show:
        ctx.err.write("\r\x1b[K")
    return result


def _show_plan(
    args: argparse.Namespace,
    ctx: Context,
    plan: CommitPlan,
    existing: ObjectInfo | None,
    verification: FileVerification | None,
) -> None:
    if args.json:
        obj: dict[str, Any] = {
            "type": "plan",
            "bucket": plan.bucket,
            "key": plan.key,
            "upload_id": plan.upload_id,
            "parts": len(plan.parts),
            "listed_parts": plan.listed,
            "size": plan.size,
            "etag": plan.etag,
            "dropped_parts": list(plan.dropped),
            "replaces_object": existing is not None and args.overwrite,
            "existing_object": _object_record(existing),
            "problems": [problem_text(p, flag_hints=True) for p in plan.problems],
            "problem_codes": [p.code.value for p in plan.problems],
            "checksum_algorithm": plan.checksum_algorithm,
            "checksum_type": plan.checksum_type,
            "checksum": plan.checksum,
            "parts_with_checksum": sum(1 for p in plan.parts if p.checksum),
        }
        if verification is not None:
            obj["verify"] = {
                "path": verification.path,
                "matching": verification.matching,
                "mismatching": list(verification.mismatching),
                "missing": list(verification.missing),
                "file_size": verification.file_size,
                "local_etag": verification.local_etag,
                "checksum_algorithm": verification.checksum_algorithm,
                "checksums_compared": verification.checksums_compared,
                "checksum_note": verification.checksum_note,
                "ok": verification.ok,
            }
        ctx.json_line(obj)
        return
    out = ctx.out
    out.write(
        f"commit plan for {safe_text(f's3://{plan.bucket}/{plan.key}')} (upload {safe_text(plan.upload_id)})\n"
    )
    for line in commit_plan_lines(plan):
        out.write(f"  {line.text}\n")
    if existing is not None and args.overwrite:
        out.write(f"  WARNING:   {replace_warning(existing)}\n")
    elif existing is not None:
        out.write(f"  EXISTS:    {existing_object_text(existing)}; --overwrite replaces it\n")
    if verification is not None:
        out.write(f"  verify:    {verification_summary(verification)}\n")
    for problem in plan.problems:
        out.write(f"  PROBLEM:   {problem_text(problem, flag_hints=True)}\n")


# --- abort -------------------------------------------------------------------------------------------------


def cmd_abort(args: argparse.Namespace, ctx: Context) -> int:
    """Abort exact, listed targets concurrently; report each."""
    url = parse_s3_url(args.url)
    if args.upload_id is not None and not url.key:
        raise MputuiError("--upload-id needs the upload's key: s3://BUCKET/KEY", exit_code=EXIT_USAGE)
    refuse_unsafe(ctx, "abort", yes=args.yes, dry_run=args.dry_run)
    conn = S3Connection(ctx.settings)
    skipped_active = 0
    if args.upload_id is not None:
        targets = [_find_upload(conn, url.bucket, url.key, args.upload_id)]
    else:
        targets, skipped_active = _select(conn, url.bucket, url.key, ctx, args.older_than)
    _show_targets(args, ctx, targets, skipped_active, args.older_than, prefix=url.key)
    if not targets:
        if not args.json:
            ctx.out.write("nothing to abort\n")
        return EXIT_OK
    if args.dry_run:
        if not args.json:
            ctx.out.write("dry run: nothing aborted\n")
        return EXIT_OK
    known = sum(u.size or 0 for u in targets)
    if not args.yes and not ask(ctx, f"Abort {len(targets)} upload(s), {format_size(known)}?"):
        ctx.err.write("cancelled: nothing aborted\n")
        return EXIT_FAILED
    code = _run_aborts(args, ctx, conn, targets)
    if args.upload_id is None and not _report_uploads_left(args, ctx, conn, url.bucket):
        code = EXIT_FAILED
    return code


def _find_upload(conn: S3Connection, bucket: str, key: str, upload_id: str) -> Upload:
    upload = find_upload(conn, bucket, key, upload_id)
    if upload is not None:
        try:
            return with_parts(upload, list_parts(conn, bucket, key, upload_id))
        except Exception as exc:
            if not is_gone(exc):
                return upload  # sizes unknown; the abort itself still names the exact target
    raise MputuiError(f"no upload {upload_id!r} for {safe_text(f's3://{bucket}/{key}')} (already gone?)")


def _select(
    conn: S3Connection, bucket: str, prefix: str, ctx: Context, older_than: timedelta | None
) -> tuple[list[Upload], int]:
    """Every listed upload under bucket/prefix that is stale enough; and how many were skipped as active."""
    cutoff = ctx.now - older_than if older_than is not None else None
    targets: list[Upload] = []
    skipped_active = 0
    for event in InventoryScan(conn, bucket=bucket, prefix=prefix).events():
        if isinstance(event, UploadFound):
            u = event.upload
            if cutoff is None or u.last_activity <= cutoff:
                targets.append(u)
            elif u.initiated <= cutoff:
                skipped_active += 1  # old, but a part arrived recently: still being written
        elif isinstance(event, BucketDone) and event.summary.error:
            raise MputuiError(f"cannot list uploads in s3://{bucket}: {event.summary.error}")
        elif isinstance(event, ScanFailed):
            raise MputuiError(event.message)
    targets.sort(key=lambda u: (u.key, u.initiated))
    return targets, skipped_active


def _upload_record(u: Upload) -> dict[str, Any]:
    return {"bucket": u.bucket, "key": u.key, "upload_id": u.upload_id, "size": u.size}


def _show_targets(
    args: argparse.Namespace,
    ctx: Context,
    targets: list[Upload],
    skipped: int,
    older_than: timedelta | None,
    *,
    prefix: str = "",
) -> None:
    if args.json:
        if args.dry_run:
            for u in targets:
                ctx.json_line({"type": "would_abort", **_upload_record(u)})
        if skipped:
            ctx.json_line({"type": "skipped_active", "count": skipped})
        return
    known = sum(u.size or 0 for u in targets)
    unknown = sum(1 for u in targets if u.size is None)
    extra = f" ({unknown} of unknown size)" if unknown else ""
    ctx.out.write(f"{len(targets)} upload(s) to abort, {format_size(known)}{extra}:\n")
    for u in targets[:SHOW_TARGETS]:
        ctx.out.write(
            f"  {safe_text(f's3://{u.bucket}/{u.key}')}  upload {safe_text(u.upload_id)}  "
            f"{'?' if u.parts is None else u.parts} part(s), {format_size(u.size)}, "
            f"initiated {format_age(age_of(u.initiated, ctx.now))} ago, "
            f"last part {format_age(age_of(u.last_modified, ctx.now))}\n"
        )
    if len(targets) > SHOW_TARGETS:
        ctx.out.write(f"  … and {len(targets) - SHOW_TARGETS} more\n")
    if skipped:
        ctx.out.write(
            f"skipped {skipped} upload(s) initiated before the cut-off but with a part newer than "
            f"{format_age(older_than)}: still being written\n"
        )
    beyond = _beyond_prefix(targets, prefix)
    if beyond:
        examples = ", ".join(safe_text(u.key) for u in beyond[:3]) + (", …" if len(beyond) > 3 else "")
        folder = safe_text(prefix + "/")
        ctx.out.write(
            f"note: {safe_text(prefix)} is a key prefix, not a folder: {len(beyond)} of these are neither "
            f"{safe_text(prefix)} nor under {folder} ({examples}); end the URL with / to mean the folder\n"
        )


def _beyond_prefix(targets: list[Upload], prefix: str) -> list[Upload]:
    """Targets that S3's plain string prefix selects past a ``/`` boundary the user may have meant
    (``junk`` selects ``junkyard/a`` and ``junk.txt``, not only ``junk`` and ``junk/…``)."""
    if not prefix or prefix.endswith("/"):
        return []
    return [u for u in targets if u.key != prefix and not u.key.startswith(prefix + "/")]


def _run_aborts(args: argparse.Namespace, ctx: Context, conn: S3Connection, targets: list[Upload]) -> int:
    show_progress = not args.json and ctx.err.isatty()
    done = freed = gone = 0
    failures: list[AbortResult] = []
    unverified: list[AbortResult] = []
    for result in abort_uploads(conn, targets):
        done += 1
        record = _upload_record(result.upload)
        if result.ok or result.already_gone:
            freed += result.upload.size or 0
            gone += int(result.already_gone)
            if args.json:
                extra: dict[str, Any] = (
                    {"raced_commit": True, "warning": result.error} if result.raced_commit else {}
                )
                if result.verified_by_listing:
                    extra["verified_by_listing"] = True
                extra.update(_verification_record(result))
                ctx.json_line({"type": "aborted", **record, "already_gone": result.already_gone, **extra})
            elif result.raced_commit:
                ctx.out.write(
                    f"WARNING {safe_text(f's3://{result.upload.bucket}/{result.upload.key}')}: {result.error}\n"
                )
            if result.ok and not result.verified:
                unverified.append(result)
        else:
            failures.append(result)
            if args.json:
                ctx.json_line(
                    {"type": "failed", **record, "error": result.error, **_verification_record(result)}
                )
        if show_progress:
            ctx.err.write(
                f"\raborting {done}/{len(targets)}  {format_size(freed)} freed  {len(failures)} failed"
            )
            ctx.err.flush()
    if show_progress:
        ctx.err.write("\r\x1b[K")
    if not args.json:
        for f in failures:
            ctx.out.write(
                f"FAILED {safe_text(f's3://{f.upload.bucket}/{f.upload.key}')} upload {safe_text(f.upload.upload_id)}: "
                f"{f.error}\n"
            )
        for u in unverified:
            ctx.out.write(
                f"NOT VERIFIED {safe_text(f's3://{u.upload.bucket}/{u.upload.key}')} upload "
                f"{safe_text(u.upload.upload_id)}: {u.verify_error}\n"
            )
        note = f" ({gone} already gone: aborted or completed elsewhere)" if gone else ""
        checked = f"{len(unverified)} not verified" if unverified else "verified gone"
        ctx.out.write(
            f"aborted {done - len(failures)} upload(s), {format_size(freed)} freed{note}, {checked}; "
            f"{len(failures)} failed\n"
        )
    return EXIT_FAILED if failures else EXIT_OK


def _verification_record(result: AbortResult) -> dict[str, Any]:
    """JSON fields: whether the server showed the upload gone, and the aborts it took when more than one."""
    record: dict[str, Any] = {"verified": result.verified}
    if result.aborts > 1:
        record["aborts"] = result.aborts
    if result.verify_error:
        record["verify_error"] = result.verify_error
    return record


def _report_uploads_left(args: argparse.Namespace, ctx: Context, conn: S3Connection, bucket: str) -> bool:
    """After aborting a listing's selection: list the bucket afresh and say how many uploads it still has
    ("no uploads left": DeleteBucket will not fail for uploads). False when the listing failed."""
    try:
        left = sum(len(page) for page in iter_upload_pages(conn, bucket))
    except Exception as exc:
        if args.json:
            ctx.json_line({"type": "bucket", "bucket": bucket, "uploads_left": None, "error": describe(exc)})
        else:
            ctx.out.write(f"bucket {safe_text(bucket)}: cannot list its uploads afresh: {describe(exc)}\n")
        return False
    if args.json:
        ctx.json_line({"type": "bucket", "bucket": bucket, "uploads_left": left})
    elif left:
        ctx.out.write(f"bucket {safe_text(bucket)}: {left} upload(s) left\n")
    else:
        ctx.out.write(f"bucket {safe_text(bucket)}: no uploads left\n")
    return True
