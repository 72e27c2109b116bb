"""Every command given ``s3://BUCKET/KEY --upload-id ID`` checks that the upload is one of exactly KEY before it
plans anything. moto lists parts of, and completes, an upload by its id alone whatever key the request names:
``commit s3://b/junk --upload-id <id of junkyard/a>`` completed ``junkyard/a`` after the user confirmed ``junk``.
On moto and on Ceph RGW (which refuses such a request itself)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import BucketFactory, S3Server, run_cli


@pytest.mark.parametrize("command", ["commit", "parts", "resume", "abort"])
def test_an_upload_id_of_another_key_is_refused(
    s3_server: S3Server, s3_bucket_factory: BucketFactory, tmp_path: Path, command: str
) -> None:
    client = s3_server.client()
    bucket = s3_bucket_factory()
    data = os.urandom(1000)
    upload_id = client.create_multipart_upload(Bucket=bucket, Key="junkyard/a")["UploadId"]
    client.upload_part(Bucket=bucket, Key="junkyard/a", UploadId=upload_id, PartNumber=1, Body=data)
    (tmp_path / "f").write_bytes(data)
    args = [command, f"s3://{bucket}/junk", "--upload-id", upload_id]
    if command == "resume":
        args += ["--file", str(tmp_path / "f")]
    if command != "parts":
        args.append("--yes")
    env = {**s3_server.env(), "MPUTUI_HOME": str(tmp_path / "home")}
    proc = run_cli(None, *args, env=env)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert upload_id in proc.stderr and ("no upload" in proc.stderr or "not found" in proc.stderr)
    assert proc.stdout == ""  # nothing planned or shown as the upload of s3://BUCKET/junk
    (left,) = client.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert (left["Key"], left["UploadId"]) == ("junkyard/a", upload_id)
    listed = client.list_parts(Bucket=bucket, Key="junkyard/a", UploadId=upload_id)["Parts"]
    assert [p["PartNumber"] for p in listed] == [1]
    assert client.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0


def test_the_right_key_still_works(
    s3_server: S3Server, s3_bucket_factory: BucketFactory, tmp_path: Path
) -> None:
    client = s3_server.client()
    bucket = s3_bucket_factory()
    upload_id = client.create_multipart_upload(Bucket=bucket, Key="junk")["UploadId"]
    client.create_multipart_upload(Bucket=bucket, Key="junkyard/a")  # listed under the same prefix
    client.upload_part(Bucket=bucket, Key="junk", UploadId=upload_id, PartNumber=1, Body=b"x" * 100)
    env = {**s3_server.env(), "MPUTUI_HOME": str(tmp_path / "home")}
    parts = run_cli(None, "parts", f"s3://{bucket}/junk", "--upload-id", upload_id, env=env)
    assert parts.returncode == 0, parts.stderr
    commit = run_cli(None, "commit", f"s3://{bucket}/junk", "--upload-id", upload_id, "--yes", env=env)
    assert commit.returncode == 0, commit.stderr
    assert client.get_object(Bucket=bucket, Key="junk")["Body"].read() == b"x" * 100
