"""≥ 100 hostile keys round-trip exactly through `ls --json` and never reach the terminal raw."""

from __future__ import annotations

import json

from hostile_keys import corpus
from stand_ins import raw_unsafe

from conftest import BucketFactory, S3Server, run_cli


def server_can_store(key: str, kind: str) -> bool:
    """What each server is known to store and list (see ../shared/tools/ceph-rgw/README.md).

    moto answers 500 to control characters and its listing of a bucket breaks for good after one. RGW 16.2
    answers 500 to characters XML 1.0 cannot carry (C0 controls but tab, LF, CR) and leaves a phantom upload
    that breaks the bucket's plain listing (test_broken_listing.py lists and aborts it). Everything else must
    work.
    """
    if kind == "moto":
        return not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in key)
    return not any(ord(c) < 0x20 and c not in "\t\n\r" for c in key)


def test_hostile_corpus_round_trips(s3_server: S3Server, s3_bucket_factory: BucketFactory) -> None:
    keys = corpus()
    assert len(keys) >= 100
    bucket = s3_bucket_factory()
    client = s3_server.client()
    sendable = [k for k in keys if server_can_store(k, s3_server.kind)]
    assert len(sendable) >= (100 if s3_server.kind == "rgw" else 70)
    accepted = {k: client.create_multipart_upload(Bucket=bucket, Key=k)["UploadId"] for k in sendable}
    listed = set(accepted.items())
    proc = run_cli(s3_server, "ls", f"s3://{bucket}", "--json")
    assert proc.returncode == 0, proc.stderr
    got = {
        (x["key"], x["upload_id"]) for x in map(json.loads, proc.stdout.splitlines()) if x["type"] == "upload"
    }
    assert got == listed
    # The output is pure ASCII JSON: nothing a terminal would interpret.
    assert proc.stdout.isascii()
    text = run_cli(s3_server, "ls", f"s3://{bucket}", "-l")
    assert text.returncode == 0, text.stderr
    assert not raw_unsafe(text.stdout), "characters that need a stand-in reached the terminal raw"
    for upload_id in accepted.values():
        assert upload_id in text.stdout
