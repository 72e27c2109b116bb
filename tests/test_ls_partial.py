"""``ls`` when some uploads' parts cannot be listed: their sizes are unknown, a partial failure (exit 1).

A proxy in front of the real server answers ListParts of one upload with 403 AccessDenied (a bucket policy can
deny s3:ListMultipartUploadParts per key), the way S3 does; the other uploads are listed as usual.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from faultproxy import FaultProxy, Faults
from test_inventory import make_uploads

from conftest import BucketFactory, S3Server, run_cli

_DENIED = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message>'
    b"<RequestId>ls-partial</RequestId></Error>"
)


@pytest.fixture
def denied_parts(s3_server: S3Server) -> Iterator[tuple[FaultProxy, set[str]]]:
    """A proxy that answers ListParts of the upload ids in the returned set with 403 AccessDenied."""
    denied: set[str] = set()

    def answer(head: bytes) -> bytes | None:
        line = head.split(b"\r\n", 1)[0].decode("latin-1")
        if line.startswith("GET ") and any(f"uploadId={upload_id}" in line for upload_id in denied):
            return (
                b"HTTP/1.1 403 Forbidden\r\nContent-Type: application/xml\r\n"
                b"Content-Length: " + str(len(_DENIED)).encode() + b"\r\n\r\n" + _DENIED
            )
        return None

    parts = urlsplit(s3_server.url)
    proxy = FaultProxy(parts.hostname or "127.0.0.1", parts.port or 80, Faults(), answer=answer).start()
    try:
        yield proxy, denied
    finally:
        proxy.stop()


def _ls(server: S3Server, proxy: FaultProxy, *args: str) -> Any:
    return run_cli(None, "ls", *args, env={**server.env(), "AWS_ENDPOINT_URL": proxy.url})


def test_ls_exits_1_when_some_sizes_are_unknown(
    s3_server: S3Server, s3_bucket_factory: BucketFactory, denied_parts: tuple[FaultProxy, set[str]]
) -> None:
    proxy, denied = denied_parts
    bucket = s3_bucket_factory()
    ids = make_uploads(s3_server.client(), bucket, ["a", "b", "c"], parts=2)
    assert _ls(s3_server, proxy, f"s3://{bucket}").returncode == 0  # nothing denied yet: complete, exit 0

    denied.add(ids[1])
    text = _ls(s3_server, proxy, f"s3://{bucket}")
    assert text.returncode == 1, text.stdout + text.stderr
    last = text.stdout.rstrip().splitlines()[-1]
    assert last == (
        "total: 1 bucket(s), 3 upload(s), 4 part(s), 6 B, 1 of unknown size (their parts could not be listed)"
    )
    assert "Traceback" not in text.stderr

    js = _ls(s3_server, proxy, f"s3://{bucket}", "--json")
    assert js.returncode == 1
    lines = [json.loads(line) for line in js.stdout.splitlines()]
    unknown = [x for x in lines if x["type"] == "upload" and x["size"] is None]
    assert [(x["key"], x["upload_id"], x["parts"]) for x in unknown] == [("b", ids[1], None)]
    assert unknown[0]["error"]
    assert lines[-1]["type"] == "total" and (lines[-1]["unknown_sizes"], lines[-1]["size"]) == (1, 6)

    # Left out by --older-than, the unknown upload no longer makes the answer partial.
    young = _ls(s3_server, proxy, f"s3://{bucket}", "--older-than", "1d", "--json")
    assert young.returncode == 0 and json.loads(young.stdout.splitlines()[-1])["unknown_sizes"] == 0
