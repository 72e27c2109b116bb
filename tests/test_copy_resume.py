"""Restartable copy: kill -9 mid-copy, then re-run / ``jobs resume`` / ``jobs abort``; never an orphan upload.

The crash is made deterministic with a test hook read only by the copy code: with
``MPUTUI_TEST_CRASH_AFTER_PARTS=N`` the process sends itself SIGKILL right after journaling its N-th part.
``--concurrency 1`` keeps exactly N parts on the server at that moment.
"""

from __future__ import annotations

import json
import os
import signal
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from conftest import BucketFactory, S3Server, run_cli
from mputui.jobs.copy import Copier
from mputui.jobs.events import JobEvent, JobProgress, ObjectFailed, PartSent, PartState, S3Source
from mputui.jobs.journal import JobRecord, Journal, job_id_for
from mputui.jobs.plan import part_count
from mputui.parsing import parse_s3_url
from mputui.s3.connect import S3Connection

MIB = 1024 * 1024
SIZE = 18 * MIB  # 4 parts of 5 MiB: 5 + 5 + 5 + 3
PART = 5 * MIB


def json_lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def env_for(server: S3Server, home: Path, **extra: str) -> dict[str, str]:
    env = server.env()
    env["MPUTUI_HOME"] = str(home)
    env.update(extra)
    return env


def uploads(client: Any, bucket: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    return found


def journal_files(home: Path) -> list[Path]:
    return sorted((home / "state" / "jobs").glob("*.json"))


def crash_copy(server: S3Server, home: Path, src: str, dst: str, after: int = 2) -> None:
    """Start ``cp`` and let it kill itself (SIGKILL) after ``after`` parts; check what it left behind."""
    proc = run_cli(
        None, "cp", src, dst, "--part-size", "5MiB", "--yes", "--json", "--concurrency", "1",
        env=env_for(server, home, MPUTUI_TEST_CRASH_AFTER_PARTS=str(after)),
    )  # fmt: skip
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, proc.stderr)
    (path,) = journal_files(home)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    log = path.with_suffix(".parts")  # the parts journaled since the record was last written whole
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    for text in (path.read_text(), log.read_text()):
        assert server.secret_key not in text and server.access_key not in text
    record = Journal(path.parent).load(path.stem)
    assert record is not None and len(record.done) == after and record.upload_id


def setup_source(client: Any, bucket: str, key: str = "big.bin") -> bytes:
    data = os.urandom(SIZE)
    client.put_object(Bucket=bucket, Key=key, Body=data, Metadata={"tag": "v1"})
    return data


