"""kill -9 between a successful CompleteMultipartUpload and removing the job's journal record, for every kind of
job (cp, put, resume): a re-run, ``jobs resume`` and ``jobs abort`` find the upload gone, check the object against
the record and close the job as done. On moto and on Ceph RGW.

The kill is deterministic: with ``MPUTUI_TEST_CRASH_AFTER_COMPLETE=1`` the process SIGKILLs itself right after a
job's upload was completed and checked, before its record is removed.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from conftest import BucketFactory, S3Server, run_cli
from mputui.jobs.journal import Journal

MIB = 1024 * 1024
PART = 5 * MIB
SIZE = 12 * MIB + 3  # 3 parts


def env_for(server: S3Server, home: Path, **extra: str) -> dict[str, str]:
    return {**server.env(), "MPUTUI_HOME": str(home), **extra}


def journal(home: Path) -> list[dict[str, Any]]:
    return [r.to_json() for r in Journal(home / "state" / "jobs").records()]


def uploads(client: Any, bucket: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    return found


def start(server: S3Server, bucket: str, tmp_path: Path, kind: str) -> tuple[list[str], bytes]:
    """The command of a ``kind`` job writing ``s3://bucket/obj``, and the bytes it writes."""
    client = server.client()
    data = os.urandom(SIZE)
    path = tmp_path / "file.bin"
    path.write_bytes(data)
    if kind == "cp":
        client.put_object(Bucket=bucket, Key="src", Body=data)
        return ["cp", f"s3://{bucket}/src", f"s3://{bucket}/obj", "--part-size", "5MiB"], data
    if kind == "put":
        return ["put", str(path), f"s3://{bucket}/obj", "--part-size", "5MiB"], data
    if kind == "put-add":  # the re-run skips the existing key without hashing the file
        return ["put", str(path), f"s3://{bucket}/obj", "--part-size", "5MiB", "--mode", "add"], data
    # resume: an upload another client left with part 1, finished from the file
    upload_id = client.create_multipart_upload(Bucket=bucket, Key="obj")["UploadId"]
    client.upload_part(Bucket=bucket, Key="obj", UploadId=upload_id, PartNumber=1, Body=data[:PART])
    return ["resume", f"s3://{bucket}/obj", "--upload-id", upload_id, "--file", str(path)], data


def crash_after_complete(server: S3Server, bucket: str, home: Path, cmd: list[str], data: bytes) -> str:
    """Run ``cmd`` with the hook: killed after Complete, object in place, record left; the record's id."""
    proc = run_cli(None, *cmd, "--yes", env=env_for(server, home, MPUTUI_TEST_CRASH_AFTER_COMPLETE="1"))
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, proc.stderr[-2000:])
    client = server.client()
    assert client.get_object(Bucket=bucket, Key="obj")["Body"].read() == data
    assert uploads(client, bucket) == []
    (record,) = journal(home)
    assert record["upload_id"] and len(record["done"]) == record["parts_total"] == 3
    return str(record["id"])


KINDS = ["cp", "put", "put-add", "resume"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_rerun_closes_the_job_its_killed_run_completed(
    s3_server: S3Server, s3_bucket_factory: BucketFactory, tmp_path: Path, kind: str
) -> None:
    bucket = s3_bucket_factory()
    cmd, data = start(s3_server, bucket, tmp_path, kind)
    crash_after_complete(s3_server, bucket, tmp_path, cmd, data)
    rerun = run_cli(None, *cmd, "--yes", env=env_for(s3_server, tmp_path))
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "Traceback" not in rerun.stderr
    assert journal(tmp_path) == []
    client = s3_server.client()
    assert client.get_object(Bucket=bucket, Key="obj")["Body"].read() == data
    assert uploads(client, bucket) == []
    listing = run_cli(None, "jobs", env=env_for(s3_server, tmp_path))
    assert listing.stdout.strip() == "no journaled jobs"


@pytest.mark.parametrize("kind", KINDS)
def test_jobs_resume_closes_the_job_its_killed_run_completed(
    s3_server: S3Server, s3_bucket_factory: BucketFactory, tmp_path: Path, kind: str
) -> None:
    bucket = s3_bucket_factory()
    cmd, data = start(s3_server, bucket, tmp_path, kind)
    job_id = crash_after_complete(s3_server, bucket, tmp_path, cmd, data)
    resumed = run_cli(None, "jobs", "resume", job_id, "--yes", env=env_for(s3_server, tmp_path))
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert journal(tmp_path) == []
    assert s3_server.client().get_object(Bucket=bucket, Key="obj")["Body"].read() == data


@pytest.mark.parametrize("kind", KINDS)
def test_jobs_abort_says_the_job_was_complete_and_aborts_nothing(
    s3_server: S3Server, s3_bucket_factory: BucketFactory, tmp_path: Path, kind: str
) -> None:
    bucket = s3_bucket_factory()
    cmd, data = start(s3_server, bucket, tmp_path, kind)
    job_id = crash_after_complete(s3_server, bucket, tmp_path, cmd, data)
    env = env_for(s3_server, tmp_path)
    aborted = run_cli(None, "jobs", "abort", job_id, "--yes", env=env)
    assert aborted.returncode == 0, aborted.stderr[-2000:]
    assert "aborted job" not in aborted.stdout
    assert f"job {job_id} was complete" in aborted.stdout and "nothing aborted" in aborted.stdout
    assert journal(tmp_path) == []
    assert s3_server.client().get_object(Bucket=bucket, Key="obj")["Body"].read() == data


def test_jobs_abort_json_of_a_job_whose_upload_someone_else_aborted(
    s3_server: S3Server, s3_bucket_factory: BucketFactory, tmp_path: Path
) -> None:
    bucket = s3_bucket_factory()
    client = s3_server.client()
    cmd, _ = start(s3_server, bucket, tmp_path, "put")
    proc = run_cli(None, *cmd, "--yes", env=env_for(s3_server, tmp_path, MPUTUI_TEST_CRASH_AFTER_PARTS="1"))
    assert proc.returncode == -signal.SIGKILL
    (record,) = journal(tmp_path)
    client.abort_multipart_upload(Bucket=bucket, Key="obj", UploadId=record["upload_id"])
    env = env_for(s3_server, tmp_path)
    text = run_cli(None, "jobs", "abort", record["id"], "--yes", "--json", env=env)
    assert text.returncode == 0, text.stderr
    (line,) = [json.loads(x) for x in text.stdout.splitlines()]
    assert (line["type"], line["already_gone"], line["complete"]) == ("aborted", True, False)
    assert journal(tmp_path) == []


def test_journal_temp_file_of_a_killed_save_does_not_hide_the_job(
    s3_server: S3Server, s3_bucket_factory: BucketFactory, tmp_path: Path
) -> None:
    """A temp file next to the record (a save killed mid-write) is cleaned up and the re-run still finishes."""
    bucket = s3_bucket_factory()
    cmd, data = start(s3_server, bucket, tmp_path, "put")
    job_id = crash_after_complete(s3_server, bucket, tmp_path, cmd, data)
    leftover = tmp_path / "state" / "jobs" / f".{job_id}.x1y2z3.tmp"
    leftover.write_text('{"id": "half')
    os.utime(leftover, (1_000_000_000, 1_000_000_000))
    rerun = run_cli(None, *cmd, "--yes", env=env_for(s3_server, tmp_path))
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert list((tmp_path / "state" / "jobs").iterdir()) == []
