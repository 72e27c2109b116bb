"""A 2xx answer whose XML is cut short or is not S3's (an intercepting proxy's page) is retried like a dropped
connection, within the same attempts, on the hand-signed path as boto3's path does: one garbled answer changes
nothing a user sees; answers that stay garbled give one clear line and exit 1, never a traceback or an
empty listing."""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest
from faultproxy import FaultProxy, Faults
from test_inventory import make_uploads

from conftest import BucketFactory, S3Server, run_cli

KEY = "db/dump.gz"
PARTS = 1  # a one-part upload is committable whatever its size


def _is_list_parts(line: bytes) -> bool:
    return line.startswith(b"GET ") and b"uploadId=" in line


def _is_list_uploads(line: bytes) -> bool:
    return line.startswith(b"GET ") and b"?uploads" in line


GARBLE: dict[str, Callable[[bytes], bytes]] = {
    "truncated": lambda body: body[: len(body) // 2],
    "html": lambda _body: b"<html><body>Welcome to the hotel network</body></html>",
}


def _garbling_proxy(
    server: S3Server, which: Callable[[bytes], bool], how: str, times: int | None
) -> tuple[FaultProxy, list[int]]:
    """The server behind a proxy that garbles the first ``times`` answers ``which`` selects (None: all)."""
    garbled = [0]

    def rewrite(head: bytes, rhead: bytes, body: bytes) -> bytes | None:
        if not which(head.split(b"\r\n", 1)[0]) or rhead[9:10] != b"2":
            return None
        if times is not None and garbled[0] >= times:
            return None
        garbled[0] += 1
        return GARBLE[how](body)

    parts = urlsplit(server.url)
    proxy = FaultProxy(parts.hostname or "127.0.0.1", parts.port or 80, Faults(), rewrite=rewrite).start()
    return proxy, garbled


def _commands(bucket: str, upload_id: str) -> dict[str, list[str]]:
    url = f"s3://{bucket}/{KEY}"
    return {
        "ls": ["ls", f"s3://{bucket}/", "--json"],
        "parts": ["parts", url, "--upload-id", upload_id, "--json"],
        "commit-dry-run": ["commit", url, "--upload-id", upload_id, "--dry-run", "--json", "--yes"],
        "abort-upload-id": ["abort", url, "--upload-id", upload_id, "--yes", "--json"],
    }


def _check_success(name: str, out: list[dict[str, object]], upload_id: str) -> None:
    if name == "ls":
        (upload,) = [e for e in out if e["type"] == "upload"]
        assert (upload["upload_id"], upload["parts"], upload["error"]) == (upload_id, PARTS, None)
        assert out[-1]["type"] == "total" and out[-1]["unknown_sizes"] == 0
    elif name == "parts":
        assert [e["part_number"] for e in out] == list(range(1, PARTS + 1))
    elif name == "commit-dry-run":
        (plan,) = [e for e in out if e["type"] == "plan"]
        assert plan["parts"] == PARTS, plan
    else:
        assert [(e["type"], e["upload_id"]) for e in out] == [("aborted", upload_id)]


# `parts` sends no ListMultipartUploads.
CASES = [
    (answer, name)
    for answer in ("ListParts", "ListMultipartUploads")
    for name in ("ls", "parts", "commit-dry-run", "abort-upload-id")
    if (answer, name) != ("ListMultipartUploads", "parts")
]


@pytest.mark.parametrize("how", sorted(GARBLE))
@pytest.mark.parametrize(("answer", "name"), CASES)
def test_one_garbled_answer_is_retried(
    s3_server: S3Server, s3_bucket_factory: BucketFactory, answer: str, name: str, how: str
) -> None:
    bucket = s3_bucket_factory()
    client = s3_server.client()
    (upload_id,) = make_uploads(client, bucket, [KEY], parts=PARTS)
    which = _is_list_parts if answer == "ListParts" else _is_list_uploads
    proxy, garbled = _garbling_proxy(s3_server, which, how, times=1)
    try:
        result = run_cli(
            None, *_commands(bucket, upload_id)[name], env={**s3_server.env(), "AWS_ENDPOINT_URL": proxy.url}
        )
    finally:
        proxy.stop()
    assert garbled == [1]
    assert result.returncode == 0, result.stderr
    _check_success(name, [json.loads(line) for line in result.stdout.splitlines()], upload_id)


@pytest.mark.parametrize("name", ["parts", "commit-dry-run"])
def test_answers_that_stay_garbled_fail_in_one_line(
    moto_server: S3Server, bucket_factory: BucketFactory, name: str
) -> None:
    bucket = bucket_factory()
    (upload_id,) = make_uploads(moto_server.client(), bucket, [KEY], parts=PARTS)
    proxy, garbled = _garbling_proxy(moto_server, _is_list_parts, "truncated", times=None)
    try:
        result = run_cli(
            None,
            *_commands(bucket, upload_id)[name],
            env={**moto_server.env(), "AWS_ENDPOINT_URL": proxy.url},
        )
    finally:
        proxy.stop()
    # AWS_MAX_ATTEMPTS=3: every attempt of the lean path, then (a failure only it might have) boto3's three.
    assert garbled[0] == 6
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "answer to ListParts could not be read" in lines[0], lines[0]
