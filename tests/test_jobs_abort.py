"""Aborting on the jobs engine: exact targets, already-gone races, journal records removed with their upload."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from conftest import BucketFactory, S3Server
from mputui.jobs.abort import abort_uploads
from mputui.jobs.events import S3Source
from mputui.jobs.journal import JobRecord, Journal
from mputui.s3.connect import S3Connection
from mputui.s3.models import Upload


def test_abort_uploads_removes_journal_records(
    moto_server: S3Server, bucket_factory: BucketFactory, tmp_path: Path
) -> None:
    client = moto_server.client()
    bucket = bucket_factory()
    ids = [client.create_multipart_upload(Bucket=bucket, Key=f"k{i}")["UploadId"] for i in range(3)]
    keep = client.create_multipart_upload(Bucket=bucket, Key="keep")["UploadId"]
    journal = Journal(tmp_path)
    journal.save(
        JobRecord(
            id="j1", source=S3Source("a", "s"), src_etag="e", src_size=1, dst_bucket=bucket, dst_key="k0",
            part_size=5, parts_total=1, upload_id=ids[0],
        )
    )  # fmt: skip
    now = datetime.now(UTC)
    targets = [Upload(bucket, f"k{i}", uid, now) for i, uid in enumerate(ids)]
    targets.append(Upload(bucket, "k1", ids[1], now))  # the same target twice: the second finds it gone
    conn = S3Connection(moto_server.settings())
    results = list(abort_uploads(conn, targets, concurrency=1, journal=journal))
    assert [r.status for r in results].count("aborted") == 3
    assert [r.status for r in results].count("already gone") == 1
    left = {
        (u["Key"], u["UploadId"]) for u in client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    }
    assert left == {("keep", keep)}
    assert journal.records() == []
