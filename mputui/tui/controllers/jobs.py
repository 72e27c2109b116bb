"""Jobs: start copies from the copy dialog, resume uploads from local files, resume journaled jobs (copy,
put and resume records alike), cancel, and follow them live.

Each run is a thread worker driving the headless core (``Copier`` for copies, ``Resumer`` for an upload
resumed from a file, ``mputui.jobs.journaled.resume`` for any journaled job); its events come back as ``JobEventPosted`` messages (progress ticks coalesce in
the queue) and the run's end as ``JobEnded``. Uploads that belong to a journaled job are labelled in the
uploads table (``UploadTable.jobs``) and can be resumed from there.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from mputui.formatting import format_count
from mputui.jobs.copy import Copier, CopyPlan, CopySummary
from mputui.jobs.events import (
    FileSource,
    JobAborted,
    JobEvent,
    JobProgress,
    ObjectDone,
    ObjectFailed,
    ObjectSkipped,
    PartSent,
    RunProgress,
)
from mputui.jobs.journal import JobRecord, Journal
from mputui.jobs.journaled import Summary
from mputui.jobs.journaled import resume as resume_job
from mputui.jobs.kinds import JobKind, Outcome
from mputui.jobs.resume import ResumePlan, Resumer, ResumeSummary
from mputui.parsing import parse_s3_url
from mputui.s3.cancel import CancelToken
from mputui.s3.errors import MputuiError, describe
from mputui.tui.messages import JobEnded, JobEventPosted, JournalLoaded
from mputui.tui.model import Ident

if TYPE_CHECKING:
    from mputui.tui.app import MputuiApp
    from mputui.tui.screens.copy import CopyRequest

RunState = Literal["planning", "running", "done", "failed", "cancelled", "interrupted"]


@dataclass
class JobRun:
    """One copy (or copy resume: ``resume``) the user started in this session, a run that sends a local file
    (``file``: a resume from a file, or a journaled put/resume job resumed), or a journaled job found
    interrupted (``journal``; ``record`` says which kind)."""

    run_id: int
    kind: Literal["copy", "resume", "journal", "file"]
    src: str
    dst: str
    state: RunState = "planning"
    copier: Copier | None = None
    resumer: Resumer | None = None
    cancel: CancelToken | None = None  # a resumed journaled job's
    put: RunProgress | None = None  # a file run's latest progress
    parts_total: int = 0  # a file run's parts (present ones count as done)
    parts_done: int = 0
    upload: Ident | None = None  # the upload a file run completes
    progress: dict[str, JobProgress] = field(default_factory=dict)
    job_ids: set[str] = field(default_factory=set)
    copied: int = 0
    skipped: int = 0
    failures: list[str] = field(default_factory=list)
    error: str | None = None
    started: float = field(default_factory=time.monotonic)
    record: JobRecord | None = None  # the journaled job this run shows or resumes

    @property
    def job_kind(self) -> str:
        """What the job does: ``copy``, ``put`` or ``resume`` (from a local file)."""
        if self.record is not None:
            return self.record.kind
        return JobKind.RESUME if self.kind == "file" else "copy"

    @property
    def active(self) -> bool:
        return self.state in ("planning", "running")

    @property
    def resumable(self) -> bool:
        return not self.active and bool(self.job_ids) and self.state != "done"

    def totals(self) -> tuple[int, int, int, int, float, float | None]:
        """bytes done, bytes total, parts done, parts total, rate (B/s), ETA (s) over the run's jobs."""
        if self.kind == "file":
            put = self.put
            if put is None:
                r = self.record
                done, total = (r.bytes_done, r.src_size) if r is not None else (0, 0)
                return done, total, self.parts_done, self.parts_total, 0.0, None
            return put.bytes_done, put.bytes_total, self.parts_done, self.parts_total, put.rate, put.eta
        p = list(self.progress.values())
        if not p and self.record is not None:
            r = self.record
            return r.bytes_done, r.src_size, len(r.done), r.parts_total, 0.0, None
        done, total = sum(x.bytes_done for x in p), sum(x.bytes_total for x in p)
        rate = sum(x.rate for x in p)
        eta = (total - done) / rate if rate > 0 else (0.0 if total == done else None)
        return done, total, sum(x.parts_done for x in p), sum(x.parts_total for x in p), rate, eta


