"""The jobs engine's pure logic: retry classification, backoff, cancellation, bounded pool, progress."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import botocore.exceptions as bexc
import pytest

from mputui.jobs.engine import Engine, RetryPolicy, is_retryable, with_retries
from mputui.jobs.events import JobProgress, PartState, ProgressTracker
from mputui.s3.cancel import Cancelled, CancelToken

FAST = RetryPolicy(attempts=4, base_delay=0.001, max_delay=0.002)


def client_error(code: str, status: int) -> bexc.ClientError:
    return bexc.ClientError(
        {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "UploadPartCopy",
    )


@pytest.mark.parametrize(
    ("exc", "retryable"),
    [
        (client_error("SlowDown", 503), True),
        (client_error("InternalError", 500), True),
        (client_error("ServiceUnavailable", 503), True),
        (client_error("Whatever", 502), True),
        (bexc.EndpointConnectionError(endpoint_url="http://x"), True),
        (bexc.ReadTimeoutError(endpoint_url="http://x"), True),
        (ConnectionError("short read"), True),
        (client_error("AccessDenied", 403), False),
        (client_error("PreconditionFailed", 412), False),
        (client_error("NoSuchUpload", 404), False),
        (ValueError("bug"), False),
    ],
)
def test_is_retryable(exc: BaseException, retryable: bool) -> None:
    assert is_retryable(exc) is retryable


def test_with_retries_retries_transient_errors_then_succeeds() -> None:
    calls: list[int] = []
    retried: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise client_error("SlowDown", 503)
        return "ok"

    assert with_retries(flaky, policy=FAST, on_retry=lambda n, _: retried.append(n)) == "ok"
    assert len(calls) == 3
    assert retried == [1, 2]


def test_with_retries_gives_up_after_the_attempts_and_never_retries_permanent_errors() -> None:
    calls: list[int] = []

    def always(code: str, status: int) -> None:
        calls.append(1)
        raise client_error(code, status)

    with pytest.raises(bexc.ClientError):
        with_retries(lambda: always("InternalError", 500), policy=FAST)
    assert len(calls) == 4
    calls.clear()
    with pytest.raises(bexc.ClientError):
        with_retries(lambda: always("AccessDenied", 403), policy=FAST)
    assert len(calls) == 1


def test_backoff_is_bounded_and_grows() -> None:
    policy = RetryPolicy(attempts=10, base_delay=1.0, max_delay=4.0)
    delays = [max(policy.delay(3) for _ in range(200)), max(policy.delay(8) for _ in range(200))]
    assert 2.0 < delays[0] <= 4.0
    assert delays[1] <= 4.0


def test_cancel_interrupts_the_backoff_sleep() -> None:
    cancel = CancelToken()
    slow = RetryPolicy(attempts=5, base_delay=30, max_delay=30)
    threading.Timer(0.1, cancel.cancel).start()
    t0 = time.monotonic()
    with pytest.raises(Cancelled):
        with_retries(lambda: (_ for _ in ()).throw(client_error("SlowDown", 503)), policy=slow, cancel=cancel)
    assert time.monotonic() - t0 < 5


def test_engine_bounds_concurrency_and_reports_each_result() -> None:
    running = 0
    peak = 0
    lock = threading.Lock()

    def task(n: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.01)
        with lock:
            running -= 1
        if n == 7:
            raise ValueError("seven")
        return n * 2

    with Engine(3, policy=FAST) as engine:
        results = dict(engine.map_unordered(task, range(20)))
    assert peak <= 3
    assert isinstance(results.pop(7), ValueError)
    assert results == {n: n * 2 for n in range(20) if n != 7}


def test_engine_stops_submitting_once_cancelled() -> None:
    started: list[int] = []

    def task(n: int) -> int:
        started.append(n)
        if n == 0:
            engine.cancel.cancel()
        time.sleep(0.01)
        return n

    with Engine(1, policy=FAST) as engine:
        outcomes = list(engine.map_unordered(task, range(100)))
    assert len(started) < 5
    assert len(outcomes) < 5


def test_progress_tracker_counts_bytes_rate_and_eta() -> None:
    now = [100.0]
    seen: list[JobProgress] = []
    tracker = ProgressTracker(
        "j", "s3://a/k", "s3://b/k", [10, 10, 5], seen.append, interval=0, clock=lambda: now[0]
    )
    tracker.preset_done([1])  # found done on resume: not part of this run's rate, no report
    assert seen == []
    now[0] = 102.0
    tracker.set_state(2, PartState.RUNNING)
    tracker.set_state(2, PartState.DONE)
    snap = seen[-1]
    assert (snap.bytes_done, snap.bytes_total, snap.parts_done, snap.parts_total) == (20, 25, 2, 3)
    assert snap.rate == pytest.approx(5.0) and snap.bytes_moved == 10
    assert snap.eta == pytest.approx(1.0)
    assert snap.part_states == (PartState.DONE, PartState.DONE, PartState.PENDING)
    tracker.set_state(3, PartState.DONE)
    assert seen[-1].fraction == 1.0 and seen[-1].eta == 0.0


def test_jobs_modules_import_no_textual() -> None:
    code = (
        "import sys\n"
        "import mputui.jobs.abort, mputui.jobs.copy, mputui.jobs.engine, mputui.jobs.events, mputui.jobs.journal\n"
        "import mputui.jobs.multipart, mputui.jobs.plan, mputui.jobs.transfer\n"
        "import mputui.cli.copy, mputui.cli.jobs\n"
        "bad = [m for m in sys.modules if m == 'textual' or m.startswith('textual.')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_cancel_token_follows_an_outside_flag_and_stays_cancelled() -> None:
    flag = [False]
    token = CancelToken(also=lambda: flag[0])
    assert not token.cancelled and not token.sleep(0.01)
    flag[0] = True
    assert token.cancelled
    flag[0] = False  # latched: work that saw the cancel must not see it undone
    assert token.cancelled and token.sleep(5)
    with pytest.raises(Cancelled):
        token.check()
