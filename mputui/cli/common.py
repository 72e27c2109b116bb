"""What every CLI command shares: the one-line-error parser, global options, the run context, output."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NoReturn, TextIO

from mputui.parsing import ParseError, parse_duration, parse_positive_int, parse_size
from mputui.s3.connect import DEFAULT_CONCURRENCY, ConnectionSettings
from mputui.s3.errors import MputuiError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line (and exit 2) instead of usage + error."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"mputui: error: {message} (see `{self.prog} --help`)\n")


def duration_arg(text: str) -> timedelta:
    """argparse type for ``90m``, ``12h``, ``7d``, ``2w``."""
    try:
        return parse_duration(text)
    except ParseError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def size_arg(text: str) -> int:
    """argparse type for ``8MiB``, ``64M``, ``1GiB``."""
    try:
        return parse_size(text)
    except ParseError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def positive_int(text: str) -> int:
    """argparse type for a whole number ≥ 1."""
    try:
        return parse_positive_int(text)
    except ParseError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
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
        type=positive_int,
        default=default(DEFAULT_CONCURRENCY),
        metavar="N",
        help=f"parallel requests (default {DEFAULT_CONCURRENCY}; bulk aborts keep twice this in flight)",
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


@dataclass
class Context:
    """What a command runs with."""

    settings: ConnectionSettings
    out: TextIO
    err: TextIO
    now: datetime
    read_only: bool = False
    stdin_is_tty: bool = False

    def json_line(self, obj: dict[str, Any]) -> None:
        """Write one JSON Lines object (ASCII-escaped, so keys round-trip exactly) and flush."""
        self.out.write(json.dumps(obj, ensure_ascii=True) + "\n")
        self.out.flush()


def refuse_unsafe(ctx: Context, what: str, *, yes: bool, dry_run: bool | None = None) -> None:
    """Refuse (exit 2) to ``what`` under ``--read-only``, or without ``--yes`` when no one can answer a question.

    Called before anything is listed or planned, so a script fails fast. ``dry_run`` is the command's
    ``--dry-run`` (None: it has none): a dry run changes nothing and is never refused.
    """
    if dry_run:
        return
    if ctx.read_only:
        hint = "" if dry_run is None else " (--dry-run shows the plan)"
        raise MputuiError(f"--read-only: refusing to {what}{hint}", exit_code=EXIT_USAGE)
    if not yes and not ctx.stdin_is_tty:
        raise MputuiError(f"refusing to {what} without --yes: stdin is not a terminal", exit_code=EXIT_USAGE)


def ask(ctx: Context, question: str) -> bool:
    """Ask ``question [y/N]`` on stderr and read the answer from stdin: True only for y or yes."""
    ctx.err.write(f"{question} [y/N] ")
    ctx.err.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")
