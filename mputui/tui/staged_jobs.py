"""Jobs frozen mid-run for pictures: the README screenshots and the jobs-screen snapshot test show the same ones.

Staged values, because a real copy on the demo endpoint finishes before a picture can be taken.
"""

from __future__ import annotations

from mputui.jobs.events import JobProgress, S3Source
from mputui.jobs.journal import JobRecord
from mputui.tui.controllers.jobs import JobRun

MIB = 1024 * 1024


def staged_job_runs() -> dict[int, JobRun]:
    """A copy running at 448 MiB of 1 GiB, a failed prefix copy, and an interrupted journaled copy."""
    running = JobRun(
        3, "copy", "s3://acme-prod-backups/db/2025-05-01.dump", "s3://acme-archive/db/2025-05-01.dump"
    )
    running.state = "running"
    running.job_ids = {"4f2a9c1e7b3d5a60"}
    running.progress["4f2a9c1e7b3d5a60"] = JobProgress(
        "4f2a9c1e7b3d5a60", running.src, running.dst, 448 * MIB, 1024 * MIB, 7, 16, 52.5 * MIB, 11.0
    )
    failed = JobRun(2, "copy", "s3://acme-media-uploads/users/", "s3://acme-archive/media/")
    failed.state = "failed"
    failed.copied = 41
    failed.job_ids = {"9e81d0c4b2f6a317"}
    failed.failures = [
        "s3://acme-media-uploads/users/77/v.mp4 → s3://acme-archive/media/77/v.mp4: AccessDenied"
    ]
    record = JobRecord(
        id="c0ffee00d15ea5e5",
        source=S3Source("acme-data-lake", "raw/2025/05.parquet"),
        src_etag="e",
        src_size=96 * MIB,
        dst_bucket="acme-archive",
        dst_key="raw/2025/05.parquet",
        part_size=16 * MIB,
        parts_total=6,
        upload_id="u",
        done={1: "a", 2: "b"},
    )
    interrupted = JobRun(
        1, "journal", record.src, record.dst, "interrupted", job_ids={record.id}, record=record
    )
    return {1: interrupted, 2: failed, 3: running}
