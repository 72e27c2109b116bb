"""The jobs engine: a bounded thread pool whose tasks retry transient S3 failures and stop on cancel.

boto3 already retries each request a few times; the engine adds a slower outer loop with exponential
backoff and jitter, so a part survives a throttling storm or a short network loss without the whole job
failing. Only idempotent work belongs here (a part upload/copy can be repeated; CreateMultipartUpload cannot).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, TypeVar

import botocore.exceptions as bexc

from mputui.s3.cancel import Cancelled, CancelToken
from mputui.s3.errors import error_code, http_status

T = TypeVar("T")

RETRYABLE_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TooManyRequests",
        "RequestTimeout",
        "RequestTimeTooSkewed",
        "InternalError",
        "ServiceUnavailable",
    }
)
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


def is_retryable(exc: BaseException) -> bool:
    """True for failures worth another try: throttling, 5xx, timeouts, dropped connections."""
    if isinstance(exc, bexc.ClientError):
        return error_code(exc) in RETRYABLE_CODES or http_status(exc) in RETRYABLE_STATUS
    return isinstance(
        exc,
        bexc.HTTPClientError  # ConnectionClosedError, read/connect timeouts, ...
        | bexc.ConnectionError  # EndpointConnectionError, ...
        | bexc.ResponseStreamingError
        | bexc.IncompleteReadError
        | ConnectionError
        | TimeoutError,
    )


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently a task is retried (``attempts`` counts the first try)."""

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 20.0

    def delay(self, attempt: int) -> float:
        """Full-jitter exponential backoff before try ``attempt + 1``."""
        return random.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))


DEFAULT_RETRY = RetryPolicy()


def with_retries(
    fn: Callable[[], T],
    *,
    policy: RetryPolicy = RetryPolicy(),
    cancel: CancelToken | None = None,
    on_retry: Callable[[int, BaseException], None] | None = None,
) -> T:
    """``fn()``, retried on retryable errors with backoff; raises ``Cancelled`` once cancelled."""
    attempt = 1
    while True:
        if cancel is not None:
            cancel.check()
        try:
            return fn()
        except Exception as exc:
            if attempt >= policy.attempts or not is_retryable(exc):
                raise
            if on_retry is not None:
                on_retry(attempt, exc)
            delay = policy.delay(attempt)
            if cancel is None:
                time.sleep(delay)
            elif cancel.sleep(delay):
                raise Cancelled from exc
            attempt += 1


class Engine:
    """A bounded thread pool for job tasks, with retries and one cancel token for everything it runs."""

    def __init__(
        self,
        workers: int,
        *,
        policy: RetryPolicy = RetryPolicy(),
        cancel: CancelToken | None = None,
        name: str = "mputui-job",
    ) -> None:
        self.workers = max(1, workers)
        self.policy = policy
        self.cancel = cancel or CancelToken()
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix=name)

    def submit(self, fn: Callable[..., T], *args: Any, retry: bool = True) -> Future[T]:
        """Run ``fn(*args)`` on the pool (retried unless ``retry`` is false)."""

        def task() -> T:
            self.cancel.check()
            if not retry:
                return fn(*args)
            return with_retries(lambda: fn(*args), policy=self.policy, cancel=self.cancel)

        return self._pool.submit(task)

    def map_unordered(
        self, fn: Callable[[Any], T], items: Iterable[Any], *, retry: bool = True
    ) -> Iterator[tuple[Any, T | BaseException]]:
        """``(item, result or exception)`` as each finishes; at most ``2 x workers`` queued at once.

        Stops submitting once cancelled; tasks already running still report.
        """
        it = iter(items)
        running: dict[Future[T], Any] = {}

        def fill() -> None:
            while len(running) < self.workers * 2 and not self.cancel.cancelled:
                item = next(it, _END)
                if item is _END:
                    return
                running[self.submit(fn, item, retry=retry)] = item

        fill()
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in done:
                item = running.pop(fut)
                exc = fut.exception()
                yield item, (exc if exc is not None else fut.result())
            fill()

    def shutdown(self, *, wait: bool = True) -> None:
        """Stop the pool (queued tasks are dropped; running ones finish when ``wait``)."""
        self._pool.shutdown(wait=wait, cancel_futures=True)

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


_END: Any = object()
