"""The one cancellation idiom of the core: a ``CancelToken`` that scans, aborts, copies and uploads poll, and
that their backoff sleeps wake up on."""

from __future__ import annotations

import threading
from collections.abc import Callable


class Cancelled(Exception):
    """Raised in a task when its job was cancelled."""


class CancelToken:
    """A thread-safe cancel flag. ``also``: an outside flag polled alongside (a TUI worker's ``is_cancelled``);
    a sleep notices it only when the sleep ends, a ``cancel()`` at once."""

    def __init__(self, also: Callable[[], bool] | None = None) -> None:
        self._event = threading.Event()
        self._also = also

    def cancel(self) -> None:
        """Ask every task holding this token to stop."""
        self._event.set()

    @property
    def cancelled(self) -> bool:
        if not self._event.is_set() and self._also is not None and self._also():
            self._event.set()
        return self._event.is_set()

    def check(self) -> None:
        """Raise ``Cancelled`` if the token is cancelled."""
        if self.cancelled:
            raise Cancelled

    def sleep(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True if cancelled."""
        return self._event.wait(seconds) or self.cancelled
