"""A CreateMultipartUpload whose answer is lost (the server made the upload, the client never heard) must not
leave an orphan upload behind a run that reports success: ``cp``, streamed ``cp`` and ``put``, on moto (through
the fault proxy) and on Ceph RGW.

The proxy forwards the first ``POST ...?uploads`` and resets the connection instead of answering, so the server
holds an upload nobody was told about; botocore would then ask again and get a second one. mputui sends Create
without botocore's retry, lists the exact key after a lost answer and adopts the one upload made there (or
aborts what its own Creates made), so exactly one upload is used and none is left.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from faultproxy import FaultProxy, Faults

from conftest import BucketFactory, S3Server, _read_line_with_timeout, run_cli

MIB = 1024 * 1024
ALL = 1000  # every Create's answer is lost

_PLAIN_MOTO = """
import json, sys
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
host, port = server.get_host_and_port()
print(json.dumps({"url": f"http://{host}:{port}"}), flush=True)
sys.stdin.read()
server.stop()
"""


@pytest.fixture(scope="module")
def plain_moto() -> Iterator[S3Server]:
    """moto's own server, unpatched: every upload's ``Initiated`` is 2010-11-10T20:48:33Z."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _PLAIN_MOTO],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        url = json.loads(_read_line_with_timeout(proc, 60))["url"]
        yield S3Server("moto-plain", url, "testing", "testing")
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def is_create(head: bytes) -> bool:
    line = head.split(b"\r\n", 1)[0]
    return line.startswith(b"POST ") and b"?uploads " in line


class FirstCreateLost:
    """A proxy rule: ``fault`` for the first ``n`` CreateMultipartUpload requests, nothing else."""

    def __init__(self, n: int = 1, fault: str = "reset_after") -> None:
        self.n = n
        self.fault = fault
        self.creates = 0

    def __call__(self, head: bytes) -> str | None:
        if not is_create(head):
            return None
        self.creates += 1
        return self.fault if self.creates <= self.n else None


def _run(
    server: S3Server, src: str, dst: str, tmp_path: Path, command: str, lost: int, first: str = "reset_after"
) -> tuple[Any, FaultProxy, FirstCreateLost]:
    client = server.client()
    data = os.urandom(12 * MIB + 5)
    client.put_object(Bucket=src, Key="obj", Body=data)
    rule = FirstCreateLost(lost, first)
    parts = urlsplit(server.url)
    proxy = FaultProxy(parts.hostname or "127.0.0.1", parts.port or 80, Faults(), rule=rule).start()
    env = {**server.env(), "AWS_ENDPOINT_URL": proxy.url, "MPUTUI_HOME": str(tmp_path / "home")}
    args: list[str]
    if command == "put":
        (tmp_path / "obj").write_bytes(data)
        args = ["put", str(tmp_path / "obj"), f"s3://{dst}/copy"]
    elif command == "cp":
        args = ["cp", f"s3://{src}/obj", f"s3://{dst}/copy"]
    else:  # another endpoint URL for the destination: ranged GETs streamed into UploadPart
        env["AWS_ENDPOINT_URL"] = server.url
        args = ["cp", f"s3://{src}/obj", f"s3://{dst}/copy", "--dest-endpoint-url", proxy.url]
    try:
        proc = run_cli(None, *args, "--part-size", "5MiB", "--yes", "--json", env=env)
    finally:
        proxy.stop()
    assert proc.returncode == 0, (proc.stderr[-2000:], proxy.counts)
    assert client.get_object(Bucket=dst, Key="copy")["Body"].read() == data
    left: list[Any] = client.list_multipart_uploads(Bucket=dst, Prefix="copy").get("Uploads", [])
    assert [(u["UploadId"], u["Initiated"]) for u in left] == [], proxy.counts
    assert list((tmp_path / "home" / "state" / "jobs").glob("*.json")) == []
    summary = json.loads(proc.stdout.splitlines()[-1])
    assert summary["failed"] == 0
    return proc, proxy, rule


@pytest.mark.parametrize("lost", [1, ALL], ids=["first-lost", "all-lost"])
@pytest.mark.parametrize("command", ["cp", "cp-stream", "put"])
def test_a_lost_create_answer_leaves_no_orphan(
    s3_server: S3Server, s3_bucket_factory: BucketFactory, tmp_path: Path, command: str, lost: int
) -> None:
    _, proxy, rule = _run(s3_server, s3_bucket_factory(), s3_bucket_factory(), tmp_path, command, lost)
    # The lost Create made the upload: it is adopted, no second Create is sent (botocore would have resent it).
    assert rule.creates == 1 and proxy.counts["reset_after"] == 1, proxy.counts


@pytest.mark.parametrize("command", ["cp", "put"])
def test_a_lost_create_answer_on_a_server_whose_initiated_is_fake(
    plain_moto: S3Server, tmp_path: Path, command: str
) -> None:
    client = plain_moto.client()
    src, dst = f"s-{uuid.uuid4().hex[:10]}", f"d-{uuid.uuid4().hex[:10]}"
    client.create_bucket(Bucket=src)
    client.create_bucket(Bucket=dst)
    client.create_multipart_upload(Bucket=dst, Key="other")  # someone else's upload: never touched
    (other,) = client.list_multipart_uploads(Bucket=dst)["Uploads"]
    assert other["Initiated"].year == 2010  # what the server says of every upload
    _, proxy, rule = _run(plain_moto, src, dst, tmp_path, command, 1)
    assert rule.creates == 1, proxy.counts
    listed = client.list_multipart_uploads(Bucket=dst)["Uploads"]
    assert [u["UploadId"] for u in listed] == [other["UploadId"]]


@pytest.mark.parametrize("command", ["cp", "put"])
def test_a_create_that_never_reached_the_server_is_sent_again(
    s3_server: S3Server, s3_bucket_factory: BucketFactory, tmp_path: Path, command: str
) -> None:
    _, proxy, rule = _run(
        s3_server, s3_bucket_factory(), s3_bucket_factory(), tmp_path, command, 2, "reset_before"
    )
    assert rule.creates == 3 and proxy.counts["reset_before"] == 2, proxy.counts
