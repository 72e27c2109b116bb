"""The inventory scanner against real servers (moto and Ceph RGW) over HTTP."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

# Imported at the top: at run time `conftest` may name tests/tui/conftest.py.
from conftest import BucketFactory, S3Server, empty_bucket
from mputui.s3.connect import S3Connection
from mputui.s3.inventory import InventoryScan, iter_upload_pages, list_parts
from mputui.s3.lean_loop import LeanLoop
from mputui.s3.models import (
    BucketDone,
    BucketsListed,
    ScanEvent,
    ScanFailed,
    ScanFinished,
    ScanProgress,
    UploadFound,
)


def make_uploads(client: Any, bucket: str, keys: list[str], parts: int = 0, workers: int = 16) -> list[str]:
    """Create one upload per key (with ``parts`` tiny parts each); returns the upload ids in key order."""

    def one(key: str) -> str:
        upload_id = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
        for n in range(1, parts + 1):
            client.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=n, Body=b"p" * n)
        return str(upload_id)

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(one, keys))


def collect(events: list[ScanEvent], kind: type) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]


def test_scan_sizes_every_upload_across_buckets(
    s3_server: S3Server, s3_bucket_factory: BucketFactory
) -> None:
    client = s3_server.client()
    b1, b2, empty = s3_bucket_factory(), s3_bucket_factory(), s3_bucket_factory()
    ids1 = make_uploads(client, b1, ["a", "b/c", "d"], parts=3)  # 1+2+3 = 6 bytes each
    ids2 = make_uploads(client, b2, ["x"], parts=0)
    events = list(InventoryScan(S3Connection(s3_server.settings(concurrency=8))).events())

    listed = collect(events, BucketsListed)
    assert len(listed) == 1 and {b1, b2, empty} <= set(listed[0].names)
    uploads = {(u.upload.bucket, u.upload.key): u.upload for u in collect(events, UploadFound)}
    for key, upload_id in zip(["a", "b/c", "d"], ids1, strict=True):
        u = uploads[(b1, key)]
        assert (u.upload_id, u.parts, u.size, u.error) == (upload_id, 3, 6, None)
        assert u.last_modified is not None and u.last_modified >= u.initiated.replace(microsecond=0)
    x = uploads[(b2, "x")]
    assert (x.upload_id, x.parts, x.size, x.last_modified) == (ids2[0], 0, 0, None)

    done = {d.summary.name: d.summary for d in collect(events, BucketDone)}
    assert (done[b1].uploads, done[b1].parts, done[b1].size, done[b1].error) == (3, 9, 18, None)
    assert (done[b2].uploads, done[b2].size) == (1, 0)
    assert (done[empty].uploads, done[empty].oldest) == (0, None)
    finished = events[-1]
    assert isinstance(finished, ScanFinished)
    assert finished.totals.cancelled is False
    # ListBuckets + one listing per bucket + one ListParts per upload
    assert finished.totals.requests >= 1 + 3 + 4


def test_one_bucket_and_prefix(s3_server: S3Server, s3_bucket_factory: BucketFactory) -> None:
    client = s3_server.client()
    bucket = s3_bucket_factory()
    make_uploads(client, bucket, ["logs/1", "logs/2", "data/1"], parts=1)
    conn = S3Connection(s3_server.settings())
    events = list(InventoryScan(conn, bucket=bucket, prefix="logs/").events())
    assert collect(events, BucketsListed)[0].names == (bucket,)
    assert sorted(e.upload.key for e in collect(events, UploadFound)) == ["logs/1", "logs/2"]


def test_missing_bucket_is_reported_and_scan_finishes(s3_server: S3Server) -> None:
    conn = S3Connection(s3_server.settings())
    events = list(InventoryScan(conn, bucket="no-such-bucket-mputui-test").events())
    done = collect(events, BucketDone)
    assert len(done) == 1
    assert done[0].summary.error == "bucket not found"
    assert isinstance(events[-1], ScanFinished) and events[-1].totals.failed_buckets == 1


def test_unreachable_endpoint_fails_the_scan_with_one_line() -> None:
    from mputui.s3.connect import ConnectionSettings

    conn = S3Connection(
        ConnectionSettings(
            endpoint_url="http://127.0.0.1:9", demo_credentials=("k", "s"), max_attempts=1, connect_timeout=1
        )
    )
    events = list(InventoryScan(conn).events())
    failed = collect(events, ScanFailed)
    assert len(failed) == 1 and "connection refused" in failed[0].message
    assert isinstance(events[-1], ScanFinished)


def test_results_stream_before_the_scan_ends(s3_server: S3Server, s3_bucket_factory: BucketFactory) -> None:
    client = s3_server.client()
    bucket = s3_bucket_factory()
    make_uploads(client, bucket, [f"k{i:03d}" for i in range(150)], parts=1)
    conn = S3Connection(s3_server.settings(concurrency=4))
    scan = InventoryScan(conn, bucket=bucket, page_size=50 if s3_server.kind == "rgw" else 1000)
    first_at_requests = None
    uploads = 0
    for event in scan.events():
        if isinstance(event, UploadFound):
            uploads += 1
            if first_at_requests is None:
                first_at_requests = conn.requests
        if isinstance(event, ScanFinished):
            total_requests = event.totals.requests
    assert uploads == 150
    assert first_at_requests is not None
    # The first upload reached us when only a small part of the scan's requests had been made.
    assert first_at_requests < total_requests / 3


def test_cancel_stops_the_scan(
    s3_server: S3Server, s3_bucket_factory: BucketFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = s3_server.client()
    bucket = s3_bucket_factory()
    make_uploads(client, bucket, [f"c{i:03d}" for i in range(120)], parts=1)
    conn = S3Connection(s3_server.settings(concurrency=2))
    scan = InventoryScan(conn, bucket=bucket)
    # ListParts after the 5th waits for the cancel: the scan cannot run to its end before the cancel lands.
    exchange, sent = LeanLoop._exchange, 0

    async def held(self: LeanLoop, call: Any) -> Any:
        nonlocal sent
        sent += 1
        nth, deadline = sent, self.loop.time() + 60
        while nth > 5 and not scan.cancelled and self.loop.time() < deadline:
            await asyncio.sleep(0.01)
        return await exchange(self, call)

    monkeypatch.setattr(LeanLoop, "_exchange", held)
    seen = 0
    t0 = time.monotonic()
    finished = None
    for event in scan.events():
        if isinstance(event, UploadFound):
            seen += 1
            if seen == 5:
                scan.cancel()
        if isinstance(event, ScanFinished):
            finished = event
    assert finished is not None and finished.totals.cancelled
    assert seen < 120
    assert finished.buckets[0].error == "cancelled"
    assert time.monotonic() - t0 < 30


def test_progress_events_count_requests(s3_server: S3Server, s3_bucket_factory: BucketFactory) -> None:
    client = s3_server.client()
    bucket = s3_bucket_factory()
    make_uploads(client, bucket, [f"p{i:03d}" for i in range(60)], parts=1)
    conn = S3Connection(s3_server.settings(concurrency=2))
    events = list(InventoryScan(conn, bucket=bucket, progress_interval=0.02).events())
    progress = collect(events, ScanProgress)
    assert progress, "no progress event during the scan"
    assert all(p.buckets_total == 1 for p in progress)
    assert progress[-1].requests <= collect(events, ScanFinished)[0].totals.requests


@pytest.mark.timeout(600)
def test_paging_of_uploads_and_parts_on_rgw(rgw_server: S3Server) -> None:
    """Only RGW pages (moto returns everything in one page): ≥ 1,001 uploads and ≥ 1,001 parts."""
    client = rgw_server.client()
    bucket = "page-" + __import__("uuid").uuid4().hex[:10]
    client.create_bucket(Bucket=bucket)
    try:
        # Same key repeated (the KeyMarker + UploadIdMarker case) and many keys.
        keys = [f"k/{i:04d}" for i in range(990)] + ["same"] * 15
        ids = make_uploads(client, bucket, keys, parts=0, workers=32)
        big = client.create_multipart_upload(Bucket=bucket, Key="big")["UploadId"]

        def part(n: int) -> None:
            client.upload_part(Bucket=bucket, Key="big", UploadId=big, PartNumber=n, Body=b"z" * (n % 7 + 1))

        with ThreadPoolExecutor(32) as pool:
            list(pool.map(part, range(1, 1006)))
        expected_big = sum(n % 7 + 1 for n in range(1, 1006))

        conn = S3Connection(rgw_server.settings())
        for page_size in (1000, 7):
            pages = list(iter_upload_pages(conn, bucket, page_size=page_size))
            assert len(pages) > 1
            got = [(u.key, u.upload_id) for p in pages for u in p]
            assert len(got) == len(set(got)) == 1006
            assert {uid for k, uid in got if k != "big"} == set(ids)
        parts = list_parts(conn, bucket, "big", big, page_size=1000)
        assert [p.part_number for p in parts] == list(range(1, 1006))
        assert sum(p.size for p in parts) == expected_big
        assert len(list_parts(conn, bucket, "big", big, page_size=13)) == 1005

        events = list(InventoryScan(conn, bucket=bucket, page_size=100).events())
        found = {e.upload.upload_id: e.upload for e in collect(events, UploadFound)}
        assert len(found) == 1006
        assert (found[big].parts, found[big].size) == (1005, expected_big)
    finally:
        empty_bucket(client, bucket)
        client.delete_bucket(Bucket=bucket)


def test_denied_bucket_fails_alone_on_rgw(rgw_server: S3Server) -> None:
    """A bucket policy denying the listing makes that one bucket fail; the others are still scanned."""
    import json

    client = rgw_server.client()
    ok_bucket = "ok-" + __import__("uuid").uuid4().hex[:10]
    denied = "denied-" + __import__("uuid").uuid4().hex[:10]
    for b in (ok_bucket, denied):
        client.create_bucket(Bucket=b)
    try:
        make_uploads(client, ok_bucket, ["fine"], parts=1)
        make_uploads(client, denied, ["hidden"], parts=1)
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:ListBucketMultipartUploads",
                    "Resource": f"arn:aws:s3:::{denied}",
                }
            ],
        }
        client.put_bucket_policy(Bucket=denied, Policy=json.dumps(policy))
        events = list(InventoryScan(S3Connection(rgw_server.settings())).events())
        done = {d.summary.name: d.summary for d in collect(events, BucketDone)}
        assert done[denied].error == (
            f"access denied: needs s3:ListBucketMultipartUploads on arn:aws:s3:::{denied}"
        )
        assert done[ok_bucket].error is None and done[ok_bucket].uploads == 1
    finally:
        client.delete_bucket_policy(Bucket=denied)
        for b in (ok_bucket, denied):
            empty_bucket(client, b)
            client.delete_bucket(Bucket=b)
