"""A commit never clobbers an object: a HEAD before it, ``If-None-Match: *`` on CompleteMultipartUpload where the
server honours it (moto 5.2 does, Ceph RGW 16.2 ignores it), the planned size in ``x-amz-mp-object-size`` (both
ignore it); ``--overwrite`` to replace. A proxy plays a server that does not implement the headers."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

from faultproxy import FaultProxy, Faults
from test_commit_abort import MiB, json_lines, listed_ids, make_upload

from conftest import BucketFactory, S3Server, run_cli
from mputui.formatting import iso_utc
from mputui.s3.commit import complete_upload, load_plan
from mputui.s3.connect import S3Connection


def _proxy(server: S3Server, **kwargs: Any) -> FaultProxy:
    parts = urlsplit(server.url)
    return FaultProxy(parts.hostname or "127.0.0.1", parts.port or 80, Faults(), **kwargs).start()


def _is_complete(head: bytes) -> bool:
    line = head.split(b"\r\n", 1)[0]
    return line.startswith(b"POST ") and b"uploadId=" in line


def _header(head: bytes, name: str) -> str | None:
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == name.encode():
            return v.strip().decode()
    return None


def _body(client: Any, bucket: str, key: str) -> bytes:
    return bytes(client.get_object(Bucket=bucket, Key=key)["Body"].read())


def test_commit_refuses_an_existing_object_unless_overwrite(
    s3_server: S3Server, s3_bucket_factory: BucketFactory
) -> None:
    client = s3_server.client()
    bucket = s3_bucket_factory()
    client.put_object(Bucket=bucket, Key="k", Body=b"old")
    head = client.head_object(Bucket=bucket, Key="k")
    upload_id, data = make_upload(client, bucket, "k", {1: 5 * MiB, 2: 10})
    url = f"s3://{bucket}/k"
    proc = run_cli(s3_server, "commit", url, "--upload-id", upload_id, "--yes", "--json")
    assert proc.returncode == 1
    (plan,) = json_lines(proc.stdout)
    assert plan["type"] == "plan" and plan["replaces_object"] is False
    assert plan["existing_object"] == {
        "size": 3,
        "last_modified": iso_utc(head["LastModified"]),
        "etag": head["ETag"].strip('"'),
    }
    assert "refusing to commit: an object exists at this key (3 B, " in proc.stderr
    assert "--overwrite replaces it" in proc.stderr
    assert _body(client, bucket, "k") == b"old" and upload_id in listed_ids(client, bucket)
    proc = run_cli(s3_server, "commit", url, "--upload-id", upload_id, "--yes", "--json", "--overwrite")
    assert proc.returncode == 0, proc.stderr
    plan, committed = json_lines(proc.stdout)
    assert plan["replaces_object"] is True and plan["existing_object"]["size"] == 3
    assert committed["type"] == "committed" and committed["verified"] is True
    assert _body(client, bucket, "k") == data


def test_an_object_written_after_the_head(s3_server: S3Server, s3_bucket_factory: BucketFactory) -> None:
    """Another writer puts the object between mputui's HEAD and its Complete: If-None-Match refuses it on moto;
    Ceph RGW 16.2 ignores the header and the commit replaces the object (the HEAD is all it has)."""
    client = s3_server.client()
    bucket = s3_bucket_factory()
    upload_id, data = make_upload(client, bucket, "k", {1: 5 * MiB, 2: 10})
    sent: list[bytes] = []

    async def hold(head: bytes) -> None:
        if _is_complete(head) and not sent:
            sent.append(head)
            put = lambda: client.put_object(Bucket=bucket, Key="k", Body=b"racer")  # noqa: E731
            await asyncio.get_running_loop().run_in_executor(None, put)

    proxy = _proxy(s3_server, hold=hold)
    try:
        conn = S3Connection(s3_server.settings(endpoint_url=proxy.url))
        plan = load_plan(conn, bucket, "k", upload_id)
        assert plan.existing is None
        result = complete_upload(conn, plan)
    finally:
        proxy.stop()
    (head,) = sent
    assert _header(head, "if-none-match") == "*"
    assert _header(head, "x-amz-mp-object-size") == str(plan.size) == str(5 * MiB + 10)
    if s3_server.kind == "moto":
        assert result.status == "refused" and not result.ok, result
        assert result.existing is not None and result.existing.size == 5
        assert (result.error or "").startswith("an object exists at this key (5 B, ")
        assert _body(client, bucket, "k") == b"racer" and upload_id in listed_ids(client, bucket)
    else:
        assert result.status == "committed" and result.verified, result
        assert _body(client, bucket, "k") == data and upload_id not in listed_ids(client, bucket)


def test_overwrite_sends_no_if_none_match(s3_server: S3Server, s3_bucket_factory: BucketFactory) -> None:
    client = s3_server.client()
    bucket = s3_bucket_factory()
    client.put_object(Bucket=bucket, Key="k", Body=b"old")
    upload_id, data = make_upload(client, bucket, "k", {1: 10})
    heads: list[bytes] = []
    proxy = _proxy(s3_server, rule=lambda head: heads.append(head) if _is_complete(head) else None)
    try:
        conn = S3Connection(s3_server.settings(endpoint_url=proxy.url))
        result = complete_upload(conn, load_plan(conn, bucket, "k", upload_id), overwrite=True)
    finally:
        proxy.stop()
    assert result.ok and result.verified
    (head,) = heads
    assert _header(head, "if-none-match") is None and _header(head, "x-amz-mp-object-size") == "10"
    assert _body(client, bucket, "k") == data


def test_what_the_servers_do_with_x_amz_mp_object_size(
    s3_server: S3Server, s3_bucket_factory: BucketFactory
) -> None:
    """Neither moto 5.2 nor Ceph RGW 16.2 checks the size: a wrong one is accepted (AWS refuses it)."""
    client = s3_server.client()
    bucket = s3_bucket_factory()
    upload_id, data = make_upload(client, bucket, "k", {1: 10})
    etag = client.list_parts(Bucket=bucket, Key="k", UploadId=upload_id)["Parts"][0]["ETag"]
    client.complete_multipart_upload(
        Bucket=bucket,
        Key="k",
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
        MpuObjectSize=11,
    )
    assert _body(client, bucket, "k") == data


def test_a_server_that_does_not_implement_the_headers(
    moto_server: S3Server, bucket_factory: BucketFactory
) -> None:
    """NotImplemented (501) for the conditional headers: completed without them, the reason at --debug; the
    HEAD before it still refuses an existing object."""
    client = moto_server.client()
    bucket = bucket_factory()
    upload_id, data = make_upload(client, bucket, "k", {1: 10})
    refused: list[bytes] = []
    payload = (
        b'<?xml version="1.0"?><Error><Code>NotImplemented</Code><Message>A header you provided implies '
        b"functionality that is not implemented</Message></Error>"
    )

    def answer(head: bytes) -> bytes | None:
        conditional = _header(head, "if-none-match") or _header(head, "x-amz-mp-object-size")
        if _is_complete(head) and conditional:
            refused.append(head)
            return b"HTTP/1.1 501 Not Implemented\r\nContent-Length: %d\r\n\r\n%s" % (len(payload), payload)
        return None

    proxy = _proxy(moto_server, answer=answer)
    try:
        env = {**moto_server.env(), "AWS_ENDPOINT_URL": proxy.url}
        url = f"s3://{bucket}/k"
        proc = run_cli(None, "--debug", "commit", url, "--upload-id", upload_id, "--yes", env=env)
        assert proc.returncode == 0, proc.stderr
        assert len(refused) == 1 and "does not implement If-None-Match or x-amz-mp-object-size" in proc.stderr
        assert _body(client, bucket, "k") == data
        second, _ = make_upload(client, bucket, "k", {1: 20})
        completes = len([line for line in proxy.request_lines if line.startswith(b"POST")])
        proc = run_cli(None, "commit", url, "--upload-id", second, "--yes", env=env)
        assert proc.returncode == 1 and "an object exists at this key (10 B, " in proc.stderr
        assert len([line for line in proxy.request_lines if line.startswith(b"POST")]) == completes
    finally:
        proxy.stop()
    assert _body(client, bucket, "k") == data and second in listed_ids(client, bucket)
