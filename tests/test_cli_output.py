"""The pieces every CLI command shares: refusals and questions, event JSON, the live progress line, and the
job runners' one-event-at-a-time delivery (pure logic: no server)."""

from __future__ import annotations

import io
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mputui.cli.common import Context, ask, refuse_unsafe
from mputui.cli.job_output import LiveLine, shared_event_json, shared_event_text
from mputui.jobs.events import FileSource, JobAborted, ObjectFailed, ObjectSkipped, S3Source
from mputui.jobs.journal import Journal
from mputui.jobs.runner import JobRunner
from mputui.s3.connect import ConnectionSettings
from mputui.s3.errors import MputuiError


class TTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def context(*, read_only: bool = False, tty: bool = False, err: io.StringIO | None = None) -> Context:
    return Context(
        ConnectionSettings(),
        io.StringIO(),
        err if err is not None else io.StringIO(),
        datetime.now(UTC),
        read_only=read_only,
        stdin_is_tty=tty,
    )


def refusal(ctx: Context, **kwargs: Any) -> str | None:
    try:
        refuse_unsafe(ctx, "abort", **kwargs)
    except MputuiError as exc:
        assert exc.exit_code == 2
        return exc.message
    return None


def test_refusals_name_the_flag_that_lifts_them() -> None:
    assert refusal(context(read_only=True), yes=True, dry_run=False) == (
        "--read-only: refusing to abort (--dry-run shows the plan)"
    )
    # A command without --dry-run does not offer it.
    assert refusal(context(read_only=True), yes=True) == "--read-only: refusing to abort"
    assert refusal(context(tty=False), yes=False, dry_run=False) == (
        "refusing to abort without --yes: stdin is not a terminal"
    )


def test_what_is_never_refused() -> None:
    assert refusal(context(read_only=True), yes=False, dry_run=True) is None  # a dry run changes nothing
    assert refusal(context(tty=False), yes=True, dry_run=False) is None
    assert refusal(context(tty=True), yes=False, dry_run=False) is None  # someone can answer


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("y\n", True),
        ("YES\n", True),
        (" yes \n", True),
        ("n\n", False),
        ("\n", False),
        ("", False),
        ("yep\n", False),
    ],
)
def test_ask_takes_only_yes(monkeypatch: pytest.MonkeyPatch, answer: str, expected: bool) -> None:
    ctx = context(tty=True)
    monkeypatch.setattr(sys, "stdin", io.StringIO(answer))
    assert ask(ctx, "Abort 3 upload(s), 1.0 KiB?") is expected
    assert ctx.err.getvalue() == "Abort 3 upload(s), 1.0 KiB? [y/N] "  # type: ignore[attr-defined]


def test_shared_events_name_their_source_per_command() -> None:
    failed = ObjectFailed(S3Source("a", "k"), "s3://b/k", 5, "AccessDenied", job_id="j1", resumable=True)
    assert shared_event_json(failed, source_field="src") == {
        "type": "failed",
        "src": "s3://a/k",
        "dst": "s3://b/k",
        "size": 5,
        "error": "AccessDenied",
        "job": "j1",
        "resumable": True,
    }
    skipped = shared_event_json(
        ObjectSkipped(FileSource("/tmp/f"), "s3://b/f", 7, "same MD5"), source_field="path"
    )
    assert skipped == {
        "type": "skipped",
        "path": "/tmp/f",
        "dst": "s3://b/f",
        "size": 7,
        "reason": "same MD5",
    }
    aborted = shared_event_json(
        JobAborted("j2", FileSource("/tmp/g"), "s3://b/g", "file changed"), source_field="path"
    )
    assert aborted == {
        "type": "aborted",
        "job": "j2",
        "path": "/tmp/g",
        "dst": "s3://b/g",
        "reason": "file changed",
    }
    assert shared_event_json(object(), source_field="src") is None


def test_shared_error_lines_render_hostile_keys_literally() -> None:
    ctx = context()
    assert shared_event_text(ctx, ObjectFailed(S3Source("a", "\x1b[2Jk\n"), "s3://b/[b]x", 1, "boom"))
    line = ctx.err.getvalue()  # type: ignore[attr-defined]
    assert line.count("\n") == 1 and "\x1b" not in line and "[b]x" in line and line.endswith(": boom\n")
    assert not shared_event_text(ctx, ObjectSkipped(FileSource("a"), "b", 1, "same"))


def test_live_line_is_silent_off_a_terminal_and_for_json() -> None:
    for err, json_output in ((io.StringIO(), False), (TTY(), True)):
        line = LiveLine(context(err=err), json_output=json_output)
        assert not line.due(force=True)
        line.clear()
        assert err.getvalue() == ""


def test_live_line_redraws_at_most_every_interval_and_clears() -> None:
    err = TTY()
    line = LiveLine(context(err=err), json_output=False)
    assert line.due()
    line.show("1/2 objects")
    assert not line.due()  # within INTERVAL of the last redraw
    assert line.due(force=True)
    line.show("2/2 objects")
    line.clear()
    line.clear()  # nothing shown any more: writes nothing
    assert err.getvalue() == "\r\x1b[K1/2 objects\r\x1b[K2/2 objects\r\x1b[K"


def test_job_runner_delivers_one_event_at_a_time_from_many_threads(tmp_path: Path) -> None:
    inside = 0
    overlaps = 0
    seen: list[int] = []
    guard = threading.Lock()

    def listener(event: int) -> None:
        nonlocal inside, overlaps
        with guard:
            inside += 1
            overlaps += inside > 1
        time.sleep(0.0005)  # long enough for another thread to arrive if nothing serializes
        seen.append(event)
        with guard:
            inside -= 1

    runner: JobRunner[int] = JobRunner(journal=Journal(tmp_path), on_event=listener, cancel=None)
    threads = [
        threading.Thread(target=lambda base=base: [runner.emit(base + i) for i in range(25)])
        for base in (0, 100, 200, 300)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlaps == 0
    assert sorted(seen) == sorted(b + i for b in (0, 100, 200, 300) for i in range(25))
    runner.cancel()
    assert runner.cancel_token.cancelled
