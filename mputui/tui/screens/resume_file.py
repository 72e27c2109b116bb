"""The resume-from-file dialog: a local path → the plan (the file is hashed against the upload's parts, with a
progress bar) → parts present / to send, bytes to send, problems → Resume starts a job (J: jobs).

The plan runs in this screen's thread worker (``Resumer.plan``); nothing is sent before the user confirms a
plan without problems. The dialog dismisses with the confirmed plan, which the jobs controller runs.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, ProgressBar, Static

from mputui.formatting import format_count, format_ranges, format_size, one_line
from mputui.jobs.engine import Cancelled
from mputui.jobs.journal import Journal
from mputui.jobs.resume import ResumePlan, Resumer
from mputui.s3.connect import S3Connection
from mputui.s3.errors import describe
from mputui.s3.models import Upload
from mputui.tui.text import safe_text


def plan_text(plan: ResumePlan) -> Text:
    """Parts present and to send, bytes to send, the part size and the destination."""
    text = Text()
    text.append(f"file:      {format_size(plan.file_size)} ({plan.file_size:,} bytes)")
    if plan.part_size:
        text.append(f" in {format_count(plan.parts_total)} part(s) of {format_size(plan.part_size)}")
    text.append(f"\nlisted:    {format_count(plan.listed)} part(s) already uploaded")
    text.append(
        f"\npresent:   {format_count(len(plan.present))} part(s) match the file"
        + (f" ({format_ranges(list(plan.present))})" if plan.present else "")
    )
    text.append(
        f"\nto send:   {format_count(len(plan.send))} part(s)"
        + (f" ({format_ranges(list(plan.send))})" if plan.send else "")
        + f", {format_size(plan.bytes_to_send)} ({plan.bytes_to_send:,} bytes)"
    )
    if plan.mismatched:
        text.append(f"\nmismatched: part(s) {format_ranges(list(plan.mismatched))}", style="bold red")
    if plan.extra:
        text.append(f"\nbeyond the file's end: part(s) {format_ranges(list(plan.extra))}", style="bold red")
    if plan.job_id:
        text.append(f"\njob:       {plan.job_id} (journaled)", style="dim")
    text.append("\nthen:      complete the upload into ")
    text.append_text(safe_text(plan.dst))
    return text


class ResumeFileDialog(ModalScreen[ResumePlan | None]):
    """Enter in the path field plans; y (or the Resume button) starts it; escape stops hashing, else closes."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "close", "Close", id="resume_file_close")]

    DEFAULT_CSS = """
    ResumeFileDialog { align: center middle; }
    ResumeFileDialog #dialog {
        width: 110; max-width: 95%; height: auto; max-height: 95%;
        border: thick $warning; background: $surface; padding: 0 1;
    }
    ResumeFileDialog #resume-title { text-style: bold; color: $text-warning; padding-bottom: 1; }
    ResumeFileDialog Label { color: $text-muted; }
    ResumeFileDialog #resume-row { height: 1; display: none; }
    ResumeFileDialog #resume-row.-visible { display: block; }
    ResumeFileDialog #resume-plan { height: auto; padding-top: 1; }
    ResumeFileDialog #resume-problems { color: $text-error; text-style: bold; height: auto; }
    ResumeFileDialog #resume-buttons { height: auto; align-horizontal: right; padding-top: 1; }
    ResumeFileDialog Button { margin-left: 2; }
    ResumeFileDialog #resume-yes { width: auto; }
    """

    class Progress(Message):
        def __init__(self, done: int, total: int) -> None:
            super().__init__()
            self.done, self.total = done, total

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, ResumeFileDialog.Progress)

    class Planned(Message):
        def __init__(self, path: str, plan: ResumePlan | None, error: str | None) -> None:
            super().__init__()
            self.path, self.plan, self.error = path, plan, error

    def __init__(self, conn: S3Connection, upload: Upload, journal: Journal) -> None:
        super().__init__()
        self.conn = conn
        self.upload = upload
        self.journal = journal
        self.resumer: Resumer | None = None
        self.planning = False
        self.plan: ResumePlan | None = None
        self.planned_path: str | None = None

    def compose(self) -> ComposeResult:
        u = self.upload
        title = Text("Resume ")
        title.append_text(safe_text(f"s3://{u.bucket}/{u.key}"))
        title.append(f" (upload {one_line(u.upload_id)}) from a local file")
        with Vertical(id="dialog"):
            yield Static(title, id="resume-title")
            yield Label("The local file this upload was made from (enter hashes it against the parts)")
            yield Input(placeholder="/path/to/the/original/file", id="resume-path")
            with Horizontal(id="resume-row"):
                yield ProgressBar(total=1, show_eta=False, id="resume-bar")
            yield Static(
                Text("Nothing is sent before you confirm the plan; parts that do not match refuse it."),
                id="resume-plan",
            )
            yield Static("", id="resume-problems", markup=False)
            with Horizontal(id="resume-buttons"):
                yield Button("Cancel", id="resume-no")
                yield Button("Resume", variant="warning", id="resume-yes", disabled=True)

    def on_mount(self) -> None:
        self.query_one("#resume-path", Input).focus()

    @property
    def can_resume(self) -> bool:
        return (
            self.plan is not None
            and self.plan.ok
            and bool(self.plan.send)
            and not self.planning
            and self.planned_path == self.query_one("#resume-path", Input).value.strip()
        )

    def _update_buttons(self) -> None:
        yes = self.query_one("#resume-yes", Button)
        yes.disabled = not self.can_resume
        if self.plan is not None and self.plan.ok:
            n = len(self.plan.send)
            yes.label = f"Resume: send {format_count(n)} part{'s' if n != 1 else ''}"
            yes.refresh(layout=True)  # the button's width follows its new label

    @on(Input.Submitted, "#resume-path")
    def _plan_requested(self, event: Input.Submitted) -> None:
        event.stop()
        path = event.value.strip()
        if not path or self.planning:
            return
        self.planning = True
        self.plan = None
        self.planned_path = None
        self.query_one("#resume-row").add_class("-visible")
        self.query_one("#resume-bar", ProgressBar).update(total=max(self.upload.size or 1, 1), progress=0)
        self.query_one("#resume-plan", Static).update(Text("listing parts, hashing the file… (escape stops)"))
        self.query_one("#resume-problems", Static).update("")
        self.resumer = Resumer(self.conn, journal=self.journal)
        self._update_buttons()
        self._plan(self.resumer, path)

    @on(Input.Changed, "#resume-path")
    def _path_changed(self, event: Input.Changed) -> None:
        self._update_buttons()

    @work(thread=True, exclusive=True, group="resume-plan", exit_on_error=False)
    def _plan(self, resumer: Resumer, path: str) -> None:
        u = self.upload

        def progress(done: int, total: int) -> None:
            self.post_message(self.Progress(done, total))

        try:
            plan = resumer.plan(u.bucket, u.key, u.upload_id, path, progress=progress)
        except Cancelled:
            self.post_message(self.Planned(path, None, "hashing stopped"))
            return
        except Exception as exc:
            self.post_message(self.Planned(path, None, describe(exc)))
            return
        self.post_message(self.Planned(path, plan, None))

    def on_resume_file_dialog_progress(self, message: Progress) -> None:
        if self.planning:
            self.query_one("#resume-bar", ProgressBar).update(
                total=max(message.total, 1), progress=message.done
            )

    def on_resume_file_dialog_planned(self, message: Planned) -> None:
        self.planning = False
        self.resumer = None
        self.plan = message.plan
        self.planned_path = message.path
        shown = self.query_one("#resume-plan", Static)
        problems = self.query_one("#resume-problems", Static)
        if message.plan is None:
            shown.update("")
            problems.update(Text(f"✗ cannot plan the resume: {one_line(message.error or '')}"))
        else:
            plan = message.plan
            bar = self.query_one("#resume-bar", ProgressBar)
            bar.update(progress=bar.total or 1)
            text = plan_text(plan)
            if plan.ok and not plan.send:
                text.append("\nnothing to send: every part is there (commit it with c)", style="bold")
            elif plan.ok:
                text.append("\ny (or the Resume button) starts it; any other key cancels.", style="bold")
            shown.update(text)
            problems.update(Text("\n".join(f"✗ {p}" for p in plan.problems)))
        self.query_one("#resume-row").set_class(message.plan is not None and message.plan.ok, "-visible")
        self._update_buttons()
        if self.can_resume:
            self.query_one("#resume-no", Button).focus()

    def on_key(self, event: events.Key) -> None:
        if not self.can_resume or self.focused is self.query_one("#resume-path", Input):
            return
        if event.key == "y":
            event.stop()
            event.prevent_default()
            self.dismiss(self.plan)
        elif event.key not in ("tab", "shift+tab", "enter", "space", "left", "right"):
            event.stop()
            event.prevent_default()
            self.dismiss(None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "resume-yes" and self.can_resume:
            self.dismiss(self.plan)
        elif event.button.id == "resume-no":
            self.dismiss(None)

    def action_close(self) -> None:
        if self.planning and self.resumer is not None:
            self.resumer.cancel()
            return
        self.dismiss(None)
