"""One entry to finish any journaled job, whatever its kind: ``resume(record, ...)`` runs a copy from its S3
source, a put or a resume from its local file, and returns the run's summary, whose ``outcome`` says how it
ended. The CLI's ``mputui jobs resume`` and the TUI's R both call it."""

from __future__ import annotations

from mputui.jobs.copy import Copier, CopySummary
from mputui.jobs.events import EventCallback
from mputui.jobs.journal import JobRecord, Journal
from mputui.jobs.kinds import JobKind
from mputui.jobs.put import PutSummary, Putter
from mputui.jobs.resume import ResumePlan, Resumer, ResumeSummary
from mputui.s3.cancel import Cancelled, CancelToken
from mputui.s3.connect import S3Connection
from mputui.s3.errors import MputuiError

Summary = CopySummary | PutSummary | ResumeSummary


class ResumeRefused(MputuiError):
    """A resume job's file no longer matches its parts: nothing is sent; ``plan`` says why."""

    def __init__(self, plan: ResumePlan) -> None:
        super().__init__("refusing to resume: " + "; ".join(plan.problems))
        self.plan = plan


def resume(
    record: JobRecord,
    src_conn: S3Connection,
    dst_conn: S3Connection | None = None,
    *,
    journal: Journal,
    on_event: EventCallback | None = None,
    cancel: CancelToken | None = None,
    abort_changed: bool = True,
) -> Summary:
    """Finish ``record``'s job; blocking, ``cancel`` stops it from any thread.

    A copy whose source changed is aborted (SourceChanged). A put whose file changed is aborted too, or, with
    ``abort_changed=False``, left as it is (MputuiError). A resume whose file no longer matches raises
    ResumeRefused. ``src_conn`` reads a copy's source; ``dst_conn`` (default ``src_conn``) holds the upload.
    """
    dst = dst_conn or src_conn
    if record.kind is JobKind.COPY:
        copier = Copier(
            src_conn, dst, part_size=record.part_size, journal=journal, on_event=on_event, cancel=cancel
        )
        return copier.resume(record)
    if record.kind is JobKind.PUT:
        putter = Putter(dst, journal=journal, on_event=on_event, cancel=cancel)
        return putter.resume_record(record, abort_changed=abort_changed)
    resumer = Resumer(dst, journal=journal, on_event=on_event, cancel=cancel)
    try:
        plan, summary = resumer.resume_record(record)
    except Cancelled:  # cancelled while the file was being checked against the parts
        return ResumeSummary(job_id=record.id, cancelled=True, resumable=True)
    if summary is None:
        raise ResumeRefused(plan)
    return summary
