"""Verified abort: after an abort the server accepted, mputui checks the upload is gone (ListParts →
NoSuchUpload, or one listing of the aborted keys' range for many) and aborts again, a bounded number of times,
while parts remain; an ``abort`` of a listing's selection ends with how many uploads the bucket has left.

Parts that survive an abort (AWS documents them) are played by ``surviving_parts``, a proxy in front of moto;
the rest runs on moto and Ceph RGW.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from faultproxy import FaultProxy, Faults
from surviving_parts import SurvivingParts, Survivor
from test_commit_abort import json_lines
from test_inventory import make_uploads

from conftest import BucketFactory, S3Server, run_cli
from mputui.jobs.abort import abort_uploads
from mputui.s3.actions import ABORT_ATTEMPTS, abort_upload
from mputui.s3.connect import S3Connection
from mputui.s3.inventory import iter_upload_pages


def _listed(client: Any, bucket: str) -> set[str]:
    return {u["UploadId"] for u in client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])}


@pytest.fixture
def double(moto_server: S3Server) -> Iterator[list[SurvivingParts]]:
    made: list[SurvivingParts] = []
    yield made
    for d in made:
        d.stop()


def _start(made: list[SurvivingParts], server: S3Server, survivors: dict[str, Survivor]) -> SurvivingParts:
    d = SurvivingParts(server, survivors).start()
    made.append(d)
    return d


@pytest.mark.parametrize("path", ["single", "few", "many"])
def test_parts_that_survive_an_abort_are_aborted_again(
    moto_server: S3Server, bucket_factory: BucketFactory, double: list[SurvivingParts], path: str
) -> None:
    """ "single": abort_upload; "few": the bulk path with ListParts per upload; "many": the bulk path with one
    ListMultipartUploads of the key range (10 uploads in one bucket)."""
    client = moto_server.client()
    bucket = bucket_factory()
    keys = {"single": ["s/k"], "few": ["f/a", "f/b"], "many": [f"m/k{i:02d}" for i in range(10)]}[path]
    ids = make_uploads(client, bucket, keys, parts=1)
    d = _start(double, moto_server, {ids[0]: Survivor(bucket, keys[0], survives=1)})
    conn = S3Connection(moto_server.settings(endpoint_url=d.url))
    targets = [u for page in iter_upload_pages(conn, bucket) for u in page]
    results = [abort_upload(conn, targets[0])] if path == "single" else list(abort_uploads(conn, targets))
    by_id = {r.upload.upload_id: r for r in results}
    assert len(by_id) == len(keys)
    survivor = by_id[ids[0]]
    assert survivor.ok and survivor.verified and survivor.aborts == 2, survivor
    assert d.aborts[ids[0]] == 2
    assert all(r.ok and r.verified and r.aborts == 1 for i, r in by_id.items() if i != ids[0])
    assert not _listed(client, bucket)
    if path == "many":
        listings = [line for line in d.proxy.request_lines if line.startswith(b"GET") and b"uploads" in line]
        # the targets' listing, then one verifying listing of the range (which still showed the survivor)
        assert len(listings) == 2, listings


def test_parts_that_keep_surviving_fail_after_the_bound(
    moto_server: S3Server, bucket_factory: BucketFactory, double: list[SurvivingParts]
) -> None:
    client = moto_server.client()
    bucket = bucket_factory()
    keys = ["x/stuck", "x/fine"]
    ids = make_uploads(client, bucket, keys, parts=1)
    d = _start(double, moto_server, {ids[0]: Survivor(bucket, keys[0], survives=None)})
    env = {**moto_server.env(), "AWS_ENDPOINT_URL": d.url}
    proc = run_cli(None, "abort", f"s3://{bucket}/", "--all", "--yes", "--json", env=env)
    assert proc.returncode == 1, proc.stderr
    events = json_lines(proc.stdout)
    (failed,) = [e for e in events if e["type"] == "failed"]
    assert failed["upload_id"] == ids[0]
    assert failed["error"] == f"not verified: parts remain after {ABORT_ATTEMPTS} aborts"
    assert failed["verified"] is False and failed["aborts"] == ABORT_ATTEMPTS
    (aborted,) = [e for e in events if e["type"] == "aborted"]
    assert aborted["upload_id"] == ids[1] and aborted["verified"] is True and "aborts" not in aborted
    assert events[-1] == {"type": "bucket", "bucket": bucket, "uploads_left": 1}
    assert d.aborts[ids[0]] == ABORT_ATTEMPTS  # bounded
    text = run_cli(None, "abort", f"s3://{bucket}/", "--all", "--yes", env=env)
    assert text.returncode == 1
    assert f"FAILED s3://{bucket}/x/stuck upload {ids[0]}: not verified: parts remain after" in text.stdout
    assert f"bucket {bucket}: 1 upload(s) left" in text.stdout


def test_an_abort_that_cannot_be_verified_says_so(
    moto_server: S3Server, bucket_factory: BucketFactory
) -> None:
    """The check after the abort is denied: the abort stands (exit 0), reported as not verified."""
    client = moto_server.client()
    bucket = bucket_factory()
    (upload_id,) = make_uploads(client, bucket, ["k"], parts=1)
    denied = b'<?xml version="1.0"?><Error><Code>AccessDenied</Code><Message>no</Message></Error>'
    aborted: list[bytes] = []

    def answer(head: bytes) -> bytes | None:
        line = head.split(b"\r\n", 1)[0]
        if line.startswith(b"DELETE"):
            aborted.append(line)
        elif aborted and line.startswith(b"GET") and b"uploadId=" in line:
            return b"HTTP/1.1 403 Forbidden\r\nContent-Length: %d\r\n\r\n%s" % (len(denied), denied)
        return None

    parts = urlsplit(moto_server.url)
    proxy = FaultProxy(parts.hostname or "127.0.0.1", parts.port or 80, Faults(), answer=answer).start()
    try:
        env = {**moto_server.env(), "AWS_ENDPOINT_URL": proxy.url}
        url = f"s3://{bucket}/k"
        proc = run_cli(None, "abort", url, "--upload-id", upload_id, "--yes", "--json", env=env)
    finally:
        proxy.stop()
    assert proc.returncode == 0, proc.stderr
    (event,) = json_lines(proc.stdout)
    assert event["type"] == "aborted" and event["verified"] is False and len(aborted) == 1
    assert event["verify_error"].startswith("could not check that it is gone: ")
    assert not _listed(client, bucket)


def test_abort_all_reports_no_uploads_left(s3_server: S3Server, s3_bucket_factory: BucketFactory) -> None:
    client = s3_server.client()
    bucket = s3_bucket_factory()
    many = [f"a/k{i:02d}" for i in range(10)]  # enough for the verifying range listing
    make_uploads(client, bucket, [*many, "b/one", "b/two"], parts=1)
    proc = run_cli(s3_server, "abort", f"s3://{bucket}/a/", "--all", "--yes", "--json")
    assert proc.returncode == 0, proc.stderr
    events = json_lines(proc.stdout)
    aborted = [e for e in events if e["type"] == "aborted"]
    assert sorted(e["key"] for e in aborted) == many
    assert all(e["verified"] is True and "aborts" not in e for e in aborted)
    assert events[-1] == {"type": "bucket", "bucket": bucket, "uploads_left": 2}  # the whole bucket's
    proc = run_cli(s3_server, "abort", f"s3://{bucket}", "--all", "--yes")
    assert proc.returncode == 0, proc.stderr
    assert "aborted 2 upload(s)" in proc.stdout and "verified gone; 0 failed" in proc.stdout
    assert proc.stdout.endswith(f"bucket {bucket}: no uploads left\n")
    assert not _listed(client, bucket)
    client.delete_bucket(Bucket=bucket)  # what "no uploads left" promises


def test_verification_takes_one_listing_per_batch(
    s3_server: S3Server, s3_bucket_factory: BucketFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = s3_server.client()
    bucket = s3_bucket_factory()
    keys = [f"v/{i:03d}" for i in range(30)]
    make_uploads(client, bucket, keys, parts=1)
    conn = S3Connection(s3_server.settings())
    targets = [u for page in iter_upload_pages(conn, bucket) for u in page]
    calls: list[str] = []
    original = conn.call

    def counted(bucket_: str, operation: str, **params: Any) -> Any:
        calls.append(operation)
        return original(bucket_, operation, **params)

    monkeypatch.setattr(conn, "call", counted)
    results = list(abort_uploads(conn, targets))
    assert len(results) == len(keys) and all(r.ok and r.verified for r in results)
    assert "list_parts" not in calls  # no ListParts per upload
    batches = calls.count("list_objects_v2")  # the race check's listing, one per batch
    assert batches >= 1 and calls.count("list_multipart_uploads") == batches
    assert not _listed(client, bucket)
