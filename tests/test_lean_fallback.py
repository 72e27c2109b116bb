"""What only the hand-signed path gets wrong is tried once more on boto3, and redirects are followed the way
botocore follows them — seen on the wire by a proxy between mputui and a real server."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from faultproxy import FaultProxy, Faults
from test_inventory import make_uploads

from conftest import BucketFactory, S3Server, run_cli
from mputui.s3.actions import head_object
from mputui.s3.connect import S3Connection


def _proxy(server: S3Server, **kwargs: Any) -> FaultProxy:
    parts = urlsplit(server.url)
    return FaultProxy(parts.hostname or "127.0.0.1", parts.port or 80, Faults(), **kwargs).start()


def _agent(head: bytes) -> str:
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"user-agent:"):
            return "lean" if b"md/lean" in line else "boto3"
    return "none"


def _region(head: bytes) -> str:
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"authorization:"):
            return line.split(b"Credential=", 1)[1].split(b"/")[2].decode()
    return ""


def _ls(server: S3Server, url: str, bucket: str, **env: str) -> tuple[int, list[dict[str, Any]], str]:
    proc = run_cli(
        None, "ls", f"s3://{bucket}/", "--json", env={**server.env(), "AWS_ENDPOINT_URL": url, **env}
    )
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    uploads = sorted((r for r in rows if r["type"] == "upload"), key=lambda r: r["key"])
    return proc.returncode, uploads, proc.stderr


def test_answers_only_the_lean_path_cannot_read_are_taken_by_boto3(
    s3_server: S3Server, s3_bucket_factory: BucketFactory
) -> None:
    bucket = s3_bucket_factory()
    make_uploads(s3_server.client(), bucket, ["a", "b/c", "d e"], parts=2)
    seen: list[tuple[str, bytes]] = []

    def rule(head: bytes) -> None:
        seen.append((_agent(head), head.split(b"\r\n", 1)[0]))

    def rewrite(head: bytes, rhead: bytes, body: bytes) -> bytes | None:
        # A middlebox that mangles what it cannot recognise: the hand-signed requests' answers, every time.
        return body[: len(body) // 2] if _agent(head) == "lean" and rhead[9:10] == b"2" else None

    proxy = _proxy(s3_server, rule=rule, rewrite=rewrite)
    try:
        code, uploads, stderr = _ls(s3_server, proxy.url, bucket)
    finally:
        proxy.stop()
    expected_code, expected, _ = _ls(s3_server, s3_server.url, bucket, MPUTUI_LEAN="0")
    assert (code, expected_code) == (0, 0), stderr
    assert [(u["key"], u["size"], u["parts"]) for u in uploads] == [("a", 3, 2), ("b/c", 3, 2), ("d e", 3, 2)]
    assert [(u["key"], u["size"], u["parts"], u["upload_id"]) for u in uploads] == [
        (u["key"], u["size"], u["parts"], u["upload_id"]) for u in expected
    ]
    lean_parts = [line for agent, line in seen if agent == "lean" and b"uploadId=" in line]
    boto_parts = [line for agent, line in seen if agent == "boto3" and b"uploadId=" in line]
    assert lean_parts, "the lean path was not tried first"
    assert len({line.split(b"uploadId=")[1].split(b"&")[0] for line in boto_parts}) == 3


def _redirect_once(status: bytes, which: bytes, *, body: bool) -> tuple[list[str], Any]:
    """An ``answer`` hook: the first request whose line starts with ``which`` is told the bucket lives in
    eu-west-1 (status ``status``, the region in ``x-amz-bucket-region``); later ones are forwarded."""
    redirected: list[str] = []

    def answer(head: bytes) -> bytes | None:
        if redirected or not head.startswith(which) or _agent(head) != "lean":
            return None
        redirected.append(head.split(b"\r\n", 1)[0].decode("latin-1"))
        payload = (
            b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>TemporaryRedirect</Code>'
            b"<Message>Please re-send this request to the specified temporary endpoint.</Message></Error>"
            if body
            else b""
        )
        return (
            b"HTTP/1.1 " + status + b"\r\nx-amz-bucket-region: eu-west-1\r\nContent-Type: application/xml\r\n"
            b"Content-Length: " + str(len(payload)).encode() + b"\r\n\r\n" + payload
        )

    return redirected, answer


def test_a_307_naming_the_buckets_region_is_followed(
    s3_server: S3Server, s3_bucket_factory: BucketFactory
) -> None:
    bucket = s3_bucket_factory()
    make_uploads(s3_server.client(), bucket, ["k"], parts=3)
    requests: list[tuple[str, str]] = []
    redirected, answer = _redirect_once(b"307 Temporary Redirect", b"GET ", body=True)

    def rule(head: bytes) -> None:
        requests.append((_agent(head), _region(head)))

    proxy = _proxy(s3_server, answer=answer, rule=rule)
    try:
        code, uploads, stderr = _ls(s3_server, proxy.url, bucket)
    finally:
        proxy.stop()
    assert code == 0, stderr
    assert redirected, "no request was redirected"
    assert [(u["key"], u["size"], u["parts"]) for u in uploads] == [("k", 6, 3)]
    first = requests.index(("lean", s3_server.region))  # the one answered with the redirect
    after = requests[first + 1 :]
    # Every request after the redirect is signed for the bucket's region, on the lean path again.
    assert after and all(region == "eu-west-1" for _, region in after), requests
    assert ("lean", "eu-west-1") in after


def test_a_head_400_naming_the_buckets_region_is_followed(
    s3_server: S3Server, s3_bucket_factory: BucketFactory
) -> None:
    bucket = s3_bucket_factory()
    s3_server.client().put_object(Bucket=bucket, Key="obj", Body=b"12345")
    regions: list[str] = []
    redirected, answer = _redirect_once(b"400 Bad Request", b"HEAD ", body=False)

    def rule(head: bytes) -> None:
        regions.append(_region(head))

    proxy = _proxy(s3_server, answer=answer, rule=rule)
    try:
        conn = S3Connection(s3_server.settings(endpoint_url=proxy.url))
        found = head_object(conn, bucket, "obj")
    finally:
        proxy.stop()
    assert redirected and redirected[0].startswith("HEAD ")
    assert found is not None and found.size == 5
    assert regions[-1] == "eu-west-1"
    assert conn.bucket_region(bucket) == "eu-west-1"
