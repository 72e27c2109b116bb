"""An endpoint on an IPv6 address (moto served on ``[::1]``): scan, parts, abort and commit, lean path included."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from test_inventory import make_uploads

from conftest import S3Server, _read_line_with_timeout, run_cli


def _no_ipv6_loopback() -> str | None:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError as exc:
        return f"this machine has no IPv6 loopback ({exc})"
    return None


@pytest.fixture(scope="module")
def moto_v6() -> Iterator[S3Server]:
    reason = _no_ipv6_loopback()
    if reason:
        pytest.skip(reason)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mputui", "demo", "--json", "--no-seed", "--host", "::1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        info = json.loads(_read_line_with_timeout(proc, 60))
        assert info["endpoint_url"].startswith("http://[::1]:")
        yield S3Server(
            "moto-v6", info["endpoint_url"], info["access_key"], info["secret_key"], info["region"]
        )
    finally:
        proc.terminate()
        proc.wait(10)


def _lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize("lean", ["1", "0"])
def test_scan_parts_abort_and_commit_on_ipv6(moto_v6: S3Server, lean: str) -> None:
    client = moto_v6.client()
    bucket = f"v6-{lean}-bucket"
    client.create_bucket(Bucket=bucket)
    (keep,) = make_uploads(client, bucket, ["keep/me"], parts=1)  # one part: committable whatever its size
    (drop,) = make_uploads(client, bucket, ["drop me"], parts=2)
    env = {**moto_v6.env(), "MPUTUI_LEAN": lean}

    ls = run_cli(None, "ls", f"s3://{bucket}/", "--json", "--debug", env=env)
    assert ls.returncode == 0, ls.stderr
    uploads = {u["key"]: u for u in _lines(ls.stdout) if u["type"] == "upload"}
    assert {k: (u["size"], u["parts"]) for k, u in uploads.items()} == {"keep/me": (1, 1), "drop me": (3, 2)}
    path = "lean" if lean == "1" else "boto3"
    assert f"{path} GET http://[::1]:" in ls.stderr  # the requests really went to the IPv6 endpoint

    parts = run_cli(None, "parts", f"s3://{bucket}/keep/me", "--upload-id", keep, "--json", env=env)
    assert parts.returncode == 0, parts.stderr
    assert [(p["part_number"], p["size"]) for p in _lines(parts.stdout)] == [(1, 1)]

    abort = run_cli(None, "abort", f"s3://{bucket}/drop me", "--upload-id", drop, "--yes", "--json", env=env)
    assert abort.returncode == 0, abort.stderr
    assert [a["type"] for a in _lines(abort.stdout)] == ["aborted"]

    commit = run_cli(
        None, "commit", f"s3://{bucket}/keep/me", "--upload-id", keep, "--yes", "--json", env=env
    )
    assert commit.returncode == 0, commit.stderr
    assert _lines(commit.stdout)[-1]["type"] == "committed"
    assert client.head_object(Bucket=bucket, Key="keep/me")["ContentLength"] == 1
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
