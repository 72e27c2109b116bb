"""Command line: ``mputui [OPTIONS] [COMMAND]``. No command opens the TUI.

Exit codes: 0 success, 1 something failed at run time (a bucket, the connection), 2 usage or configuration
error, 130 interrupted. Every error is one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TextIO

from mputui import __version__
from mputui.cli import copy, inventory, jobs, put, uploads
from mputui.cli.common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    Context,
    Parser,
    add_global_options,
    settings_from_args,
    start_debug_log,
)
from mputui.parsing import ParseError
from mputui.s3.connect import S3Connection
from mputui.s3.errors import describe, is_usage_error

COMMAND_MODULES = (inventory, uploads, copy, put, jobs)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (exposed for tests and docs)."""
    parser = Parser(
        prog="mputui",
        description="Find, size and fix incomplete S3 multipart uploads. Without a command, opens the TUI.",
    )
    parser.add_argument("--version", action="version", version=f"mputui {__version__}")
    add_global_options(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for module in COMMAND_MODULES:
        module.register(sub)

    demo = sub.add_parser(
        "demo",
        help="run the embedded demo S3 endpoint in the foreground",
        description="Run a local S3 endpoint seeded with demo uploads; prints how to point mputui at it.",
    )
    demo.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    demo.add_argument(
        "--host", default="127.0.0.1", choices=["127.0.0.1", "::1"], help="loopback address to serve on"
    )
    demo.add_argument("--no-seed", action="store_true", help="start empty")
    demo.add_argument("--json", action="store_true", help="print the endpoint as one JSON line")
    add_global_options(demo, suppress=True)
    return parser


def _run_demo(args: argparse.Namespace) -> int:
    from mputui import demo

    return demo.run_foreground(port=args.port, seed=not args.no_seed, json_output=args.json, host=args.host)


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run mputui with ``argv``; returns the exit code."""
    out = out or sys.stdout
    err = err or sys.stderr
    args = build_parser().parse_args(argv)
    demo_endpoint = None
    try:
        if args.command == "demo":
            return _run_demo(args)
        log_file = start_debug_log(args, err, tui=args.command is None)
        if args.demo:
            from mputui import demo

            demo_endpoint = demo.start_demo()
            settings = demo_endpoint.settings(concurrency=args.concurrency)
        else:
            settings = settings_from_args(args)
            if not settings.verify_ssl:
                err.write("mputui: warning: --no-verify-ssl: TLS certificates are not checked\n")
        if log_file is not None and args.command is None:
            err.write(f"mputui: --debug writes to {log_file}\n")
        if args.command is None:
            from mputui.tui.app import run_tui

            # A configuration error is one line and exit code 2 here too, not a message inside the TUI.
            S3Connection(settings)

            return run_tui(settings, read_only=args.read_only, title_suffix="demo" if demo_endpoint else "")
        ctx = Context(
            settings=settings,
            out=out,
            err=err,
            now=datetime.now(UTC),
            read_only=args.read_only,
            stdin_is_tty=sys.stdin is not None and sys.stdin.isatty(),
        )
        code: int = args.handler(args, ctx)
        return code
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
