"""Settings a user's environment gives boto3 reach every request on both paths: the total attempts, the retry
mode, the User-Agent and app id, Requester Pays — counted on the wire by a proxy in front of a real server."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
from faultproxy import FaultProxy, Faults
from test_inventory import make_uploads

from conftest import BucketFactory, S3Server, run_cli
from mputui import __version__


def _header(head: bytes, name: bytes) -> str | None:
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name:
            return value.strip().decode("latin-1")
    return None


def _proxy(server: S3Server, heads: list[bytes], slow_down: bool = False) -> FaultProxy:
    def rule(head: bytes) -> str | None:
        heads.append(head)
        return "slowdown" if slow_down and b"?uploads" in head.split(b"\r\n", 1)[0] else None

    parts = urlsplit(server.url)
    return FaultProxy(parts.hostname or "127.0.0.1", parts.port or 80, Faults(), rule=rule).start()


@pytest.mark.parametrize("lean", ["1", "0"])
def test_attempts_are_the_configured_total(
    moto_server: S3Server, bucket_factory: BucketFactory, lean: str
) -> None:
    bucket = bucket_factory()
    heads: list[bytes] = []
    proxy = _proxy(moto_server, heads, slow_down=True)
    try:
        env = {
            **moto_server.env(),
            "AWS_ENDPOINT_URL": proxy.url,
            "AWS_MAX_ATTEMPTS": "3",
            "MPUTUI_LEAN": lean,
        }
        proc = run_cli(None, "ls", f"s3://{bucket}/", env=env)
    finally:
        proxy.stop()
    assert proc.returncode == 1
    assert "throttled" in proc.stdout + proc.stderr
    assert len([h for h in heads if b"?uploads" in h.split(b"\r\n", 1)[0]]) == 3


def test_retry_mode_adaptive_takes_boto3_and_a_bad_one_is_refused(
    moto_server: S3Server, bucket_factory: BucketFactory
) -> None:
    bucket = bucket_factory()
    make_uploads(moto_server.client(), bucket, ["a", "b"], parts=1)
    heads: list[bytes] = []
    proxy = _proxy(moto_server, heads)
    try:
        env = {**moto_server.env(), "AWS_ENDPOINT_URL": proxy.url, "AWS_RETRY_MODE": "adaptive"}
        proc = run_cli(None, "ls", f"s3://{bucket}/", "--json", env=env)
        bad = run_cli(None, "ls", env={**env, "AWS_RETRY_MODE": "eager"})
    finally:
        proxy.stop()
    assert proc.returncode == 0, proc.stderr
    assert sum(1 for line in proc.stdout.splitlines() if json.loads(line)["type"] == "upload") == 2
    agents = {_header(h, b"user-agent") or "" for h in heads}
    assert agents and not any("md/lean" in a for a in agents)
    assert bad.returncode == 2 and "invalid retry_mode 'eager'" in bad.stderr


def test_user_agent_names_mputui_and_the_app_id_on_both_paths(
    moto_server: S3Server, bucket_factory: BucketFactory
) -> None:
    bucket = bucket_factory()
    make_uploads(moto_server.client(), bucket, ["a", "b"], parts=1)
    heads: list[bytes] = []
    proxy = _proxy(moto_server, heads)
    try:
        env = {**moto_server.env(), "AWS_ENDPOINT_URL": proxy.url, "AWS_SDK_UA_APP_ID": "nightly-cleanup"}
        proc = run_cli(None, "ls", env=env)
    finally:
        proxy.stop()
    assert proc.returncode == 0, proc.stderr
    agents = [_header(h, b"user-agent") or "" for h in heads]
    lean = [a for a in agents if "md/lean" in a]
    boto = [a for a in agents if "md/lean" not in a]
    assert lean and boto
    assert all(f"mputui/{__version__}" in a and "app/nightly-cleanup" in a for a in agents), agents


def test_requester_pays_header_is_signed_on_every_request(
    s3_server: S3Server, s3_bucket_factory: BucketFactory
) -> None:
    bucket = s3_bucket_factory()
    keep, drop = make_uploads(s3_server.client(), bucket, ["keep", "drop"], parts=1)
    heads: list[bytes] = []
    proxy = _proxy(s3_server, heads)
    try:
        env = {**s3_server.env(), "AWS_ENDPOINT_URL": proxy.url}
        runs = [
            run_cli(None, "--request-payer", "requester", "ls", f"s3://{bucket}/", "--json", env=env),
            run_cli(
                None,
                "parts",
                f"s3://{bucket}/keep",
                "--upload-id",
                keep,
                "--request-payer",
                "requester",
                env=env,
            ),
            run_cli(
                None, "abort", f"s3://{bucket}/", "--all", "--yes", "--request-payer", "requester", env=env
            ),
        ]
    finally:
        proxy.stop()
    # The server checks the signatures (RGW does): the header is signed like any other.
    assert [r.returncode for r in runs] == [0, 0, 0], [r.stderr for r in runs]
    assert drop in runs[0].stdout and keep in runs[0].stdout
    upload_requests = [h for h in heads if b"uploadId=" in h.split(b"\r\n", 1)[0] or b"?uploads" in h]
    assert len(upload_requests) >= 6
    assert all(_header(h, b"x-amz-request-payer") == "requester" for h in upload_requests)
    signed = [_header(h, b"authorization") or "" for h in upload_requests]
    assert all("x-amz-request-payer" in a.split("SignedHeaders=", 1)[1] for a in signed)
    assert any("md/lean" in (_header(h, b"user-agent") or "") for h in upload_requests)
