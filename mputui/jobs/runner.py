"""What every job runner (copy, put, resume) holds: journal, cancel token, crash hook and one event sink."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from mputui.jobs.journal import Journal
from mputui.jobs.multipart import CrashHook
from mputui.s3.cancel import CancelToken

EventT = TypeVar("EventT")


class JobRunner(Generic[EventT]):
    """Base of the runners: ``emit`` delivers one event at a time, whichever worker thread sends it."""

    def __init__(
        self,
        *,
        journal: Journal | None,
        on_event: Callable[[EventT], None] | None,
        cancel: CancelToken | None,
    ) -> None:
        self.journal = journal or Journal()
        self.cancel_token = cancel or CancelToken()
        self._on_event = on_event
        # Listeners (printers, the TUI's bridge) keep running totals: they must never see two events at once.
        self._emit_lock = threading.Lock()
        self._crash_hook = CrashHook()

    def cancel(self) -> None:
        """Stop starting work (from any thread); running parts finish and are journaled."""
        self.cancel_token.cancel()

    def emit(self, event: EventT) -> None:
        """Hand ``event`` to the listener, serialized across worker threads."""
        if self._on_event is not None:
            with self._emit_lock:
                self._on_event(event)
