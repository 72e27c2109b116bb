"""What every CLI command shares: the one-line-error parser, global options, the run context, output."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NoReturn, TextIO

from mputui import locations
from mputui.formatting import some_of
from mputui.parsing import ParseError, parse_duration, parse_positive_int, parse_size
from mputui.s3 import wirelog
from mputui.s3.connect import DEFAULT_CONCURRENCY, ConnectionSettings
from mputui.s3.errors import MputuiError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line (and exit 2) instead of usage + error."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"mputui: error: {message} (see `{self.prog} --help`)\n")


def duration_arg(text: str) -> timedelta:
    """argparse type for ``90m``, ``12h``, ``7d``, ``2w``, ``6mo``, ``1y``."""
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
        "--ca-bundle",
        default=default(None),
        metavar="FILE",
        help="CA certificates to trust for TLS (default: AWS_CA_BUNDLE, the profile's ca_bundle, certifi)",
    )
    g.add_argument(
        "--no-verify-ssl",
        action="store_true",
        default=default(False),
        help="do not check TLS certificates (a warning is printed)",
    )
    g.add_argument(
        "--request-payer",
        choices=["requester"],
        default=default(None),
        help="pay for the requests to a Requester Pays bucket",
    )
    g.add_argument(
        "--debug",
        action="store_true",
        default=default(False),
        help="log every HTTP request (method, URL, status, attempt, path) to stderr or --log-file; "
        "never a credential (also MPUTUI_DEBUG=1)",
    )
    g.add_argument(
        "--log-file", default=default(None), metavar="FILE", help="where --debug writes (mode 0600)"
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
        verify_ssl=not args.no_verify_ssl,
        ca_bundle=args.ca_bundle,
        request_payer=args.request_payer,
    )
    settings.validate()
    return settings


def start_debug_log(args: argparse.Namespace, err: TextIO, *, tui: bool) -> str | None:
    """Send ``--debug`` lines to stderr or ``--log-file`` (the TUI owns the terminal: a file in the log
    directory); returns the file's path, if one. ``--log-file`` alone turns ``--debug`` on."""
    log_file = getattr(args, "log_file", None)
    if not (getattr(args, "debug", False) or log_file or os.environ.get("MPUTUI_DEBUG") == "1"):
        return None
    if log_file is None and tui:
        log_file = str(locations.log_dir() / "debug.log")
    stream: TextIO = err
    if log_file is not None:
        try:
            fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            os.fchmod(fd, 0o600)
        except OSError as exc:
            raise MputuiError(
                f"cannot write --log-file {log_file}: {exc.strerror or exc}", exit_code=2
            ) from None
        stream = open(fd, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 - lives as long as the process
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s mputui: debug: %(message)s"))
    wirelog.logger.addHandler(handler)
    wirelog.logger.setLevel(logging.DEBUG)
    wirelog.logger.propagate = False
    return log_file


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


def ask_to_overwrite(ctx: Context, what: str, targets: list[str], question: str, *, yes: bool) -> bool:
    """``put``/``cp`` ask only before overwriting objects: ``what`` they are (with how many), ``targets`` which
    (the first ten), then ``question``. True to go on; off a terminal without ``--yes``: refused (exit 2)."""
    if yes or not targets:
        return True
    shown = some_of(targets)
    if not ctx.stdin_is_tty:
        raise MputuiError(
            f"refusing to overwrite without --yes (stdin is not a terminal): {what}: {', '.join(shown)}",
            exit_code=EXIT_USAGE,
        )
    ctx.err.write(f"{what}:\n" + "".join(f"  {line}\n" for line in shown))
    return ask(ctx, question)
