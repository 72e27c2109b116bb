"""The copy dialog: source and destination URLs and the part size → the plan (what will be copied, replaced,
resumed, skipped, aborted) → ``y`` / the Copy button starts the restartable copy job; anything else cancels.

The plan is computed in this screen's thread worker through ``planner`` (``Copier.plan``); nothing is
written before the user confirms the plan shown.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from mputui.formatting import copy_plan_lines, format_count, format_size
from mputui.jobs.copy import CopyPlan
from mputui.jobs.plan import DEFAULT_PART_SIZE, MAX_PART_SIZE, MIN_PART_SIZE
from mputui.parsing import ParseError, parse_s3_url, parse_size
from mputui.s3.errors import describe
from mputui.tui.text import lines_text

Planner = Callable[[str, str, int], CopyPlan]
"""(source URL, destination URL, part size) → the plan; called in a thread worker."""


@dataclass(frozen=True, slots=True)
class CopyRequest:
    src: str
    dst: str
    part_size: int
    plan: CopyPlan | None = None


class CopyDialog(ModalScreen[CopyRequest | None]):
    """Enter in the last field (or the Copy button) plans the copy; then y (or the button) starts it and
    any other key cancels; escape cancels."""

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
    CopyDialog #copy-plan { height: auto; padding-top: 1; display: none; }
    CopyDialog #copy-plan.-visible { display: block; }
    CopyDialog #copy-help { color: $text-muted; padding-top: 1; }
    CopyDialog #copy-buttons { height: auto; align-horizontal: right; padding-top: 1; }
    CopyDialog Button { margin-left: 2; }
    CopyDialog #copy-yes { width: auto; }
    """

    class Planned(Message):
        def __init__(self, request: CopyRequest, plan: CopyPlan | None, error: str | None) -> None:
            super().__init__()
            self.request, self.plan, self.error = request, plan, error

    def __init__(
        self,
        source: str,
        destination: str = "",
        part_size: int = DEFAULT_PART_SIZE,
        *,
        planner: Planner | None = None,
    ) -> None:
        super().__init__()
        self.source = source
        self.destination = destination
        self.part_size = part_size
        self.planner = planner
        self.planning = False
        self.planned: CopyRequest | None = None  # the request whose plan is shown, awaiting confirmation

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(Text("Copy objects (server side, restartable)"), id="copy-title")
            yield Label("Source: s3://BUCKET/KEY, or a prefix s3://BUCKET/DIR/ (cp -r semantics)")
            yield Input(self.source, id="copy-src")
            yield Label("Destination: s3://BUCKET/KEY, or a folder s3://BUCKET/DIR/")
            yield Input(self.destination, placeholder="s3://bucket/key", id="copy-dst")
            yield Label("Part size for multipart copies (at least 5MiB; grown to keep ≤ 10,000 parts)")
            yield Input(format_size(self.part_size).replace(" ", ""), id="copy-part-size")
            yield Static("", id="copy-error", markup=False)
            yield Static(
                Text(
                    "Large objects are copied in parts and journaled: a cancelled or failed job resumes "
                    "where it stopped (J: jobs). Nothing is written before you confirm the plan shown next "
                    "(what is copied, replaced, skipped)."
                ),
                id="copy-help",
            )
            yield Static("", id="copy-plan")
            with Horizontal(id="copy-buttons"):
                yield Button("Cancel", id="copy-no")
                yield Button("Plan copy", variant="primary", id="copy-yes")

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
                f"the part size must be between 5MiB and 5GiB (S3's limits), not {format_size(part_size)}"
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
        if self.planned is not None:
            self._confirm()
            return
        if self.planning:
            return
        request = self._request()
        if request is None:
            return
        if self.planner is None:
            self.dismiss(request)
            return
        self.planning = True
        self._error("")
        for widget in self.query(Input):
            widget.disabled = True
        yes = self.query_one("#copy-yes", Button)
        yes.disabled = True
        yes.label = "Planning…"
        plan = self.query_one("#copy-plan", Static)
        plan.update(Text("planning: listing the source, checking the destination…"))
        plan.add_class("-visible")
        self._plan(request)

    @work(thread=True, exclusive=True, group="copy-plan", exit_on_error=False)
    def _plan(self, request: CopyRequest) -> None:
        assert self.planner is not None
        try:
            plan = self.planner(request.src, request.dst, request.part_size)
        except Exception as exc:
            self.post_message(self.Planned(request, None, describe(exc)))
            return
        self.post_message(self.Planned(request, plan, None))

    def on_copy_dialog_planned(self, message: Planned) -> None:
        self.planning = False
        yes = self.query_one("#copy-yes", Button)
        shown = self.query_one("#copy-plan", Static)
        if message.plan is None:
            shown.remove_class("-visible")
            for widget in self.query(Input):
                widget.disabled = False
            self._error(f"cannot plan the copy: {message.error}")
            yes.disabled = False
            yes.label = "Plan copy"
            self.query_one("#copy-dst", Input).focus()
            return
        plan = message.plan
        text = lines_text(copy_plan_lines(plan, message.request.dst))
        todo = plan.count("copy", "replace", "resume")
        if todo or plan.stale:
            self.planned = CopyRequest(
                message.request.src, message.request.dst, message.request.part_size, plan
            )
            text.append("\ny (or the Copy button) starts it; any other key cancels.", style="bold")
            yes.label = f"Copy {format_count(todo)} object{'s' if todo != 1 else ''}" + (
                " and replace" if plan.count("replace") else ""
            )
            yes.variant = "warning" if plan.count("replace") or plan.stale else "primary"
            yes.disabled = False
        else:
            yes.label = "Nothing to copy"
        yes.refresh(layout=True)  # the button's width follows its new label
        shown.update(text)
        self.query_one("#copy-no", Button).focus()

    def _confirm(self) -> None:
        if self.planned is not None:
            self.dismiss(self.planned)

    def on_key(self, event: events.Key) -> None:
        if self.planned is None:
            return
        if event.key == "y":
            event.stop()
            event.prevent_default()
            self._confirm()
        elif event.key not in ("tab", "shift+tab", "enter", "space", "left", "right"):
            event.stop()
            event.prevent_default()
            self.dismiss(None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "copy-yes":
            self._submit()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.workers.cancel_group(self, "copy-plan")
        self.dismiss(None)
