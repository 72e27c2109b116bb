"""The filter bar above the uploads: key substring, minimum idle time (no new part for), minimum size."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.geometry import Size
from textual.message import Message
from textual.reactive import Reactive
from textual.widgets import Input, Label


class FilterInput(Input):
    """An input that gives focus back to the table on enter and clears itself on escape."""

    # Input resizes its virtual size to the text on every keystroke, and Widget declares that reactive with
    # layout=True: a relayout of the whole screen per typed character (~15 ms at 100k rows). These inputs
    # have a fixed size, so a repaint is all a keystroke needs.
    virtual_size: Reactive[Size] = Reactive(Size(0, 0), layout=False)

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "clear_and_leave", "Clear", show=False, id="filter_clear")
    ]

    class Leave(Message):
        """The user is done with this input."""

        def __init__(self, field: FilterInput) -> None:
            super().__init__()
            self.input = field

    def action_clear_and_leave(self) -> None:
        self.value = ""
        self.post_message(self.Leave(self))

    def action_submit(self) -> None:  # type: ignore[override]
        self.post_message(self.Leave(self))


class FilterBar(Horizontal):
    """Three compact inputs; hidden unless a filter is set or being edited."""

    DEFAULT_CSS = """
    FilterBar { height: 1; display: none; }
    FilterBar.-visible { display: block; }
    FilterBar Label { width: auto; padding: 0 1; color: $text-muted; }
    FilterBar Input { width: 1fr; }
    FilterBar #age-filter, FilterBar #size-filter { width: 14; }
    FilterBar Input.-invalid { color: $text-error; }
    """

    def compose(self) -> ComposeResult:
        yield Label("key")
        yield FilterInput(placeholder="contains… (/)", id="key-filter", compact=True)
        yield Label("idle ≥")
        yield FilterInput(placeholder="e.g. 7d (o)", id="age-filter", compact=True)
        yield Label("size ≥")
        yield FilterInput(placeholder="e.g. 64MiB (z)", id="size-filter", compact=True)
