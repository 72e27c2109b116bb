"""A listing that names an upload with an empty key (a buggy or hostile endpoint, an intercepting proxy) must
never turn an abort into a bucket-wide call: ``DELETE /bucket/?uploadId=…`` is DeleteBucket to moto.

The endpoint here is the real server behind the fault proxy, which rewrites every ListMultipartUploads answer so
that one upload's ``<Key>`` is empty, and records every request line it sees.
"""

from __future__ import annotations

import json

import pytest
from hostile_listing import VICTIM, bucket_wide_deletes, empty_key_proxy
from test_commit_abort import listed_ids
from test_inventory import make_uploads

from conftest import BucketFactory, S3Server, run_cli
from mputui.s3.targets import UnsafeTarget, check_signed_delete, target_problem


@pytest.mark.parametrize(
    ("bucket", "key", "upload_id", "unsafe"),
    [
        ("b", "k", "id", False),
        ("b", "a/./b", "id", False),  # a legal key: still names one object below the bucket
        ("b", "a//b", "id", False),
        ("b", " ", "id", False),  # a key of spaces is a key
        ("b", "a/../b", "id", False),
        ("b", "", "id", True),
        ("b", "/", "id", True),
        ("b", "//", "id", True),
        ("b", ".", "id", True),
        ("b", "..", "id", True),
        ("b", "./", "id", True),
        ("b", "a/..", "id", True),
        ("b", "a/../..", "id", True),
        ("b", "../other/key", "id", True),  # would address another bucket
        ("b", "k", "", True),
        ("b", "k", "  ", True),
        ("", "k", "id", True),
        ("a/b", "k", "id", True),
        ("..", "k", "id", True),
    ],
)
def test_target_problem(bucket: str, key: str, upload_id: str, unsafe: bool) -> None:
    assert (target_problem(bucket, key, upload_id) is not None) is unsafe


def test_a_hand_built_delete_needs_a_key_and_an_upload_id() -> None:
    check_signed_delete("/k", (("uploadId", "x"),))
    for path, query in [
        ("", (("uploadId", "x"),)),
        ("/", (("uploadId", "x"),)),
        ("/k", ()),
        ("/k", (("uploadId", ""),)),
    ]:
        with pytest.raises(UnsafeTarget):
            check_signed_delete(path, query)


@pytest.mark.parametrize("others", [0, 3], ids=["single", "bulk"])
@pytest.mark.parametrize("lean", ["1", "0"], ids=["lean", "boto3"])
def test_cli_abort_refuses_an_empty_key_and_never_deletes_the_bucket(
    s3_server: S3Server, s3_bucket_factory: BucketFactory, others: int, lean: str
) -> None:
    bucket = s3_bucket_factory()
    client = s3_server.client()
    (victim_id,) = make_uploads(client, bucket, [VICTIM], parts=1)
    other_ids = set(make_uploads(client, bucket, [f"other/{i}" for i in range(others)], parts=1))
    proxy = empty_key_proxy(s3_server, bucket)
    env = {**s3_server.env(), "AWS_ENDPOINT_URL": proxy.url, "MPUTUI_LEAN": lean}
    try:
        out = run_cli(None, "abort", f"s3://{bucket}/", "--all", "--yes", "--json", env=env)
    finally:
        proxy.stop()
    assert bucket_wide_deletes(proxy, bucket) == []
    assert any(line.startswith(b"GET ") and b"uploads" in line for line in proxy.request_lines)
    assert out.returncode == 1, out.stderr
    events = [json.loads(line) for line in out.stdout.splitlines()]
    failed = [e for e in events if e["type"] == "failed"]
    assert [(e["key"], e["upload_id"]) for e in failed] == [("", victim_id)]
    assert "refused, nothing sent" in failed[0]["error"] and "key is empty" in failed[0]["error"]
    assert {e["upload_id"] for e in events if e["type"] == "aborted"} == other_ids
    # The bucket is still there, and so is the victim's upload: it was never sent.
    client.head_bucket(Bucket=bucket)
    assert listed_ids(client, bucket) == {victim_id}
