"""``mputui ls`` and ``mputui parts``: the inventory and one upload's parts."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TextIO

from mputui.cli.common import EXIT_FAILED, EXIT_OK, Context, add_global_options, duration_arg
from mputui.formatting import (
    age_of,
    checksum_label,
    format_age,
    format_size,
    iso_utc,
    part_flag_text,
    parts_verdict,
    safe_text,
)
from mputui.parsing import S3Url, parse_s3_url
from mputui.s3.checksums import effective_checksum_type
from mputui.s3.commit import plan_commit
from mputui.s3.connect import S3Connection
from mputui.s3.errors import MputuiError, is_gone
from mputui.s3.inventory import InventoryScan, find_upload, list_parts
from mputui.s3.models import BucketDone, ScanFailed, Upload, UploadFound


def register(sub: Any) -> None:
    """Add ``ls`` and ``parts`` to the subcommand parsers."""
    ls = sub.add_parser("ls", help="list in-progress uploads with their sizes", description="List uploads.")
    ls.add_argument("url", nargs="?", help="s3://BUCKET[/PREFIX] (default: every bucket)")
    ls.add_argument(
        "--older-than",
        type=duration_arg,
        metavar="DURATION",
        help="only uploads with no activity (no new part) for this long, e.g. 90m, 12h, 7d, 2w, 6mo (30 days), 1y",
    )
    ls.add_argument("--json", action="store_true", help="JSON Lines output")
    ls.add_argument("-l", "--long", action="store_true", help="show full upload ids")
    add_global_options(ls, suppress=True)
    ls.set_defaults(handler=cmd_ls)

    parts = sub.add_parser(
        "parts",
        help="list the parts of one upload",
        description="List one upload's parts, flagging what would block a commit: gaps in part numbers, "
        "non-last parts under 5 MiB, part numbers over 10,000.",
    )
    parts.add_argument("url", help="s3://BUCKET/KEY")
    parts.add_argument("--upload-id", required=True, help="the upload id (see `mputui ls -l`)")
    parts.add_argument("--json", action="store_true", help="JSON Lines output")
    add_global_options(parts, suppress=True)
    parts.set_defaults(handler=cmd_parts)


def upload_json(upload: Upload) -> dict[str, Any]:
    """The ``"upload"`` JSON Lines object."""
    return {
        "type": "upload",
        "bucket": upload.bucket,
        "key": upload.key,
        "upload_id": upload.upload_id,
        "initiated": iso_utc(upload.initiated),
        "parts": upload.parts,
        "size": upload.size,
        "last_modified": iso_utc(upload.last_modified),
        "storage_class": upload.storage_class,
        "error": upload.error,
        "checksum_algorithm": upload.checksum_algorithm,
        "checksum_type": effective_checksum_type(upload.checksum_algorithm, upload.checksum_type),
    }


@dataclass
class _Tally:
    uploads: list[Upload] = field(default_factory=list)
    parts: int = 0
    size: int = 0
    unknown_sizes: int = 0
    oldest: datetime | None = None

    def add(self, upload: Upload) -> None:
        self.uploads.append(upload)
        if upload.size is None:
            self.unknown_sizes += 1
        else:
            self.size += upload.size
            self.parts += upload.parts or 0
        if self.oldest is None or upload.initiated < self.oldest:
            self.oldest = upload.initiated


def cmd_ls(args: argparse.Namespace, ctx: Context) -> int:
    """``mputui ls``: stream the inventory; per-bucket and grand totals."""
    out, now = ctx.out, ctx.now
    target: S3Url | None = parse_s3_url(args.url) if args.url else None
    conn = S3Connection(ctx.settings)
    cutoff = now - args.older_than if args.older_than is not None else None
    tallies: dict[str, _Tally] = {}
    failed: list[str] = []
    fatal: str | None = None
    totals = _Tally()
    buckets_seen = 0

    def keep(upload: Upload) -> bool:
        return cutoff is None or upload.last_activity <= cutoff

    scan = InventoryScan(conn, bucket=target.bucket if target else None, prefix=target.key if target else "")
    for event in scan.events():
        if isinstance(event, UploadFound):
            if not keep(event.upload):
                continue
            tallies.setdefault(event.upload.bucket, _Tally()).add(event.upload)
            totals.add(event.upload)
            if args.json:
                ctx.json_line(upload_json(event.upload))
        elif isinstance(event, BucketDone):
            buckets_seen += 1
            s = event.summary
            tally = tallies.pop(s.name, _Tally())
            if s.error:
                failed.append(s.name)
            if args.json:
                ctx.json_line(
                    {
                        "type": "bucket",
                        "bucket": s.name,
                        "uploads": len(tally.uploads),
                        "parts": tally.parts,
                        "size": tally.size,
                        "unknown_sizes": tally.unknown_sizes,
                        "oldest": iso_utc(tally.oldest),
                        "error": s.error,
                    },
                )
            else:
                _print_bucket(out, s.name, tally, s.error, now, long=args.long)
        elif isinstance(event, ScanFailed):
            fatal = event.message
    if fatal is not None:
        raise MputuiError(fatal)
    if args.json:
        ctx.json_line(
            {
                "type": "total",
                "buckets": buckets_seen,
                "uploads": len(totals.uploads),
                "parts": totals.parts,
                "size": totals.size,
                "unknown_sizes": totals.unknown_sizes,
                "failed_buckets": len(failed),
            },
        )
    else:
        extra = (
            f", {totals.unknown_sizes} of unknown size (their parts could not be listed)"
            if totals.unknown_sizes
            else ""
        )
        fail = f"; {len(failed)} bucket(s) failed: {', '.join(map(safe_text, failed))}" if failed else ""
        out.write(
            f"total: {buckets_seen} bucket(s), {len(totals.uploads)} upload(s), {totals.parts} part(s), "
            f"{format_size(totals.size)}{extra}{fail}\n"
        )
    # Sizes unknown is a partial failure too: a script summing sizes must not take the total as complete.
    return EXIT_FAILED if failed or totals.unknown_sizes else EXIT_OK


def _short_id(upload_id: str, long: bool) -> str:
    return upload_id if long or len(upload_id) <= 14 else upload_id[:13] + "…"


def _print_bucket(
    out: TextIO, name: str, tally: _Tally, error: str | None, now: datetime, *, long: bool
) -> None:
    head = f"s3://{safe_text(name)}"
    if error:
        out.write(f"{head}  ERROR: {error}\n")
        if not tally.uploads:
            out.write("\n")
            return
    if not tally.uploads:
        out.write(f"{head}  no uploads\n\n")
        return
    # The CHECKSUM column only where an upload has one (servers without flexible checksums: as before).
    sums = any(u.checksum_algorithm for u in tally.uploads)
    rows = [
        (
            "INITIATED",
            "LAST PART",
            "PARTS",
            "SIZE",
            "CLASS",
            *(("CHECKSUM",) if sums else ()),
            "UPLOAD ID",
            "KEY",
        )
    ]
    for u in sorted(tally.uploads, key=lambda u: (u.key, u.initiated)):
        label = checksum_label(
            u.checksum_algorithm, effective_checksum_type(u.checksum_algorithm, u.checksum_type)
        )
        rows.append(
            (
                format_age(age_of(u.initiated, now)),
                format_age(age_of(u.last_modified, now)),
                "?" if u.parts is None else str(u.parts),
                format_size(u.size),
                safe_text(u.storage_class or "-"),
                *((label,) if sums else ()),
                _short_id(safe_text(u.upload_id), long),
                safe_text(u.key) + (f"  [parts not listed: {u.error}]" if u.error else ""),
            )
        )
    left = len(rows[0]) - 1
    widths = [max(len(r[i]) for r in rows) for i in range(left)]
    if not error:
        out.write(f"{head}\n")
    for r in rows:
        cells = [r[i].rjust(widths[i]) for i in range(4)]
        cells += [r[i].ljust(widths[i]) for i in range(4, left)] + [r[left]]
        out.write("  " + "  ".join(cells).rstrip() + "\n")
    unknown = f", {tally.unknown_sizes} of unknown size" if tally.unknown_sizes else ""
    out.write(
        f"  = {len(tally.uploads)} upload(s), {tally.parts} part(s), {format_size(tally.size)}{unknown}, "
        f"oldest {format_age(age_of(tally.oldest, now))}\n\n"
    )


def cmd_parts(args: argparse.Namespace, ctx: Context) -> int:
    """``mputui parts``: every part of one upload."""
    out, now = ctx.out, ctx.now
    url = parse_s3_url(args.url, require_key=True)
    conn = S3Connection(ctx.settings)
    gone = MputuiError(
        f"no upload {args.upload_id!r} for {safe_text(str(url))} "
        "(aborted, completed, never existed, or an upload of another key)"
    )
    upload = find_upload(conn, url.bucket, url.key, args.upload_id)
    if upload is None:
        raise gone
    try:
        parts = list_parts(conn, url.bucket, url.key, args.upload_id)
    except Exception as exc:
        if is_gone(exc):
            raise gone from exc
        raise
    plan = plan_commit(
        url.bucket,
        url.key,
        args.upload_id,
        parts,
        checksum_algorithm=upload.checksum_algorithm,
        checksum_type=upload.checksum_type,
    )
    if args.json:
        for f in plan.flags:
            p = f.part
            ctx.json_line(
                {
                    "type": "part",
                    "part_number": p.part_number,
                    "size": p.size,
                    "etag": p.etag,
                    "last_modified": iso_utc(p.last_modified),
                    "flags": [code.value for code in f.codes],
                    "missing_before": list(f.missing_before) if f.missing_before else None,
                    "checksum_algorithm": p.checksum_algorithm,
                    "checksum": p.checksum,
                },
            )
        return EXIT_OK
    if plan.checksum_algorithm:
        out.write(f"checksum: {checksum_label(plan.checksum_algorithm, plan.checksum_type)}\n")
    sums = any(f.part.checksum for f in plan.flags)
    rows = [("PART", "SIZE", "BYTES", "LAST MODIFIED", "FLAG", "ETAG", *(("CHECKSUM",) if sums else ()))]
    for f in plan.flags:
        p = f.part
        rows.append(
            (
                str(p.part_number),
                format_size(p.size),
                str(p.size),
                f"{format_age(age_of(p.last_modified, now))} ago" if p.last_modified else "-",
                part_flag_text(f) or "-",
                safe_text(p.etag),
                *((safe_text(p.checksum or "-"),) if sums else ()),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        cells = [r[0].rjust(widths[0]), r[1].rjust(widths[1]), r[2].rjust(widths[2]), r[3].rjust(widths[3])]
        line = "  ".join([*cells, r[4].ljust(widths[4])]) + "  "
        line += f"{r[5].ljust(widths[5])}  {r[6]}" if sums else r[5]
        out.write(line + "\n")
    total = sum(f.part.size for f in plan.flags)
    verdict, _ = parts_verdict(plan)
    out.write(f"= {len(plan.flags)} part(s), {format_size(total)} ({total} bytes); {verdict}\n")
    return EXIT_OK
    rows = [("PART", "SIZE", "BYTES", "LAST MODIFIED", "ETAG")]
    for p in parts:
        rows.append(
            (
                str(p.part_number),
                format_size(p.size),
                str(p.size),
                f"{format_age(age_of(p.last_modified, now))} ago" if p.last_modified else "-",
                safe_text(p.etag),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        out.write(
            "  ".join(
                [r[0].rjust(widths[0]), r[1].rjust(widths[1]), r[2].rjust(widths[2]), r[3].rjust(widths[3])]
            )
            + f"  {r[4]}\n"
        )
    total = sum(p.size for p in parts)
    out.write(f"= {len(parts)} part(s), {format_size(total)} ({total} bytes)\n")
    return EXIT_OK
