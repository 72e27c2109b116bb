"""Command line: ``mputui [OPTIONS] [COMMAND]``. No command opens the TUI.

Exit codes: 0 success, 1 something failed at run time (a bucket, the connection), 2 usage or configuration
error, 130 interrupted. Every error is one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn, TextIO

from mputui import __version__
from mputui.formatting import age_of, format_age, format_size, iso_utc, safe_text
from mputui.parsing import ParseError, S3Url, parse_duration, parse_s3_url
from mputui.s3.connect import DEFAULT_CONCURRENCY, ConnectionSettings, S3Connection
from mputui.s3.errors import MputuiError, describe, is_gone, is_usage_error
from mputui.s3.inventory import InventoryScan, list_parts
from mputui.s3.models import BucketDone, ScanFailed, ScanFinished, Upload, UploadFound

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line (and exit 2) instead of usage + error."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"mputui: error: {message} (see `{self.prog} --help`)\n")


def _duration(text: str) -> timedelta:
    try:
        return parse_duration(text)
    except ParseError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _add_global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """Options valid before and after the subcommand (``suppress`` keeps a subparser from resetting them)."""

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    g = parser.add_argument_group("connection")
    g.add_argument("--profile", default=default(None), help="AWS profile (default: the boto3 chain)")
    g.add_argument(
        "--endpoint-url",
        default=default(None),
        help="S3 endpoint, e.g. https://objects-us-east-1.dream.io (default: AWS_ENDPOINT_URL, the profile, AWS)",
    )
    g.add_argument("--region", default=default(None), help="region for signing (default: from the profile)")
    g.add_argument(
        "--path-style",
        action="store_true",
        default=default(False),
        help="path-style addressing (DreamObjects, MinIO, Ceph RGW)",
    )
    g.add_argument(
        "--concurrency",
        type=_positive_int,
        default=default(DEFAULT_CONCURRENCY),
        metavar="N",
        help=f"parallel requests (default {DEFAULT_CONCURRENCY})",
    )
    g.add_argument(
        "--demo",
        action="store_true",
        default=default(False),
        help="use an embedded local S3 endpoint seeded with demo uploads (needs mputui[demo])",
    )
    g.add_argument(
        "--read-only",
        action="store_true",
        default=default(False),
        help="never change anything: destructive actions are hidden and refused",
    )


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (exposed for tests and docs)."""
    parser = _Parser(
        prog="mputui",
        description="Find, size and fix incomplete S3 multipart uploads. Without a command, opens the TUI.",
    )
    parser.add_argument("--version", action="version", version=f"mputui {__version__}")
    _add_global_options(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    ls = sub.add_parser("ls", help="list in-progress uploads with their sizes", description="List uploads.")
    ls.add_argument("url", nargs="?", help="s3://BUCKET[/PREFIX] (default: every bucket)")
    ls.add_argument(
        "--older-than",
        type=_duration,
        metavar="DURATION",
        help="only uploads with no activity (no new part) for this long, e.g. 90m, 12h, 7d, 2w",
    )
    ls.add_argument("--json", action="store_true", help="JSON Lines output")
    ls.add_argument("-l", "--long", action="store_true", help="show full upload ids")
    _add_global_options(ls, suppress=True)

    parts = sub.add_parser(
        "parts", help="list the parts of one upload", description="List one upload's parts."
    )
    parts.add_argument("url", help="s3://BUCKET/KEY")
    parts.add_argument("--upload-id", required=True, help="the upload id (see `mputui ls -l`)")
    parts.add_argument("--json", action="store_true", help="JSON Lines output")
    _add_global_options(parts, suppress=True)

    demo = sub.add_parser(
        "demo",
        help="run the embedded demo S3 endpoint in the foreground",
        description="Run a local S3 endpoint seeded with demo uploads; prints how to point mputui at it.",
    )
    demo.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    demo.add_argument("--no-seed", action="store_true", help="start empty")
    demo.add_argument("--json", action="store_true", help="print the endpoint as one JSON line")
    _add_global_options(demo, suppress=True)
    return parser


# --- helpers -----------------------------------------------------------------------------------------


def settings_from_args(args: argparse.Namespace) -> ConnectionSettings:
    """ConnectionSettings from parsed options (validated: raises MputuiError with exit code 2)."""
    settings = ConnectionSettings(
        profile=args.profile,
        endpoint_url=args.endpoint_url,
        region=args.region,
        path_style=args.path_style,
        concurrency=args.concurrency,
    )
    settings.validate()
    return settings


def _json_line(out: TextIO, obj: dict[str, Any]) -> None:
    out.write(json.dumps(obj, ensure_ascii=True) + "\n")


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


# --- commands ----------------------------------------------------------------------------------------


def cmd_ls(args: argparse.Namespace, settings: ConnectionSettings, out: TextIO, now: datetime) -> int:
    """``mputui ls``: stream the inventory; per-bucket and grand totals."""
    target: S3Url | None = parse_s3_url(args.url) if args.url else None
    conn = S3Connection(settings)
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
                _json_line(out, upload_json(event.upload))
                out.flush()
        elif isinstance(event, BucketDone):
            buckets_seen += 1
            s = event.summary
            tally = tallies.pop(s.name, _Tally())
            if s.error:
                failed.append(s.name)
            if args.json:
                _json_line(
                    out,
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
                out.flush()
            else:
                _print_bucket(out, s.name, tally, s.error, now, long=args.long)
        elif isinstance(event, ScanFailed):
            fatal = event.message
        elif isinstance(event, ScanFinished):
            pass
    if fatal is not None:
        raise MputuiError(fatal)
    if args.json:
        _json_line(
            out,
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
        extra = f", {totals.unknown_sizes} of unknown size" if totals.unknown_sizes else ""
        fail = f"; {len(failed)} bucket(s) failed: {', '.join(failed)}" if failed else ""
        out.write(
            f"total: {buckets_seen} bucket(s), {len(totals.uploads)} upload(s), {totals.parts} part(s), "
            f"{format_size(totals.size)}{extra}{fail}\n"
        )
    return EXIT_FAILED if failed else EXIT_OK


def _short_id(upload_id: str, long: bool) -> str:
    return upload_id if long or len(upload_id) <= 14 else upload_id[:13] + "…"


def _print_bucket(
    out: TextIO, name: str, tally: _Tally, error: str | None, now: datetime, *, long: bool
) -> None:
    head = f"s3://{name}"
    if error:
        out.write(f"{head}  ERROR: {error}\n")
        if not tally.uploads:
            out.write("\n")
            return
    if not tally.uploads:
        out.write(f"{head}  no uploads\n\n")
        return
    rows = [("INITIATED", "LAST PART", "PARTS", "SIZE", "CLASS", "UPLOAD ID", "KEY")]
    for u in sorted(tally.uploads, key=lambda u: (u.key, u.initiated)):
        rows.append(
            (
                format_age(age_of(u.initiated, now)),
                format_age(age_of(u.last_modified, now)),
                "?" if u.parts is None else str(u.parts),
                format_size(u.size),
                u.storage_class or "-",
                _short_id(u.upload_id, long),
                safe_text(u.key) + (f"  [parts not listed: {u.error}]" if u.error else ""),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(6)]
    if not error:
        out.write(f"{head}\n")
    for r in rows:
        cells = [r[0].rjust(widths[0]), r[1].rjust(widths[1]), r[2].rjust(widths[2]), r[3].rjust(widths[3])]
        cells += [r[4].ljust(widths[4]), r[5].ljust(widths[5]), r[6]]
        out.write("  " + "  ".join(cells).rstrip() + "\n")
    unknown = f", {tally.unknown_sizes} of unknown size" if tally.unknown_sizes else ""
    out.write(
        f"  = {len(tally.uploads)} upload(s), {tally.parts} part(s), {format_size(tally.size)}{unknown}, "
        f"oldest {format_age(age_of(tally.oldest, now))}\n\n"
    )


def cmd_parts(args: argparse.Namespace, settings: ConnectionSettings, out: TextIO, now: datetime) -> int:
    """``mputui parts``: every part of one upload."""
    url = parse_s3_url(args.url, require_key=True)
    conn = S3Connection(settings)
    try:
        parts = list_parts(conn, url.bucket, url.key, args.upload_id)
    except Exception as exc:
        if is_gone(exc):
            raise MputuiError(
                f"no upload {args.upload_id!r} for {safe_text(str(url))} (aborted, completed, or never existed)"
            ) from exc
        raise
    if args.json:
        for p in parts:
            _json_line(
                out,
                {
                    "type": "part",
                    "part_number": p.part_number,
                    "size": p.size,
                    "etag": p.etag,
                    "last_modified": iso_utc(p.last_modified),
                },
            )
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


def cmd_demo(args: argparse.Namespace) -> int:
    """``mputui demo``: the embedded endpoint in the foreground."""
    from mputui import demo

    return demo.run_foreground(port=args.port, seed=not args.no_seed, json_output=args.json)


def _run_tui(args: argparse.Namespace, settings: ConnectionSettings, title_suffix: str = "") -> int:
    from mputui.tui.app import run_tui

    return run_tui(settings, read_only=args.read_only, title_suffix=title_suffix)


COMMANDS: dict[str, Callable[[argparse.Namespace, ConnectionSettings, TextIO, datetime], int]] = {
    "ls": cmd_ls,
    "parts": cmd_parts,
}


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run mputui with ``argv``; returns the exit code."""
    out = out or sys.stdout
    err = err or sys.stderr
    parser = build_parser()
    args = parser.parse_args(argv)
    demo_endpoint = None
    try:
        if args.command == "demo":
            return cmd_demo(args)
        if args.demo:
            from mputui import demo

            demo_endpoint = demo.start_demo()
            settings = demo_endpoint.settings(concurrency=args.concurrency)
        else:
            settings = settings_from_args(args)
        if args.command is None:
            return _run_tui(args, settings, title_suffix=" (demo)" if demo_endpoint else "")
        return COMMANDS[args.command](args, settings, out, datetime.now(UTC))
    except KeyboardInterrupt:
        err.write("mputui: interrupted\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `mputui ls | head`: the reader went away; not an error of ours.
        _silence_stdout()
        return EXIT_OK
    except ParseError as exc:
        err.write(f"mputui: error: {exc}\n")
        return EXIT_USAGE
    except Exception as exc:
        err.write(f"mputui: error: {describe(exc)}\n")
        return EXIT_USAGE if is_usage_error(exc) else EXIT_FAILED
    finally:
        if demo_endpoint is not None:
            demo_endpoint.stop()


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
