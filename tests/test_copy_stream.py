"""Cross-endpoint copy between two moto server processes: ranged GETs streamed into UploadPart."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import BucketFactory, S3Server, _read_line_with_timeout, run_cli

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def second_server() -> Iterator[S3Server]:
    """Another moto server process: a different endpoint that the first one cannot reach."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "mputui", "demo", "--json", "--no-seed"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        info = json.loads(_read_line_with_timeout(proc, 60))
        yield S3Server("moto", info["endpoint_url"], info["access_key"], info["secret_key"], info["region"])
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def json_lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def test_streamed_copy_across_endpoints(
    moto_server: S3Server, second_server: S3Server, bucket_factory: BucketFactory, tmp_path: Path
) -> None:
    assert moto_server.url != second_server.url
    src_client, dst_client = moto_server.client(), second_server.client()
    src, dst = bucket_factory(), f"d-{uuid.uuid4().hex[:10]}"  # dst lives (and dies) with the second server
    dst_client.create_bucket(Bucket=dst)
    big = os.urandom(13 * MIB + 7)
    src_client.put_object(Bucket=src, Key="x/big", Body=big, ContentType="video/mp4", Metadata={"k": "v"})
    src_client.put_object(Bucket=src, Key="x/small", Body=b"tiny", ContentType="text/plain")
    env = moto_server.env()
    env["MPUTUI_HOME"] = str(tmp_path)
    args = ["cp", f"s3://{src}/x/*", f"s3://{dst}/y/", "--dest-endpoint-url", second_server.url]
    proc = run_cli(None, *args, "--part-size", "5MiB", "--yes", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    copied = {x["dst"]: x for x in json_lines(proc.stdout) if x["type"] == "copied"}
    assert copied[f"s3://{dst}/y/big"]["method"] == "stream-multipart"
    assert copied[f"s3://{dst}/y/big"]["parts"] == 3
    assert copied[f"s3://{dst}/y/small"]["method"] == "stream"
    assert dst_client.get_object(Bucket=dst, Key="y/big")["Body"].read() == big
    assert dst_client.get_object(Bucket=dst, Key="y/small")["Body"].read() == b"tiny"
    head = dst_client.head_object(Bucket=dst, Key="y/big")
    assert head["ContentType"] == "video/mp4"
    assert head["Metadata"] == {"k": "v", "md5": hashlib.md5(big).hexdigest()}
    with pytest.raises(src_client.exceptions.ClientError):
        src_client.head_object(Bucket=src, Key="y/big")  # nothing landed on the source endpoint
    assert dst_client.list_multipart_uploads(Bucket=dst).get("Uploads", []) == []

    again = run_cli(None, *args, "--part-size", "5MiB", "--yes", env=env)
    assert again.returncode == 0, again.stderr
    assert "nothing to copy: all 2 object(s) already there" in again.stdout


def test_streamed_copy_resumes_after_kill(
    moto_server: S3Server, second_server: S3Server, bucket_factory: BucketFactory, tmp_path: Path
) -> None:
    src_client, dst_client = moto_server.client(), second_server.client()
    src, dst = bucket_factory(), f"d-{uuid.uuid4().hex[:10]}"  # dst lives (and dies) with the second server
    dst_client.create_bucket(Bucket=dst)
    data = os.urandom(16 * MIB)
    src_client.put_object(Bucket=src, Key="big", Body=data)
    env = moto_server.env()
    env["MPUTUI_HOME"] = str(tmp_path)
    args = ["cp", f"s3://{src}/big", f"s3://{dst}/big", "--dest-endpoint-url", second_server.url, "--yes"]
    crashed = run_cli(
        None,
        *args,
        "--part-size",
        "5MiB",
        "--concurrency",
        "1",
        env={**env, "MPUTUI_TEST_CRASH_AFTER_PARTS": "2"},
    )
    assert crashed.returncode == -signal.SIGKILL
    assert len(dst_client.list_multipart_uploads(Bucket=dst).get("Uploads", [])) == 1
    proc = run_cli(None, *args, "--part-size", "5MiB", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    parts = sorted(x["part_number"] for x in json_lines(proc.stdout) if x["type"] == "part")
    assert parts == [3, 4]
    assert dst_client.get_object(Bucket=dst, Key="big")["Body"].read() == data
    assert dst_client.list_multipart_uploads(Bucket=dst).get("Uploads", []) == []
