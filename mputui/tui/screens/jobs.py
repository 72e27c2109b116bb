"""The jobs screen: every job of this session and every interrupted journaled job (copy, put or resume), live.

One card per job: state, kind, source (an s3:// URL or a local path) → destination, a progress bar with bytes,
rate, ETA and parts, and the reasons of failures. ``x`` cancels the highlighted job (finished parts stay
journaled), ``R`` resumes it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, ProgressBar, Static

from mputui.formatting import compact_age, format_count, format_size
from mputui.tui.text import safe_text

if TYPE_CHECKING:
    from mputui.tui.controllers.jobs import JobRun, JobsController

STATE_STYLE = {
    "planning": "bold",
    "running": "bold cyan",
    "done": "bold green",
    "failed": "bold red",
    "cancelled": "bold yellow",
    "interrupted": "bold yellow",
}


def progress_detail(run: JobRun) -> str:
    done, total, parts_done, parts_total, rate, eta = run.totals()
    text = f"{format_size(done)} / {format_size(total)}"
    if parts_total:
        text += f" · {format_count(parts_done)}/{format_count(parts_total)} parts"
    if run.active:
        text += f" · {format_size(int(rate))}/s" if rate else " · -/s"
        text += f" · ETA {compact_age(eta)}" if eta is not None else " · ETA -"
    if run.copied or run.skipped:
        text += f" · {format_count(run.copied)} copied"
        if run.skipped:
            text += f", {format_count(run.skipped)} skipped"
    return text


class JobCard(Vertical):
    """One job: a title line, a progress bar with its numbers, and failure reasons."""

    DEFAULT_CSS = """
    JobCard { height: auto; padding: 0 1; border-left: wide $panel; margin-bottom: 1; }
    JobCard.-selected { border-left: wide $accent; background: $boost; }
    JobCard .job-line { height: 1; }
    JobCard Horizontal { height: 1; }
    JobCard ProgressBar { width: auto; padding-right: 1; }
    JobCard .job-detail { width: 1fr; }
    JobCard .job-error { color: $text-error; height: auto; }
    JobCard .job-error.-note { color: $text-warning; }
    """

    def __init__(self, run: JobRun) -> None:
        super().__init__()
        self.run = run

    def compose(self) -> ComposeResult:
        yield Static("", classes="job-line", markup=False)
        with Horizontal():
            yield ProgressBar(total=1, show_eta=False, classes="job-bar")
            yield Static("", classes="job-detail", markup=False)
        yield Static("", classes="job-error", markup=False)

    def on_mount(self) -> None:
        self.update_run()

    def update_run(self) -> None:
        if not self.children:
            return  # mounted but not composed yet: on_mount shows the run
        run = self.run
        label = "FAILED" if run.state == "failed" else run.state
        line = Text()
        line.append(f"{label:<11} ", style=STATE_STYLE[run.state])
        line.append(f"{run.job_kind:<7}", style="bold")
        line.append_text(safe_text(run.src))
        line.append(" → ")
        line.append_text(safe_text(run.dst))
        if run.job_ids:
            line.append(f"   job {', '.join(sorted(run.job_ids))[:40]}", style="dim")
        self.query_one(".job-line", Static).update(line)
        done, total, *_ = run.totals()
        bar = self.query_one(ProgressBar)
        bar.update(total=max(total, 1), progress=done if total else 0)
        bar.display = bool(total) or run.active
        self.query_one(".job-detail", Static).update(Text(progress_detail(run)))
        reasons = ([run.error] if run.error else []) + run.failures
        note = "not running: R resumes it from its journaled parts"
        if run.state == "interrupted" or (run.state == "cancelled" and run.resumable and not reasons):
            reasons = [note]
        error = self.query_one(".job-error", Static)
        error.update(Text("\n".join(reasons[:5])))
        error.display = bool(reasons)
        error.set_class(reasons == [note], "-note")


class JobsScreen(ModalScreen[None]):
    """Up/down choose a job; x cancels it, R resumes it; escape or J goes back."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,J,q", "close", "Back", id="jobs_close"),
        Binding("up,k", "move(-1)", "Up", show=False, id="jobs_up"),
        Binding("down,j", "move(1)", "Down", show=False, id="jobs_down"),
        Binding("x", "cancel_job", "Cancel job", id="jobs_cancel"),
        Binding("R", "resume_job", "Resume job", id="jobs_resume"),
        Binding("C", "copy", "New copy", id="jobs_copy"),
    ]

    DEFAULT_CSS = """
    JobsScreen { align: center middle; }
    JobsScreen #jobs {
        width: 95%; height: 85%; border: thick $accent; background: $surface; padding: 0 1;
    }
    JobsScreen #jobs-title { text-style: bold; color: $text-accent; padding-bottom: 1; }
    JobsScreen #jobs-empty { color: $text-muted; }
    """

    def __init__(self, controller: JobsController) -> None:
        super().__init__()
        self.controller = controller
        self.selected = 0
        self._shown: list[int] = []
        self._ready = False

    def compose(self) -> ComposeResult:
        with Vertical(id="jobs"):
            yield Static(Text("Jobs"), id="jobs-title")
            yield Static(
                Text(
                    "no jobs: C on an upload (or here) starts a copy; interrupted journaled jobs show up here"
                ),
                id="jobs-empty",
            )
            yield VerticalScroll(id="jobs-list")
        yield Footer()

    def on_mount(self) -> None:
        self._ready = True
        self.runs_changed()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not (action in ("resume_job", "copy", "cancel_job") and self.controller.app.read_only)

    def _ordered(self) -> list[JobRun]:
        runs = list(self.controller.runs.values())
        # Running first, then the rest, newest first.
        return sorted(runs, key=lambda r: (not r.active, -r.run_id))

    def runs_changed(self) -> None:
        if not self._ready:
            return
        runs = self._ordered()
        ids = [r.run_id for r in runs]
        listing = self.query_one("#jobs-list", VerticalScroll)
        if ids != self._shown:
            current = self._shown[self.selected] if 0 <= self.selected < len(self._shown) else None
            self._shown = ids
            listing.remove_children()
            listing.mount_all([JobCard(r) for r in runs])
            self.selected = ids.index(current) if current in ids else 0
            self.call_after_refresh(self._mark_selected)
        else:
            for card in listing.query(JobCard):
                card.update_run()
        self.query_one("#jobs-empty").display = not runs
        active = sum(1 for r in runs if r.active)
        self.query_one("#jobs-title", Static).update(
            Text(f"Jobs · {format_count(active)} running · {format_count(len(runs))} in all")
        )

    def _mark_selected(self) -> None:
        for i, card in enumerate(self.query(JobCard)):
            card.set_class(i == self.selected, "-selected")
            if i == self.selected:
                card.scroll_visible(animate=False)

    @property
    def current(self) -> JobRun | None:
        if 0 <= self.selected < len(self._shown):
            return self.controller.runs.get(self._shown[self.selected])
        return None

    def action_move(self, delta: int) -> None:
        self.selected = max(0, min(len(self._shown) - 1, self.selected + delta))
        self._mark_selected()

    def action_cancel_job(self) -> None:
        run = self.current
        if run is not None and run.active:
            self.controller.cancel(run)

    def action_resume_job(self) -> None:
        run = self.current
        if run is None:
            return
        if not run.resumable:
            self.app.notify("nothing to resume for this job", markup=False)
            return
        self.controller.resume_run(run)

    def action_copy(self) -> None:
        self.controller.request_copy()

    def action_close(self) -> None:
        self.dismiss(None)