def test_rerun_after_kill_copies_only_the_missing_parts(
    moto_server: S3Server, bucket_factory: BucketFactory, tmp_path: Path
) -> None:
    client = moto_server.client()
    src, dst = bucket_factory(), bucket_factory()
    data = setup_source(client, src)
    crash_copy(moto_server, tmp_path, f"s3://{src}/big.bin", f"s3://{dst}/copy.bin")
    (upload,) = uploads(client, dst)
    listed = client.list_parts(Bucket=dst, Key="copy.bin", UploadId=upload["UploadId"])["Parts"]
    assert [p["PartNumber"] for p in listed] == [1, 2]

    proc = run_cli(
        None, "cp", f"s3://{src}/big.bin", f"s3://{dst}/copy.bin", "--part-size", "5MiB", "--yes", "--json",
        env=env_for(moto_server, tmp_path),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = json_lines(proc.stdout)
    assert sorted(x["part_number"] for x in lines if x["type"] == "part") == [3, 4]  # UploadPartCopy calls
    (copied,) = [x for x in lines if x["type"] == "copied"]
    assert (copied["resumed"], copied["parts"], copied["parts_copied"]) == (True, 4, 2)
    assert client.get_object(Bucket=dst, Key="copy.bin")["Body"].read() == data
    assert client.head_object(Bucket=dst, Key="copy.bin")["Metadata"]["tag"] == "v1"
    assert uploads(client, dst) == []  # the same upload was completed, no second one was started
    assert journal_files(tmp_path) == []


def test_jobs_list_and_resume(moto_server: S3Server, bucket_factory: BucketFactory, tmp_path: Path) -> None:
    client = moto_server.client()
    src, dst = bucket_factory(), bucket_factory()
    data = setup_source(client, src)
    crash_copy(moto_server, tmp_path, f"s3://{src}/big.bin", f"s3://{dst}/", after=3)
    env = env_for(moto_server, tmp_path)
    listing = run_cli(None, "jobs", "--json", env=env)
    assert listing.returncode == 0, listing.stderr
    (job,) = json_lines(listing.stdout)
    (upload,) = uploads(client, dst)
    assert job["upload_id"] == upload["UploadId"]
    assert (job["src"], job["dst"]) == (f"s3://{src}/big.bin", f"s3://{dst}/big.bin")
    assert (job["parts_done"], job["parts_total"], job["bytes_done"], job["size"]) == (3, 4, 3 * PART, SIZE)
    text = run_cli(None, "jobs", env=env)
    assert job["id"] in text.stdout and "3/4" in text.stdout

    resumed = run_cli(None, "jobs", "resume", job["id"][:6], "--yes", "--json", env=env)
    assert resumed.returncode == 0, resumed.stderr
    lines = json_lines(resumed.stdout)
    assert [x["part_number"] for x in lines if x["type"] == "part"] == [4]
    assert client.get_object(Bucket=dst, Key="big.bin")["Body"].read() == data
    assert uploads(client, dst) == []
    assert run_cli(None, "jobs", env=env).stdout.strip() == "no journaled jobs"


def test_rerun_after_the_source_changed_aborts_the_old_job(
    moto_server: S3Server, bucket_factory: BucketFactory, tmp_path: Path
) -> None:
    client = moto_server.client()
    src, dst = bucket_factory(), bucket_factory()
    setup_source(client, src)
    crash_copy(moto_server, tmp_path, f"s3://{src}/big.bin", f"s3://{dst}/big.bin")
    assert len(uploads(client, dst)) == 1
    new_data = setup_source(client, src)
    proc = run_cli(
        None, "cp", f"s3://{src}/big.bin", f"s3://{dst}/big.bin", "--part-size", "5MiB", "--yes", "--json",
        env=env_for(moto_server, tmp_path),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = json_lines(proc.stdout)
    (aborted,) = [x for x in lines if x["type"] == "aborted"]
    assert "source changed" in aborted["reason"]
    (copied,) = [x for x in lines if x["type"] == "copied"]
    assert (copied["resumed"], copied["parts_copied"]) == (False, 4)
    assert client.get_object(Bucket=dst, Key="big.bin")["Body"].read() == new_data
    assert uploads(client, dst) == []
    assert aborted["job"] != copied["job"]  # a new job for the new source version
    assert journal_files(tmp_path) == []


def test_jobs_resume_refuses_a_changed_source_and_aborts(
    moto_server: S3Server, bucket_factory: BucketFactory, tmp_path: Path
) -> None:
    client = moto_server.client()
    src, dst = bucket_factory(), bucket_factory()
    setup_source(client, src)
    crash_copy(moto_server, tmp_path, f"s3://{src}/big.bin", f"s3://{dst}/big.bin", after=1)
    setup_source(client, src)
    job_id = journal_files(tmp_path)[0].stem
    proc = run_cli(None, "jobs", "resume", job_id, "--yes", env=env_for(moto_server, tmp_path))
    assert proc.returncode == 1
    assert "changed" in proc.stderr and "aborted" in proc.stderr and "Traceback" not in proc.stderr
    assert uploads(client, dst) == []
    assert client.list_objects_v2(Bucket=dst).get("KeyCount", 0) == 0
    assert journal_files(tmp_path) == []


def test_jobs_abort(moto_server: S3Server, bucket_factory: BucketFactory, tmp_path: Path) -> None:
    client = moto_server.client()
    src, dst = bucket_factory(), bucket_factory()
    setup_source(client, src)
    crash_copy(moto_server, tmp_path, f"s3://{src}/big.bin", f"s3://{dst}/big.bin", after=1)
    job_id = journal_files(tmp_path)[0].stem
    env = env_for(moto_server, tmp_path)
    refused = run_cli(None, "jobs", "abort", job_id, env=env)
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert len(uploads(client, dst)) == 1
    read_only = run_cli(None, "--read-only", "jobs", "abort", job_id, "--yes", env=env)
    assert read_only.returncode == 2 and len(uploads(client, dst)) == 1
    proc = run_cli(None, "jobs", "abort", job_id, "--yes", env=env)
    assert proc.returncode == 0, proc.stderr
    assert f"aborted job {job_id}" in proc.stdout
    assert uploads(client, dst) == []
    assert journal_files(tmp_path) == []


def test_an_upload_created_but_not_yet_journaled_is_adopted_not_orphaned(
    moto_server: S3Server, bucket_factory: BucketFactory, tmp_path: Path
) -> None:
    """A run died between CreateMultipartUpload and journaling the id: resume finds and finishes that upload."""
    client = moto_server.client()
    src, dst = bucket_factory(), bucket_factory()
    data = setup_source(client, src)
    conn = S3Connection(moto_server.settings())
    etag = client.head_object(Bucket=src, Key="big.bin")["ETag"].strip('"')
    record = JobRecord(
        id=job_id_for(
            conn.endpoint_url, f"s3://{src}/big.bin", conn.endpoint_url, f"s3://{dst}/big.bin", etag
        ),
        source=S3Source(src, "big.bin"),
        src_etag=etag,
        src_size=SIZE,
        dst_bucket=dst,
        dst_key="big.bin",
        part_size=PART,
        parts_total=part_count(SIZE, PART),
        src_endpoint=conn.endpoint_url,
        dst_endpoint=conn.endpoint_url,
        created=datetime.now(UTC).isoformat().replace("+00:00", "Z"),
    )
    journal = Journal(tmp_path / "jobs")
    journal.save(record)
    client.create_multipart_upload(Bucket=dst, Key="big.bin")
    summary = Copier(conn, journal=journal).resume(record)
    assert (summary.copied, summary.failed, summary.parts_copied) == (1, 0, 4)
    assert uploads(client, dst) == []  # the upload was adopted and completed
    assert client.get_object(Bucket=dst, Key="big.bin")["Body"].read() == data
    assert journal.records() == []


def test_cancel_keeps_the_job_resumable(
    moto_server: S3Server, bucket_factory: BucketFactory, tmp_path: Path
) -> None:
    """What Ctrl-C (or the TUI's cancel) does: stop after the running part, keep the journal, resume later."""
    client = moto_server.client()
    src, dst = bucket_factory(), bucket_factory()
    data = setup_source(client, src)
    conn = S3Connection(moto_server.settings(concurrency=1))
    journal = Journal(tmp_path / "jobs")
    progress: list[JobProgress] = []

    def on_event(event: JobEvent) -> None:
        if isinstance(event, JobProgress):
            progress.append(event)
        if isinstance(event, PartSent):
            copier.cancel()

    copier = Copier(conn, part_size=PART, journal=journal, on_event=on_event)
    plan = copier.plan(parse_s3_url(f"s3://{src}/big.bin"), parse_s3_url(f"s3://{dst}/big.bin"))
    summary = copier.run(plan)
    assert summary.cancelled and (summary.copied, summary.failed) == (0, 0)
    (record,) = journal.records()
    assert record.done.keys() == {1}
    assert progress and progress[-1].part_states[0] is PartState.DONE and progress[-1].parts_total == 4
    (upload,) = uploads(client, dst)
    assert upload["UploadId"] == record.upload_id

    done: list[JobEvent] = []
    resumed = Copier(conn, journal=journal, on_event=done.append).resume(record)
    assert (resumed.copied, resumed.parts_copied) == (1, 3)
    assert sorted(e.part_number for e in done if isinstance(e, PartSent)) == [2, 3, 4]
    assert client.get_object(Bucket=dst, Key="big.bin")["Body"].read() == data
    assert uploads(client, dst) == [] and journal.records() == []


def test_a_job_running_elsewhere_is_not_started_twice(
    moto_server: S3Server, bucket_factory: BucketFactory, tmp_path: Path
) -> None:
    client = moto_server.client()
    src, dst = bucket_factory(), bucket_factory()
    setup_source(client, src)
    conn = S3Connection(moto_server.settings())
    journal = Journal(tmp_path / "jobs")
    events: list[JobEvent] = []
    copier = Copier(conn, part_size=PART, journal=journal, on_event=events.append)
    plan = copier.plan(parse_s3_url(f"s3://{src}/big.bin"), parse_s3_url(f"s3://{dst}/big.bin"))
    job_id = plan.items[0].job_id
    assert job_id is not None
    with journal.lock(job_id):  # as another mputui process running this job would hold it
        summary = copier.run(plan)
    assert summary.failed == 1
    assert any(isinstance(e, ObjectFailed) and "another mputui process" in e.error for e in events)
    assert uploads(client, dst) == []
