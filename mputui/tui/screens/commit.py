"""The commit dialog: the plan (parts, size, ETag), its problems, an existing object, file verification,
then complete the upload and show what happened.

Every S3 call and the MD5 of a local file run in this screen's thread workers; the dialog only shows state.
The Commit button is enabled only for a plan without problems, with no verification running, when an object
exists at the key only once "overwrite" is ticked, and — when a local file was given — only after it verified.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, ProgressBar, Static
from textual.worker import get_current_worker

from mputui.formatting import (
    commit_plan_lines,
    existing_object_text,
    format_count,
    format_size,
    one_line,
    problem_text,
    replace_warning,
    verification_problem,
    verification_summary,
)
from mputui.s3.checksums import FileVerification, verify_file
from mputui.s3.commit import CommitPlan, CommitResult, complete_upload, load_plan
from mputui.s3.connect import S3Connection
from mputui.s3.errors import describe, is_gone
from mputui.s3.models import ProblemCode, Upload
from mputui.s3.objects import ObjectInfo
from mputui.tui.text import lines_text, safe_text


class _Stop(Exception):
    """Raised from the verify progress callback to stop hashing."""


class CommitDialog(ModalScreen[CommitResult | None]):
    """Plan → (verify) → Commit → result. Escape stops a verification, else closes."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "close", "Close", id="commit_close")]

    DEFAULT_CSS = """
    CommitDialog { align: center middle; }
    CommitDialog #dialog {
        width: 110; max-width: 95%; height: auto; max-height: 95%;
        border: thick $warning; background: $surface; padding: 0 1;
    }
    CommitDialog #commit-title { text-style: bold; color: $text-warning; padding-bottom: 1; }
    CommitDialog #commit-warning { color: $text-warning; text-style: bold; display: none; }
    CommitDialog #commit-warning.-visible { display: block; }
    CommitDialog #commit-problems { color: $text-error; text-style: bold; height: auto; }
    CommitDialog #commit-prefix, CommitDialog #commit-overwrite { display: none; }
    CommitDialog #commit-prefix.-visible, CommitDialog #commit-overwrite.-visible { display: block; }
    CommitDialog Label { padding-top: 1; color: $text-muted; }
    CommitDialog #verify-row { height: 1; display: none; }
    CommitDialog #verify-row.-visible { display: block; }
    CommitDialog #verify-status { height: auto; }
    CommitDialog #verify-status.-bad { color: $text-error; text-style: bold; }
    CommitDialog #verify-status.-good { color: $text-success; }
    CommitDialog #commit-result { height: auto; padding-top: 1; text-style: bold; }
    CommitDialog #commit-result.-bad { color: $text-error; }
    CommitDialog #commit-result.-good { color: $text-success; }
    CommitDialog #commit-buttons { height: auto; align-horizontal: right; padding-top: 1; }
    CommitDialog Button { margin-left: 2; }
    """

    class PlanLoaded(Message):
        def __init__(self, plan: CommitPlan | None, existing: ObjectInfo | None, error: str | None) -> None:
            super().__init__()
            self.plan, self.existing, self.error = plan, existing, error

    class VerifyProgress(Message):
        def __init__(self, done: int, total: int) -> None:
            super().__init__()
            self.done, self.total = done, total

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, CommitDialog.VerifyProgress)

    class Verified(Message):
        def __init__(self, result: FileVerification | None, error: str | None) -> None:
            super().__init__()
            self.result, self.error = result, error

    class Committed(Message):
        def __init__(self, result: CommitResult) -> None:
            super().__init__()
            self.result = result

    def __init__(self, conn: S3Connection, upload: Upload) -> None:
        super().__init__()
        self.conn = conn
        self.upload = upload
        self.plan: CommitPlan | None = None
        self.existing: ObjectInfo | None = None
        self.verification: FileVerification | None = None
        self.verified_path: str | None = None
        self.verifying = False
        self.committing = False
        self.result: CommitResult | None = None

    def compose(self) -> ComposeResult:
        u = self.upload
        title = Text("Commit ")
        title.append_text(safe_text(f"s3://{u.bucket}/{u.key}"))
        title.append(f" (upload {one_line(u.upload_id)})")
        with Vertical(id="dialog"):
            yield Static(title, id="commit-title")
            yield Static(Text("listing parts…"), id="commit-plan")
            yield Static("", id="commit-warning", markup=False)
            yield Checkbox("Overwrite it (replace the existing object)", id="commit-overwrite")
            yield Static("", id="commit-problems", markup=False)
            yield Checkbox(
                "Commit the contiguous prefix only (parts before the first gap)", id="commit-prefix"
            )
            yield Label("Verify against a local file (optional; enter hashes it, escape stops)")
            yield Input(placeholder="/path/to/the/original/file", id="verify-path")
            with Horizontal(id="verify-row"):
                yield ProgressBar(total=1, show_eta=False, id="verify-bar")
            yield Static("", id="verify-status", markup=False)
            yield Static("", id="commit-result", markup=False)
            with Horizontal(id="commit-buttons"):
                yield Button("Cancel", id="commit-no")
                yield Button("Commit", variant="warning", id="commit-yes", disabled=True)

    def on_mount(self) -> None:
        self.query_one("#commit-no", Button).focus()
        self._load(False)

    # -- plan ----------------------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="commit-plan", exit_on_error=False)
    def _load(self, contiguous_prefix: bool) -> None:
        u = self.upload
        try:
            plan = load_plan(
                self.conn, u.bucket, u.key, u.upload_id, contiguous_prefix=contiguous_prefix, upload=u
            )
        except Exception as exc:
            if is_gone(exc):
                error = "the upload no longer exists (aborted, completed, or never existed)"
            else:
                error = describe(exc)
            self.post_message(self.PlanLoaded(None, None, error))
            return
        self.post_message(self.PlanLoaded(plan, plan.existing, None))

    def on_commit_dialog_plan_loaded(self, message: PlanLoaded) -> None:
        self.plan, self.existing = message.plan, message.existing
        plan_widget = self.query_one("#commit-plan", Static)
        if message.plan is None:
            plan_widget.update(
                Text(f"cannot plan the commit: {one_line(message.error or '')}", style="bold red")
            )
            self._update_buttons()
            return
        plan = message.plan
        plan_widget.update(lines_text(commit_plan_lines(plan)))
        self._show_existing()
        self.query_one("#commit-overwrite", Checkbox).set_class(message.existing is not None, "-visible")
        problems = self.query_one("#commit-problems", Static)
        problems.update(Text("\n".join(f"✗ {problem_text(p)}" for p in plan.problems)))
        has_gap = plan.has(ProblemCode.GAP) or bool(plan.dropped)
        self.query_one("#commit-prefix", Checkbox).set_class(has_gap, "-visible")
        self._update_buttons()

    def _show_existing(self) -> None:
        warning = self.query_one("#commit-warning", Static)
        if self.existing is not None:
            text = replace_warning(self.existing) if self.overwrite else existing_object_text(self.existing)
            warning.update(Text(f"⚠ {text}"))
        warning.set_class(self.existing is not None, "-visible")

    @property
    def overwrite(self) -> bool:
        return self.query_one("#commit-overwrite", Checkbox).value

    @on(Checkbox.Changed, "#commit-overwrite")
    def _overwrite_toggled(self, event: Checkbox.Changed) -> None:
        event.stop()
        self._show_existing()
        self._update_buttons()

    @on(Checkbox.Changed, "#commit-prefix")
    def _prefix_toggled(self, event: Checkbox.Changed) -> None:
        self.plan = None
        self.verification = None
        self.verified_path = None
        self.query_one("#verify-status", Static).update("")
        self.query_one("#commit-plan", Static).update(Text("listing parts…"))
        self._update_buttons()
        self._load(event.value)

    # -- verification --------------------------------------------------------------------------------

    @on(Input.Submitted, "#verify-path")
    def _verify_requested(self, event: Input.Submitted) -> None:
        event.stop()
        path = event.value.strip()
        if not path or self.plan is None or self.verifying:
            return
        self.verifying = True
        self.verification = None
        self.verified_path = None
        self.query_one("#verify-row").add_class("-visible")
        self.query_one("#verify-bar", ProgressBar).update(total=max(self.plan.size, 1), progress=0)
        status = self.query_one("#verify-status", Static)
        status.set_classes("")
        status.update(Text("hashing… (escape stops)"))
        self._update_buttons()
        self._verify(path, self.plan)

    @on(Input.Changed, "#verify-path")
    def _path_changed(self, event: Input.Changed) -> None:
        self._update_buttons()

    @work(thread=True, exclusive=True, group="commit-verify", exit_on_error=False)
    def _verify(self, path: str, plan: CommitPlan) -> None:
        worker = get_current_worker()

        def progress(done: int, total: int) -> None:
            if worker.is_cancelled:
                raise _Stop
            self.post_message(self.VerifyProgress(done, total))

        try:
            result = verify_file(path, plan.parts, algorithm=plan.checksum_algorithm, progress=progress)
        except _Stop:
            self.post_message(self.Verified(None, "verification stopped"))
            return
        except OSError as exc:
            self.post_message(self.Verified(None, f"cannot read {path}: {exc.strerror or exc}"))
            return
        self.post_message(self.Verified(result, None))

    def on_commit_dialog_verify_progress(self, message: VerifyProgress) -> None:
        if self.verifying:
            self.query_one("#verify-bar", ProgressBar).update(
                total=max(message.total, 1), progress=message.done
            )

    def on_commit_dialog_verified(self, message: Verified) -> None:
        self.verifying = False
        status = self.query_one("#verify-status", Static)
        v = message.result
        self.verification = v
        if v is None:
            status.update(Text(message.error or "verification failed"))
            status.set_classes("-bad")
        else:
            self.verified_path = self.query_one("#verify-path", Input).value.strip()
            self.query_one("#verify-bar", ProgressBar).update(progress=v.parts_size)
            summary = verification_summary(v)
            problem = verification_problem(v)
            if problem:
                status.update(Text(f"✗ {summary}\n✗ refusing to commit: {problem}"))
                status.set_classes("-bad")
            else:
                status.update(Text(f"✓ verified: {summary}"))
                status.set_classes("-good")
        self._update_buttons()

    # -- commit --------------------------------------------------------------------------------------

    @property
    def can_commit(self) -> bool:
        if self.plan is None or not self.plan.ok or self.verifying or self.committing or self.result:
            return False
        if self.existing is not None and not self.overwrite:
            return False
        path = self.query_one("#verify-path", Input).value.strip()
        if path:
            # A path was given: it must be the one verified, and it must have passed.
            v = self.verification
            return v is not None and self.verified_path == path and verification_problem(v) is None
        return True

    def _update_buttons(self) -> None:
        self.query_one("#commit-yes", Button).disabled = not self.can_commit
        if self.plan is not None and self.plan.ok:
            n = len(self.plan.parts)
            replace = " and replace" if self.existing is not None and self.overwrite else ""
            self.query_one(
                "#commit-yes", Button
            ).label = f"Commit {format_count(n)} part{'s' if n != 1 else ''}{replace}"

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "commit-yes" and self.can_commit:
            assert self.plan is not None
            self.committing = True
            self._update_buttons()
            self.query_one("#commit-result", Static).update(Text("committing…"))
            self._commit(self.plan, self.overwrite)
        elif event.button.id == "commit-no":
            self.action_close()

    @work(thread=True, exclusive=True, group="commit-complete", exit_on_error=False)
    def _commit(self, plan: CommitPlan, overwrite: bool) -> None:
        try:
            result = complete_upload(self.conn, plan, overwrite=overwrite)
        except Exception as exc:
            result = CommitResult(plan, "failed", error=describe(exc))
        self.post_message(self.Committed(result))

    def on_commit_dialog_committed(self, message: Committed) -> None:
        self.committing = False
        self.result = r = message.result
        widget = self.query_one("#commit-result", Static)
        if r.ok:
            text = f"✓ committed: {format_size(r.plan.size)}, ETag {r.etag}"
            text += " · verified (HEAD matches the plan)" if r.verified else f" ({r.error})"
            widget.set_classes("-good" if r.verified else "-bad")
        else:
            text = f"✗ commit {r.status}: {r.error}"
            widget.set_classes("-bad")
        widget.update(Text(text))
        self.query_one("#commit-yes", Button).display = False
        close = self.query_one("#commit-no", Button)
        close.label = "Close"
        close.focus()

    def action_close(self) -> None:
        if self.verifying:
            self.workers.cancel_group(self, "commit-verify")
            return
        if self.committing:
            self.app.notify("the commit is in flight: wait for its result", markup=False)
            return
        self.dismiss(self.result)
