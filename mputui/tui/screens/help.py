"""The help screen: every key binding, what it does, and how to read the panes."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

ABOUT = (
    "Panes, left to right: buckets → uploads → parts. tab / shift+tab / ← → move between them.\n"
    "Uploads: ● marked · ✗ marked and its last abort failed (reason in the status column).\n"
    "newest = age of the newest part; green ●age means parts arrived within the hour: still active, not stale.\n"
    "Parts: 'gap a-b' = part numbers missing; '<5MiB' = a non-last part under 5 MiB. Both block a commit.\n"
    "Abort acts on the marked uploads (all of them, also those the filter hides), or the highlighted one.\n"
    "Untrusted key text is shown literally: control characters appear as ␛ ␤ ␍ ␉, invisible ones as ⟨U+XXXX⟩."
)


class HelpScreen(ModalScreen[None]):
    """Lists ``bindings`` as key → description; escape, q or ? closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "close", "Close", id="help_close")
    ]

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen #help { width: 110; max-width: 95%; height: auto; max-height: 90%;
        border: thick $accent; background: $surface; padding: 0 1; }
    HelpScreen #help-title { text-style: bold; color: $text-accent; }
    HelpScreen #help-keys { padding: 1 0; }
    """

    def __init__(self, bindings: list[tuple[str, str]]) -> None:
        super().__init__()
        self.bindings = bindings

    def compose(self) -> ComposeResult:
        keys = Text()
        width = max((len(k) for k, _ in self.bindings), default=8) + 2
        for i, (key, description) in enumerate(self.bindings):
            if i:
                keys.append("\n")
            keys.append(f"{key:>{width}}  ", style="bold")
            keys.append(description)
        with VerticalScroll(id="help"):
            yield Static(Text("mputui: keys (esc closes)"), id="help-title")
            yield Static(keys, id="help-keys")
            yield Static(Text(ABOUT), id="help-about")

    def action_close(self) -> None:
        self.dismiss(None)
