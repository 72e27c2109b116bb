"""Live progress of a running abort: a bar plus done/total, bytes freed and failures."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label, ProgressBar, Static

from mputui.formatting import format_count, format_size


class AbortPanel(Horizontal):
    """Shown while aborts run and for a few seconds after."""

    DEFAULT_CSS = """
    AbortPanel { height: 1; display: none; background: $boost; padding: 0 1; }
    AbortPanel.-visible { display: block; }
    AbortPanel #abort-label { width: auto; color: $text-warning; text-style: bold; padding-right: 1; }
    AbortPanel ProgressBar { width: auto; padding-right: 1; }
    AbortPanel #abort-detail { width: 1fr; }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.total = 0
        self.total_bytes = 0
        self.done = 0
        self.freed = 0
        self.gone = 0
        self.failed = 0
        self.raced = 0
        self.unverified = 0
        self.finished = False

    def compose(self) -> ComposeResult:
        yield Label("Aborting", id="abort-label")
        yield ProgressBar(total=1, show_eta=False, id="abort-bar")
        yield Static("", id="abort-detail", markup=False)

    def start(self, total: int, total_bytes: int) -> None:
        """Reset for a run of ``total`` aborts."""
        self.total, self.total_bytes = total, total_bytes
        self.done = self.freed = self.gone = self.failed = self.raced = self.unverified = 0
        self.finished = False
        self.add_class("-visible")
        self.query_one(ProgressBar).update(total=max(total, 1), progress=0)
        self.query_one("#abort-label", Label).update("Aborting")
        self._render_detail()

    def record(
        self,
        *,
        aborted: int = 0,
        freed: int = 0,
        gone: int = 0,
        failed: int = 0,
        raced: int = 0,
        unverified: int = 0,
    ) -> None:
        """Count finished aborts (``raced``: of the aborted, how many raced a commit of their key;
        ``unverified``: how many the server could not be seen to have removed)."""
        self.done += aborted + gone + failed
        self.freed += freed
        self.gone += gone
        self.failed += failed
        self.raced += raced
        self.unverified += unverified
        self.query_one(ProgressBar).update(progress=self.done)
        self._render_detail()

    def finish(self, cancelled: bool = False) -> None:
        self.finished = True
        self.query_one("#abort-label", Label).update("Abort cancelled" if cancelled else "Abort done")
        self._render_detail()

    def summary(self) -> str:
        aborted = self.done - self.gone - self.failed
        text = f"{format_count(self.done)}/{format_count(self.total)} done · {format_count(aborted)} aborted"
        if self.unverified:
            text += f" ({format_count(self.unverified)} not verified)"
        elif self.finished and aborted:
            text += " (verified)"
        text += f" · {format_size(self.freed)} freed of {format_size(self.total_bytes)}"
        if self.gone:
            text += f" · {format_count(self.gone)} already gone"
        text += f" · {format_count(self.failed)} failed"
        if self.raced:
            text += f" · {format_count(self.raced)} raced a commit: check the object"
        return text

    def _render_detail(self) -> None:
        text = Text(self.summary())
        if self.failed:
            text.highlight_regex(r"\d[\d,]* failed", "bold red")
        if self.raced:
            text.highlight_regex(r"\d[\d,]* raced a commit.*", "bold yellow")
        self.query_one("#abort-detail", Static).update(text)