class JobsController:
    """Every job run of this session plus the journaled ones; starts, cancels and resumes them."""

    def __init__(self, app: MputuiApp, journal: Journal | None) -> None:
        self.app = app
        self._journal = journal
        self.runs: dict[int, JobRun] = {}
        self.by_upload: dict[Ident, JobRecord] = {}
        self.loading = False
        self.last_committed: str | None = None  # s3:// URL of the last object committed in this session
        self._seq = 0

    @property
    def journal(self) -> Journal:
        if self._journal is None:
            self._journal = Journal()
        return self._journal

    # -- journal -------------------------------------------------------------------------------------

    def load_journal(self) -> None:
        self.loading = True
        self.app.run_worker(self._load, thread=True, group="journal", exit_on_error=False, name="journal")

    def _load(self) -> None:
        try:
            journal = self.journal
            records = journal.records()
        except Exception:
            records = []
        by_upload = {(r.dst_bucket, r.dst_key, r.upload_id): r for r in records if r.upload_id}
        self.app.post_message(JournalLoaded(by_upload, records))

    def on_journal_loaded(self, message: JournalLoaded) -> None:
        self.loading = False
        self.by_upload = message.by_upload
        self.app.uploads.jobs = self.by_upload
        self.app.uploads.refresh()
        busy = {j for run in self.runs.values() if run.active for j in run.job_ids}
        busy_uploads = {run.upload for run in self.runs.values() if run.active and run.upload is not None}
        # Journaled jobs nobody is running (copies, puts and resumes alike): shown as interrupted, resumable.
        for run_id in [i for i, r in self.runs.items() if r.kind == "journal"]:
            del self.runs[run_id]
        for record in message.records:
            if record.id in busy or (record.dst_bucket, record.dst_key, record.upload_id) in busy_uploads:
                continue
            if any(r.job_ids == {record.id} and r.state != "done" for r in self.runs.values()):
                continue
            self._seq += 1
            self.runs[self._seq] = JobRun(
                self._seq,
                "journal",
                record.src,
                record.dst,
                "interrupted",
                job_ids={record.id},
                record=record,
            )
        self.changed()

    def uploads_gone(self, idents: list[Ident]) -> None:
        """Aborted or committed uploads: drop their job labels (the journal was cleaned by the core)."""
        for ident in idents:
            self.by_upload.pop(ident, None)

    # -- starting ------------------------------------------------------------------------------------

    def request_copy(self) -> None:
        from mputui.tui.screens.copy import CopyDialog

        app = self.app
        if app.read_only:
            return
        row = app.uploads.current
        source = self.last_committed or (f"s3://{row.bucket}/{row.key}" if row is not None else "s3://")
        app.push_screen(CopyDialog(source, planner=self._plan_copy), callback=self._copy_confirmed)

    def _plan_copy(self, src: str, dst: str, part_size: int) -> CopyPlan:
        """The copy dialog's planner (runs in its thread worker): what ``start_copy`` would then do."""
        conn = self.app.conn
        if conn is None:
            raise MputuiError("not connected")
        return Copier(conn, part_size=part_size, journal=self.journal).plan(
            parse_s3_url(src), parse_s3_url(dst)
        )

    def _copy_confirmed(self, request: CopyRequest | None) -> None:
        if request is not None:
            self.start_copy(request.src, request.dst, request.part_size, plan=request.plan)

    def start_copy(
        self, src: str, dst: str, part_size: int, *, plan: CopyPlan | None = None
    ) -> JobRun | None:
        """Start a copy job; with ``plan`` (the one the user confirmed) exactly that plan runs."""
        app = self.app
        if app.conn is None:
            app.notify("not connected", severity="error", markup=False)
            return None
        run = self._new_run("copy", src, dst)
        run.copier = Copier(app.conn, part_size=part_size, journal=self.journal, on_event=self._poster(run))
        copier = run.copier
        confirmed = plan

        def work() -> CopySummary:
            todo = confirmed or copier.plan(parse_s3_url(src), parse_s3_url(dst))
            app.call_from_thread(self._set_state, run.run_id, "running")
            return copier.run(todo)

        self._launch(run, work)
        return run

    def request_resume_file(self) -> None:
        from mputui.tui.screens.resume_file import ResumeFileDialog

        app = self.app
        if app.read_only:
            return
        if app.conn is None:
            app.notify("not connected", severity="error", markup=False)
            return
        row = app.uploads.current
        if row is None:
            app.notify("no upload highlighted", markup=False)
            return
        app.push_screen(ResumeFileDialog(app.conn, row.upload, self.journal), callback=self._file_confirmed)

    def _file_confirmed(self, plan: ResumePlan | None) -> None:
        if plan is not None:
            self.start_resume_file(plan)

    def start_resume_file(self, plan: ResumePlan) -> JobRun | None:
        """Run a confirmed resume plan: send the missing parts from the local file, complete the upload."""
        app = self.app
        if app.read_only or not plan.ok:
            return None
        if app.conn is None:
            app.notify("not connected", severity="error", markup=False)
            return None
        ident = (plan.bucket, plan.key, plan.upload_id)
        if any(run.active and run.upload == ident for run in self.runs.values()):
            app.notify("this upload is already being resumed", severity="warning", markup=False)
            return None
        run = self._new_run("file", plan.path, plan.dst)
        run.state, run.upload = "running", ident
        run.parts_total, run.parts_done = plan.parts_total, len(plan.present)
        if plan.job_id:
            run.job_ids.add(plan.job_id)
        run.resumer = Resumer(app.conn, journal=self.journal, on_event=self._poster(run))
        resumer = run.resumer
        self._launch(run, lambda: resumer.run(plan))
        return run

    def resume(self, record: JobRecord) -> JobRun | None:
        app = self.app
        if app.read_only:
            return None
        if app.conn is None:
            app.notify("not connected", severity="error", markup=False)
            return None
        ident = (record.dst_bucket, record.dst_key, record.upload_id) if record.upload_id else None
        if any(
            run.active and (record.id in run.job_ids or (ident is not None and run.upload == ident))
            for run in self.runs.values()
        ):
            app.notify(f"job {record.id} is already running", severity="warning", markup=False)
            return None
        for run_id in [i for i, r in self.runs.items() if r.job_ids == {record.id} and not r.active]:
            del self.runs[run_id]
        # A job reading a local file shows as a file run (its progress is the run's); a copy as a resume.
        from_file = isinstance(record.source, FileSource)
        run = self._new_run("file" if from_file else "resume", record.src, record.dst)
        run.state, run.record = "running", record
        run.job_ids.add(record.id)
        if from_file:
            run.upload = ident
            run.parts_total, run.parts_done = record.parts_total, len(record.done)
        conn, journal, on_event = app.conn, self.journal, self._poster(run)
        cancel = run.cancel = CancelToken()
        # The core checks a file job's file again first: one gone or changed fails the run with its reason,
        # and, resuming from here, nothing is sent or aborted (``abort_changed=False``).
        self._launch(
            run,
            lambda: resume_job(
                record, conn, journal=journal, on_event=on_event, cancel=cancel, abort_changed=False
            ),
        )
        return run

    def resume_run(self, run: JobRun) -> None:
        """Resume every journaled job of a stopped run."""
        for job_id in sorted(run.job_ids):
            record = self.journal.load(job_id)
            if record is None:
                self.app.notify(f"job {job_id} is no longer journaled", markup=False)
                continue
            self.resume(record)

    def resume_highlighted(self) -> None:
        row = self.app.uploads.current
        record = self.by_upload.get(row.ident) if row is not None else None
        if record is None:
            self.app.notify("the highlighted upload is not an mputui job", markup=False)
            return
        self.resume(record)

    def cancel(self, run: JobRun) -> None:
        if run.active and self._stop(run):
            self.app.notify("cancelling: running parts finish and are journaled", markup=False)

    def cancel_all(self) -> None:
        for run in self.runs.values():
            if run.active:
                self._stop(run)

    @staticmethod
    def _stop(run: JobRun) -> bool:
        """Cancel whatever core object drives ``run``; False if nothing does."""
        workers = [w.cancel_token for w in (run.copier, run.resumer) if w is not None]
        if run.cancel is not None:
            workers.append(run.cancel)
        for token in workers:
            token.cancel()
        return bool(workers)

    def _new_run(self, kind: Literal["copy", "resume", "file"], src: str, dst: str) -> JobRun:
        self._seq += 1
        run = JobRun(self._seq, kind, src, dst)
        self.runs[run.run_id] = run
        self.changed()
        return run

    def _poster(self, run: JobRun) -> Callable[[JobEvent], None]:
        post, run_id = self.app.post_message, run.run_id

        def on_event(event: JobEvent) -> None:
            post(JobEventPosted(run_id, event))

        return on_event

    def _launch(self, run: JobRun, work: Callable[[], Summary]) -> None:
        """Run ``work`` in a thread worker; its summary (or the one-line reason it raised) ends the run."""
        app, run_id = self.app, run.run_id
        self.changed()

        def worker() -> None:
            try:
                summary = work()
            except Exception as exc:
                app.post_message(JobEnded(run_id, None, describe(exc)))
                return
            app.post_message(JobEnded(run_id, summary))

        app.run_worker(worker, thread=True, group="jobs", exit_on_error=False, name=f"job-{run_id}")

    def _set_state(self, run_id: int, state: RunState) -> None:
        run = self.runs.get(run_id)
        if run is not None and run.active:
            run.state = state
            self.changed()

    # -- events --------------------------------------------------------------------------------------

    def on_job_event(self, message: JobEventPosted) -> None:
        run = self.runs.get(message.run_id)
        if run is None:
            return
        event = message.event
        if isinstance(event, JobProgress):
            run.state = "running" if run.active else run.state
            run.progress[event.job_id] = event
            run.job_ids.add(event.job_id)
        elif isinstance(event, ObjectDone):
            run.copied += 1
        elif isinstance(event, ObjectSkipped):
            run.skipped += 1
        elif isinstance(event, ObjectFailed):
            run.failures.append(f"{event.src} → {event.dst}: {event.error}")
            if event.job_id:
                run.job_ids.add(event.job_id)
        elif isinstance(event, JobAborted):
            run.failures.append(f"job {event.job_id} aborted: {event.reason}")
        elif isinstance(event, RunProgress):
            run.put = event
        elif isinstance(event, PartSent):
            run.parts_done += 1
            run.job_ids.add(event.job_id)
        self.changed()

    def on_job_ended(self, message: JobEnded) -> None:
        run = self.runs.get(message.run_id)
        if run is None:
            return
        summary = message.summary
        if isinstance(summary, ResumeSummary) and summary.job_id:
            run.job_ids.add(summary.job_id)
        run.state, error = outcome(summary, message.error)
        if error is not None:
            run.error = error
        if run.state == "done":
            run.parts_done = max(run.parts_done, run.parts_total)
            # The object now exists: the job's uploads leave the table.
            gone = [ident for ident, rec in self.by_upload.items() if rec.id in run.job_ids]
            if run.upload is not None and run.upload not in gone:
                gone.append(run.upload)
            if gone:
                self.app.store.remove(gone)
                self.uploads_gone(gone)
                self.app.refresh_soon()
        what = {
            "done": "finished",
            "cancelled": "cancelled (R resumes it)" if run.resumable else "cancelled",
            "failed": "failed",
        }
        reason = run.error or (run.failures[0] if run.failures else None)
        if run.kind == "file" and run.record is None:
            title = "Resume from file"
        else:
            title = f"{run.job_kind.capitalize()} job"
        self.app.notify(
            f"{run.src} → {run.dst}: {what.get(run.state, run.state)}"
            + (f": {reason}" if run.state == "failed" and reason else ""),
            title=title,
            severity="error" if run.state == "failed" else "information",
            markup=False,
        )
        self.load_journal()  # uploads may have gained or lost a job
        self.changed()

    # -- views ---------------------------------------------------------------------------------------

    def show(self) -> None:
        from mputui.tui.screens.jobs import JobsScreen

        if not isinstance(self.app.screen, JobsScreen):
            self.app.push_screen(JobsScreen(self))

    def changed(self) -> None:
        from mputui.tui.screens.jobs import JobsScreen

        for screen in self.app.screen_stack:
            if isinstance(screen, JobsScreen):
                screen.runs_changed()
        if self.app.is_running and self.app.screen_stack:
            self.app.update_status()

    def status_text(self) -> str:
        active = sum(1 for r in self.runs.values() if r.active)
        return f"{format_count(active)} job{'s' if active != 1 else ''} running (J)" if active else ""


def outcome(summary: Summary | None, error: str | None) -> tuple[RunState, str | None]:
    """How a run ended, from its core summary (or the one-line reason its worker raised): state, reason."""
    if summary is None:
        return "failed", error or "the job stopped"
    return _STATE[summary.outcome], summary.reason


_STATE: dict[Outcome, RunState] = {
    Outcome.DONE: "done",
    Outcome.FAILED: "failed",
    Outcome.CANCELLED: "cancelled",
}
