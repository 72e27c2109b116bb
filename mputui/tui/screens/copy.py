"""The copy dialog: source and destination URLs and the part size; starts a restartable copy job."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from mputui.jobs.plan import DEFAULT_PART_SIZE, MAX_PART_SIZE, MIN_PART_SIZE
from mputui.parsing import ParseError, parse_s3_url, parse_size
from mputui.tui.format import size_text


@dataclass(frozen=True, slots=True)
class CopyRequest:
    src: str
    dst: str
    part_size: int


class CopyDialog(ModalScreen[CopyRequest | None]):
    """Enter in the last field (or the Copy button) starts the copy; escape cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel", id="copy_cancel")]

    DEFAULT_CSS = """
    CopyDialog { align: center middle; }
    CopyDialog #dialog {
        width: 100; max-width: 95%; height: auto; max-height: 90%;
        border: thick $accent; background: $surface; padding: 0 1;
    }
    CopyDialog #copy-title { text-style: bold; color: $text-accent; padding-bottom: 1; }
    CopyDialog Label { padding-top: 1; color: $text-muted; }
    CopyDialog #copy-error { color: $text-error; text-style: bold; height: auto; }
    CopyDialog #copy-help { color: $text-muted; padding-top: 1; }
    CopyDialog #copy-buttons { height: auto; align-horizontal: right; padding-top: 1; }
    CopyDialog Button { margin-left: 2; }
    """

    def __init__(self, source: str, destination: str = "", part_size: int = DEFAULT_PART_SIZE) -> None:
        super().__init__()
        self.source = source
        self.destination = destination
        self.part_size = part_size

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(Text("Copy objects (server side, restartable)"), id="copy-title")
            yield Label("Source: s3://BUCKET/KEY, or a prefix s3://BUCKET/DIR/ (cp -r semantics)")
            yield Input(self.source, id="copy-src")
            yield Label("Destination: s3://BUCKET/KEY, or a folder s3://BUCKET/DIR/")
            yield Input(self.destination, placeholder="s3://bucket/key", id="copy-dst")
            yield Label("Part size for multipart copies (at least 5MiB; grown to keep ≤ 10,000 parts)")
            yield Input(size_text(self.part_size).replace(" ", ""), id="copy-part-size")
            yield Static("", id="copy-error", markup=False)
            yield Static(
                Text(
                    "Large objects are copied in parts and journaled: a cancelled or failed job resumes "
                    "where it stopped (J: jobs). An existing object at the destination is replaced."
                ),
                id="copy-help",
            )
            with Horizontal(id="copy-buttons"):
                yield Button("Cancel", id="copy-no")
                yield Button("Copy", variant="primary", id="copy-yes")

    def on_mount(self) -> None:
        self.query_one("#copy-dst" if self.source.rstrip("/") != "s3:" else "#copy-src", Input).focus()

    def _request(self) -> CopyRequest | None:
        src = self.query_one("#copy-src", Input).value.strip()
        dst = self.query_one("#copy-dst", Input).value.strip()
        size_value = self.query_one("#copy-part-size", Input).value.strip()
        try:
            parse_s3_url(src)
            parse_s3_url(dst)
        except Exception as exc:
            self._error(str(exc))
            return None
        try:
            part_size = parse_size(size_value) if size_value else DEFAULT_PART_SIZE
        except ParseError as exc:
            self._error(f"part size: {exc}")
            return None
        if not MIN_PART_SIZE <= part_size <= MAX_PART_SIZE:
            self._error(
                f"the part size must be between 5MiB and 5GiB (S3's limits), not {size_text(part_size)}"
            )
            return None
        return CopyRequest(src, dst, part_size)

    def _error(self, text: str) -> None:
        self.query_one("#copy-error", Static).update(Text(text))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        order = ["copy-src", "copy-dst", "copy-part-size"]
        index = order.index(event.input.id or "copy-src")
        if index < len(order) - 1 and not event.input.value.strip().removeprefix("s3://"):
            return
        if index < len(order) - 1 and event.input.id == "copy-src":
            self.query_one("#copy-dst", Input).focus()
            return
        self._submit()

    def _submit(self) -> None:
        request = self._request()
        if request is not None:
            self.dismiss(request)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "copy-yes":
            self._submit()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
