"""``mputui resume``: finish an abandoned upload from its local file, on moto and Ceph RGW.

Uploads are prepared with plain boto3, as another client that died would have left them.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import stat
from pathlib import Path
from typing import Any

from conftest import BucketFactory, S3Server, run_cli
from mputui.jobs.events import JobEvent, ObjectDone, PartSent, RunProgress
from mputui.jobs.journal import Journal
from mputui.jobs.resume import Resumer, infer_part_size
from mputui.s3.checksums import multipart_etag
from mputui.s3.connect import S3Connection
from mputui.s3.models import Part

MIB = 1024 * 1024
PART = 5 * MIB
SIZE = 22 * MIB  # 5 parts: 5 + 5 + 5 + 5 + 2


def json_lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def env_for(server: S3Server, home: Path, **extra: str) -> dict[str, str]:
    env = server.env()
    env["MPUTUI_HOME"] = str(home)
    env.update(extra)
    return env


def make_file(path: Path, size: int = SIZE) -> bytes:
    data = os.urandom(size)
    path.write_bytes(data)
    return data


def chunk(data: bytes, n: int, part_size: int = PART) -> bytes:
    return data[(n - 1) * part_size : n * part_size]


def abandoned_upload(client: Any, bucket: str, key: str, parts: dict[int, bytes]) -> str:
    """An upload holding exactly ``parts`` (part number → body), as a client that died left it."""
    upload_id: str = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    for n, body in parts.items():
        client.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=n, Body=body)
    return upload_id


def listed_parts(client: Any, bucket: str, key: str, upload_id: str) -> dict[int, str]:
    parts = client.list_parts(Bucket=bucket, Key=key, UploadId=upload_id).get("Parts", [])
    return {p["PartNumber"]: p["ETag"] for p in parts}


def uploads(client: Any, bucket: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    return found


def local_etag(data: bytes, part_size: int = PART) -> str:
    n = -(-len(data) // part_size)
    return multipart_etag(hashlib.md5(chunk(data, i, part_size)).hexdigest() for i in range(1, n + 1))


def resume(
    server: S3Server, home: Path, bucket: str, key: str, upload_id: str, path: Path, *extra: str
) -> Any:
    return run_cli(
        None, "resume", f"s3://{bucket}/{key}", "--upload-id", upload_id, "--file", str(path), *extra,
        env=env_for(server, home),
    )  # fmt: skip


def test_resume_sends_only_the_missing_parts_and_verifies(
    s3_server: S3Server, s3_bucket_factory: BucketFactory, tmp_path: Path
) -> None:
    client = s3_server.client()
    bucket = s3_bucket_factory()
    data = make_file(tmp_path / "big.bin")
    upload_id = abandoned_upload(client, bucket, "big.bin", {n: chunk(data, n) for n in (1, 3, 5)})
    proc = resume(s3_server, tmp_path, bucket, "big.bin", upload_id, tmp_path / "big.bin", "--yes", "--json")
    assert proc.returncode == 0, proc.stderr
    lines = json_lines(proc.stdout)
    plan = lines[0]
    assert plan["type"] == "plan" and plan["part_size"] == PART and plan["parts_total"] == 5
    assert (plan["present"], plan["send"], plan["problems"]) == ([1, 3, 5], [2, 4], [])
    assert sorted(x["part_number"] for x in lines if x["type"] == "part") == [2, 4]
    (done,) = [x for x in lines if x["type"] == "uploaded"]
    assert (done["resumed"], done["parts_sent"], done["bytes_sent"]) == (True, 2, 2 * PART)
    summary = lines[-1]
    assert summary["type"] == "summary" and summary["completed"] and summary["etag"] == local_etag(data)
    assert client.get_object(Bucket=bucket, Key="big.bin")["Body"].read() == data
    assert uploads(client, bucket) == []
    assert list((tmp_path / "state" / "jobs").glob("*.json")) == []


def test_mismatching_parts_are_refused_unless_overwritten(
    s3_server: S3Server, s3_bucket_factory: BucketFactory, tmp_path: Path
) -> None:
    client = s3_server.client()
    bucket = s3_bucket_factory()
    data = make_file(tmp_path / "f.bin", 17 * MIB)  # 4 parts: 5 + 5 + 5 + 2
    upload_id = abandoned_upload(client, bucket, "f.bin", {1: chunk(data, 1), 2: os.urandom(PART)})
    before = listed_parts(client, bucket, "f.bin", upload_id)
    refused = resume(s3_server, tmp_path, bucket, "f.bin", upload_id, tmp_path / "f.bin", "--yes")
    assert refused.returncode == 1
    assert "part(s) 2 do not match" in refused.stderr and "--overwrite-mismatched" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert listed_parts(client, bucket, "f.bin", upload_id) == before  # nothing was sent
    assert list((tmp_path / "state" / "jobs").glob("*.json")) == []

    proc = resume(
        s3_server,
        tmp_path,
        bucket,
        "f.bin",
        upload_id,
        tmp_path / "f.bin",
        "--yes",
        "--json",
        "--overwrite-mismatched",
    )
    assert proc.returncode == 0, proc.stderr
    assert sorted(x["part_number"] for x in json_lines(proc.stdout) if x["type"] == "part") == [2, 3, 4]
    assert client.get_object(Bucket=bucket, Key="f.bin")["Body"].read() == data


def test_extra_parts_and_a_shorter_file_are_refused_before_sending(
    s3_server: S3Server, s3_bucket_factory: BucketFactory, tmp_path: Path
) -> None:
    client = s3_server.client()
    bucket = s3_bucket_factory()
    data = make_file(tmp_path / "long.bin", 15 * MIB)
    (tmp_path / "short.bin").write_bytes(data[: 8 * MIB])  # covers parts 1 and 2 only
    upload_id = abandoned_upload(client, bucket, "k", {n: chunk(data, n) for n in (1, 2, 3)})
    before = listed_parts(client, bucket, "k", upload_id)
    proc = resume(s3_server, tmp_path, bucket, "k", upload_id, tmp_path / "short.bin", "--yes", "--json")
    assert proc.returncode == 1
    (plan,) = json_lines(proc.stdout)
    assert plan["extra"] == [3] and plan["send"] == []
    assert "shorter" in proc.stderr and "part(s) 3 lie beyond its end" in proc.stderr
    assert listed_parts(client, bucket, "k", upload_id) == before
    assert uploads(client, bucket)[0]["UploadId"] == upload_id  # left for the user to decide


def test_a_wrong_file_is_refused(
    moto_server: S3Server, bucket_factory: BucketFactory, tmp_path: Path
) -> None:
    client = moto_server.client()
    bucket = bucket_factory()
    data = make_file(tmp_path / "right.bin", 12 * MIB)
    make_file(tmp_path / "wrong.bin", 12 * MIB)
    upload_id = abandoned_upload(client, bucket, "k", {1: chunk(data, 1), 2: chunk(data, 2)})
    proc = resume(moto_server, tmp_path, bucket, "k", upload_id, tmp_path / "wrong.bin", "--yes")
    assert proc.returncode == 1 and "part(s) 1-2 do not match" in proc.stderr and "wrong file?" in proc.stderr
    assert "PROBLEM" in proc.stdout
    missing = resume(moto_server, tmp_path, bucket, "k", upload_id, tmp_path / "nope.bin", "--yes")
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    gone = resume(moto_server, tmp_path, bucket, "k", "no-such-upload", tmp_path / "right.bin", "--yes")
    assert gone.returncode == 1 and "not found" in gone.stderr


def test_part_size_inference() -> None:
    def parts(*sizes: int) -> list[Part]:
        return [Part(n, s, "e", None) for n, s in enumerate(sizes, 1)]

    assert infer_part_size(parts(PART, PART, 100)) == (PART, None)
    assert infer_part_size(parts(100)) == (100, None)
    size, why = infer_part_size(parts(PART, 6 * MIB, 100))
    assert size is None and why is not None and "do not share one size" in why
    size, why = infer_part_size(parts(PART, 6 * MIB))
    assert size is None and why is not None and "larger" in why
    assert infer_part_size([])[0] is None


def test_uneven_parts_are_refused(
    moto_server: S3Server, bucket_factory: BucketFactory, tmp_path: Path
) -> None:
    client = moto_server.client()
    bucket = bucket_factory()
    data = make_file(tmp_path / "f.bin", 16 * MIB)
    upload_id = abandoned_upload(
        client, bucket, "k", {1: data[:PART], 2: data[PART : 11 * MIB], 3: data[11 * MIB : 12 * MIB]}
    )
    proc = resume(moto_server, tmp_path, bucket, "k", upload_id, tmp_path / "f.bin", "--yes")
    assert proc.returncode == 1 and "do not share one size" in proc.stderr


def test_dry_run_read_only_and_confirmation(
    moto_server: S3Server, bucket_factory: BucketFactory, tmp_path: Path
) -> None:
    client = moto_server.client()
    bucket = bucket_factory()
    data = make_file(tmp_path / "f.bin", 12 * MIB)
    upload_id = abandoned_upload(client, bucket, "k", {1: chunk(data, 1)})
    dry = resume(moto_server, tmp_path, bucket, "k", upload_id, tmp_path / "f.bin", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "to send:   2 part(s)" in dry.stdout and "dry run: nothing sent" in dry.stdout
    assert list(listed_parts(client, bucket, "k", upload_id)) == [1]
    no_yes = resume(moto_server, tmp_path, bucket, "k", upload_id, tmp_path / "f.bin")
    assert no_yes.returncode == 2 and "--yes" in no_yes.stderr
    read_only = run_cli(
        None, "--read-only", "resume", f"s3://{bucket}/k", "--upload-id", upload_id, "--file", str(tmp_path / "f.bin"),
        "--yes", env=env_for(moto_server, tmp_path),
    )  # fmt: skip
    assert read_only.returncode == 2 and "read-only" in read_only.stderr
    assert list(listed_parts(client, bucket, "k", upload_id)) == [1]
    assert list((tmp_path / "state" / "jobs").glob("*.json")) == []


def test_a_resume_killed_again_is_journaled_and_resumes_again(
    s3_server: S3Server, s3_bucket_factory: BucketFactory, tmp_path: Path
) -> None:
    client = s3_server.client()
    bucket = s3_bucket_factory()
    data = make_file(tmp_path / "big.bin")
    upload_id = abandoned_upload(client, bucket, "big.bin", {1: chunk(data, 1)})
    killed = run_cli(
        None, "resume", f"s3://{bucket}/big.bin", "--upload-id", upload_id, "--file", str(tmp_path / "big.bin"),
        "--yes", "--json", "--concurrency", "1",
        env=env_for(s3_server, tmp_path, MPUTUI_TEST_CRASH_AFTER_PARTS="2"),
    )  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, (killed.returncode, killed.stderr)
    (path,) = (tmp_path / "state" / "jobs").glob("*.json")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert s3_server.secret_key not in path.read_text()
    env = env_for(s3_server, tmp_path)
    (job,) = json_lines(run_cli(None, "jobs", "--json", env=env).stdout)
    assert (job["kind"], job["upload_id"], job["dst"]) == ("resume", upload_id, f"s3://{bucket}/big.bin")
    assert job["src"] == str(tmp_path / "big.bin") and job["parts_done"] == 3
    assert str(tmp_path / "big.bin") in run_cli(None, "jobs", env=env).stdout

    again = run_cli(None, "jobs", "resume", job["id"], "--yes", "--json", env=env)
    assert again.returncode == 0, again.stderr
    assert sorted(x["part_number"] for x in json_lines(again.stdout) if x["type"] == "part") == [4, 5]
    assert client.get_object(Bucket=bucket, Key="big.bin")["Body"].read() == data
    assert uploads(client, bucket) == []
    assert run_cli(None, "jobs", env=env).stdout.strip() == "no journaled jobs"


def test_api_cancel_keeps_the_job_and_progress_is_reported(
    moto_server: S3Server, bucket_factory: BucketFactory, tmp_path: Path
) -> None:
    """What the TUI does: plan with hashing progress, run with a callback, cancel from it, resume the record."""
    client = moto_server.client()
    bucket = bucket_factory()
    data = make_file(tmp_path / "big.bin")
    upload_id = abandoned_upload(client, bucket, "big.bin", {2: chunk(data, 2)})
    conn = S3Connection(moto_server.settings(concurrency=1))
    journal = Journal(tmp_path / "jobs")
    events: list[JobEvent] = []
    hashing: list[tuple[int, int]] = []

    def on_event(event: JobEvent) -> None:
        events.append(event)
        if isinstance(event, PartSent):
            resumer.cancel()

    resumer = Resumer(conn, journal=journal, on_event=on_event)
    plan = resumer.plan(
        bucket, "big.bin", upload_id, tmp_path / "big.bin", progress=lambda d, t: hashing.append((d, t))
    )
    assert plan.ok and plan.send == (1, 3, 4, 5) and hashing == [(PART, PART)]
    summary = resumer.run(plan)
    assert summary.cancelled and not summary.completed and summary.parts_sent == 1
    (record,) = journal.records()
    assert (record.kind, record.upload_id, sorted(record.done)) == ("resume", upload_id, [1, 2])
    progress = [e for e in events if isinstance(e, RunProgress)]
    assert progress and progress[-1].bytes_done == 2 * PART and progress[-1].bytes_total == SIZE

    events.clear()
    plan2, result = Resumer(conn, journal=journal, on_event=events.append).resume_record(record)
    assert plan2.send == (3, 4, 5) and result is not None and result.completed
    (done,) = [e for e in events if isinstance(e, ObjectDone)]
    assert done.parts_sent == 3 and done.etag == local_etag(data)
    assert journal.records() == [] and uploads(client, bucket) == []
