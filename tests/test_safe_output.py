"""What the CLI prints is inert and keeps secrets: a server's error text is shown like keys (no raw C1/OSC/bidi),
a message that contains the credentials is not shown, a URL's ``user:password@`` never is, and a key's edge
spaces and variation selectors are visible.

Against real HTTP servers: a hostile test double (tests/hostile_s3.py) on both of mputui's request paths, the
hand-signed lean path (the default) and boto3 (``MPUTUI_LEAN=0``), and the moto server.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

import botocore.exceptions as bexc
import pytest
from hostile_s3 import (
    HOSTILE_CODE,
    HOSTILE_MESSAGE,
    SHOWN_CODE,
    SHOWN_MESSAGE,
    HostileS3,
    Request,
    error_xml,
    hostile_s3,
    list_buckets_xml,
    list_parts_xml,
    list_uploads_xml,
)
from stand_ins import raw_unsafe
from test_cli import assert_one_line_error

from conftest import BucketFactory, S3Server, run_cli
from mputui.s3.errors import describe

# Anything a terminal obeys, or that reorders or hides text (newline aside: output is lines).

ACCESS_KEY = "AKIAHOSTILETEST00001"
SECRET_KEY = "hostile/secret+key0123456789abcdefghijklm"
TOKEN = "FwoGZXIvYXdzEHostileSessionToken" + "Q" * 40 + "0123456789/+=" + "Z" * 40


def env_for(server: HostileS3, *, lean: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") or k.endswith("_FILE")}
    env.update(
        AWS_ACCESS_KEY_ID=ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=SECRET_KEY,
        AWS_SESSION_TOKEN=TOKEN,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ENDPOINT_URL=server.url,
        AWS_MAX_ATTEMPTS="1",
        AWS_EC2_METADATA_DISABLED="true",
        MPUTUI_LEAN="1" if lean else "0",
    )
    return env


def assert_inert(*texts: str) -> None:
    for text in texts:
        bad = raw_unsafe(text)
        assert not bad, f"raw {bad!r} printed: {text!r}"


def assert_path(server: HostileS3, *, lean: bool) -> None:
    """The bucket's listing went through the path under test (the lean path's own User-Agent, or boto3's)."""
    agents = {r.header("user-agent") for r in server.requests if r.path.startswith("/b?uploads")}
    assert agents
    assert any("md/lean" in (a or "") for a in agents) == lean, agents


@pytest.fixture(params=[True, False], ids=["lean", "boto3"])
def lean(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


# -- a server's error text is shown like keys -------------------------------------------------------------


def hostile_answer(request: Request) -> tuple[int, bytes]:
    if request.path == "/":
        return 200, list_buckets_xml("b")
    return 400, error_xml(HOSTILE_CODE, HOSTILE_MESSAGE)


def test_hostile_error_text_in_a_bucket_listing(lean: bool) -> None:
    with hostile_s3(hostile_answer) as server:
        proc = run_cli(None, "--path-style", "ls", "s3://b", env=env_for(server, lean=lean))
        assert_path(server, lean=lean)
    assert proc.returncode == 1, proc.stderr
    assert_inert(proc.stdout, proc.stderr)
    assert proc.stdout.splitlines()[0] == f"s3://b  ERROR: {SHOWN_CODE} (HTTP 400): {SHOWN_MESSAGE}"


def test_hostile_error_text_of_one_upload(lean: bool) -> None:
    with hostile_s3(hostile_answer) as server:
        proc = run_cli(
            None, "--path-style", "parts", "s3://b/k", "--upload-id", "u1", env=env_for(server, lean=lean)
        )
        assert_path(server, lean=lean)
    assert_inert(proc.stdout, proc.stderr)
    assert proc.stderr == f"mputui: error: {SHOWN_CODE} (HTTP 400): {SHOWN_MESSAGE}\n"
    assert proc.returncode == 1


def test_hostile_error_text_of_the_bucket_list() -> None:
    """ListBuckets always goes through boto3."""
    with hostile_s3(lambda r: (403, error_xml(HOSTILE_CODE, HOSTILE_MESSAGE))) as server:
        proc = run_cli(None, "--path-style", "ls", env=env_for(server, lean=True))
    assert_inert(proc.stdout, proc.stderr)
    assert proc.stderr == f"mputui: error: {SHOWN_CODE} (HTTP 403): {SHOWN_MESSAGE}\n"


def test_raw_escape_in_error_xml(lean: bool) -> None:
    """ESC and BEL cannot be in XML 1.0: whatever either path makes of such an answer, none reaches the terminal."""

    def answer(request: Request) -> tuple[int, bytes]:
        if request.path == "/":
            return 200, list_buckets_xml("b")
        body = b"<Error><Code>X\x1b]0;owned\x07</Code><Message>\x1b[2J\x1b]8;;http://evil\x1b\\</Message></Error>"
        return 400, body

    with hostile_s3(answer) as server:
        proc = run_cli(None, "--path-style", "ls", "s3://b", env=env_for(server, lean=lean))
    assert proc.returncode == 1
    assert_inert(proc.stdout, proc.stderr)
    assert "ERROR: HTTP 400" in proc.stdout


def test_hostile_names_ids_and_classes_in_a_listing(lean: bool) -> None:
    """Bucket names, upload ids and storage classes come from the server too (boto3 refuses to send a request
    for such a bucket name, and the lean path, which asks botocore where to send it, steps aside: that bucket
    fails on both paths, inertly)."""
    hostile_bucket, upload_id, storage_class = "h\x9b31m", "id\x9b2J\u202e", "S\x9d0;x\x9c"

    def answer(request: Request) -> tuple[int, bytes]:
        if request.path == "/":
            return 200, list_buckets_xml("b", hostile_bucket)
        bucket = "b" if request.path.startswith("/b") else hostile_bucket
        if "uploadId=" in request.path:
            return 200, list_parts_xml(bucket, "k", upload_id)
        return 200, list_uploads_xml(bucket, ("k", upload_id, storage_class))

    with hostile_s3(answer) as server:
        proc = run_cli(None, "--path-style", "ls", "-l", env=env_for(server, lean=lean))
    assert proc.returncode == 1, proc.stderr
    assert_inert(proc.stdout, proc.stderr)
    lines = proc.stdout.splitlines()
    assert any(line.startswith("s3://h\\x9b31m") for line in lines), proc.stdout
    rows = [line.split()[-3:] for line in lines if line.endswith("  k")]
    assert ["S\\x9d0;x\\x9c", "id\\x9b2J⟨U+202E⟩", "k"] in rows, proc.stdout


# -- a message that contains the credentials is never printed ---------------------------------------------


def echo_headers(request: Request) -> str:
    return (
        f"Request was: Authorization: {request.header('authorization')} "
        f"X-Amz-Security-Token: {request.header('x-amz-security-token')}"
    )


ECHOES = {
    "request headers": echo_headers,
    "token only": lambda r: f"token {r.header('x-amz-security-token')} is not valid here",
    "token split by invisible characters": lambda r: "bad " + "\u200b".join(r.header("x-amz-security-token")),
    "token split by newlines": lambda r: (
        "bad " + "\n".join(re.findall(".{1,20}", r.header("x-amz-security-token")))
    ),
    "part of the token": lambda r: f"token starting {r.header('x-amz-security-token')[:24]}... expired",
    "access key id": lambda r: f"no such key id {r.access_key_id} in this account",
}


def _echo(kind: str) -> Any:
    make = ECHOES[kind]

    def answer(request: Request) -> tuple[int, bytes]:
        if request.path == "/":
            return 200, list_buckets_xml("b")
        assert request.header("x-amz-security-token") == TOKEN, "the token was sent"
        return 400, error_xml("EchoedRequest", make(request))

    return answer


def assert_no_secret(text: str) -> None:
    for secret in (ACCESS_KEY, SECRET_KEY, TOKEN):
        for i in range(0, len(secret) - 12):
            assert secret[i : i + 12] not in text, f"a secret was printed: {text!r}"
    assert "Credential=" not in text and "Security-Token" not in text


@pytest.mark.parametrize("kind", list(ECHOES))
def test_message_with_credentials_is_not_printed(lean: bool, kind: str) -> None:
    with hostile_s3(_echo(kind)) as server:
        env = env_for(server, lean=lean)
        listing = run_cli(None, "--path-style", "ls", "s3://b", env=env)
        parts = run_cli(None, "--path-style", "parts", "s3://b/k", "--upload-id", "u1", env=env)
        assert_path(server, lean=lean)
    for proc in (listing, parts):
        assert proc.returncode == 1, proc.stderr
        assert_no_secret(proc.stdout + proc.stderr)
        assert_inert(proc.stdout, proc.stderr)
    withheld = "EchoedRequest (HTTP 400): the server's message is not shown: it contains your credentials"
    assert listing.stdout.splitlines()[0] == f"s3://b  ERROR: {withheld}"
    assert parts.stderr == f"mputui: error: {withheld}\n"


def test_error_code_with_the_token_is_not_printed(lean: bool) -> None:
    def answer(request: Request) -> tuple[int, bytes]:
        if request.path == "/":
            return 200, list_buckets_xml("b")
        return 400, error_xml("T" + request.header("x-amz-security-token")[:40], "denied")

    with hostile_s3(answer) as server:
        proc = run_cli(None, "--path-style", "ls", "s3://b", env=env_for(server, lean=lean))
    assert_no_secret(proc.stdout + proc.stderr)
    assert proc.stdout.splitlines()[0] == "s3://b  ERROR: error (HTTP 400): denied"


# -- no URL's user:password@ is printed -----------------------------------------------------------------


@pytest.fixture
def dropping_server() -> Iterator[HostileS3]:
    """Accepts connections and closes each without an answer."""
    with hostile_s3(lambda r: (0, b"")) as server:
        yield server


def userinfo_env(lean: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") or k.endswith("_FILE")}
    env.update(AWS_ACCESS_KEY_ID="k", AWS_SECRET_ACCESS_KEY="s", AWS_DEFAULT_REGION="us-east-1")
    env.update(AWS_MAX_ATTEMPTS="1", MPUTUI_LEAN="1" if lean else "0")
    return env


def _userinfo_cases(port: int) -> list[tuple[str, list[str], int, str]]:
    """(endpoint URL, command, exit code, what the message says)"""
    return [
        (
            f"http://user:PASS@127.0.0.1:{port}",
            ["ls"],
            1,
            f"connection dropped by http://***@127.0.0.1:{port}/",
        ),
        (
            f"https://user:PASS@127.0.0.1:{port}",
            ["ls"],
            1,
            f"TLS handshake with https://***@127.0.0.1:{port}/",
        ),
        ("http://user:PASS@127.0.0.1:9", ["ls"], 1, "connection refused by http://***@127.0.0.1:9/"),
        (f"http://user:PASS@127.0.0.1:{port}", ["ls", "s3://b"], 1, f"http://***@127.0.0.1:{port}"),
        ("http://user:PASS@127.0.0.1:9", ["ls", "s3://b"], 1, "http://***@127.0.0.1:9"),
        ("http://user:PASS@host:port", ["ls"], 2, "invalid endpoint URL 'http://***@host:port'"),
        ("http://user:PA/SS@host:80", ["ls"], 2, "invalid endpoint URL 'http://***@host:80'"),
        ("ftp://user:PASS@host", ["ls"], 2, "invalid endpoint URL 'ftp://***@host'"),
    ]


def test_userinfo_is_never_printed(dropping_server: HostileS3, lean: bool) -> None:
    port = int(dropping_server.url.rsplit(":", 1)[1])
    for url, args, code, needle in _userinfo_cases(port):
        for how in ("option", "environment"):
            env = userinfo_env(lean)
            if how == "option":
                proc = run_cli(None, "--path-style", "--endpoint-url", url, *args, env=env)
            else:
                proc = run_cli(None, "--path-style", *args, env={**env, "AWS_ENDPOINT_URL": url})
            out = proc.stdout + proc.stderr
            assert "PASS" not in out and "PA/SS" not in out, (url, how, out)
            assert proc.returncode == code, (url, how, out)
            assert needle in out, (url, how, out)
            if code == 2:
                assert_one_line_error(proc, 2, needle)


@pytest.mark.parametrize(
    "exc",
    [
        bexc.EndpointConnectionError(endpoint_url="http://u:PASS@h:1/b"),
        bexc.ConnectTimeoutError(endpoint_url="http://u:PASS@h:1/b"),
        bexc.ReadTimeoutError(endpoint_url="http://u:PASS@h:1/b"),
        bexc.ConnectionClosedError(endpoint_url="http://u:PASS@h:1/b"),
        bexc.SSLError(endpoint_url="https://u:PASS@h:1/b", error="bad"),
        bexc.ProxyConnectionError(proxy_url="http://proxyuser:PASS@proxy:3128", error="refused"),
        bexc.HTTPClientError(error="Max retries exceeded with url http://u:PASS@h:1/b"),
        ValueError("Invalid endpoint: http://u:PASS@h:1"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_describe_redacts_userinfo(exc: BaseException) -> None:
    """Every kind of message that names a URL (pure logic: the exceptions as botocore raises them)."""
    text = describe(exc)
    assert "PASS" not in text
    assert "***@" in text


# -- keys with edge spaces and variation selectors ---------------------------------------------------------


def test_edge_spaces_and_variation_selectors_are_visible(
    moto_server: S3Server, bucket_factory: BucketFactory
) -> None:
    client = moto_server.client()
    bucket = bucket_factory()
    keys = {
        "   ": "␠␠␠",
        "trailing  ": "trailing␠␠",
        " lead": "␠lead",
        "❤\ufe0f": "❤⟨U+FE0F⟩",
        "in side": "in side",
    }
    for key in keys:
        client.create_multipart_upload(Bucket=bucket, Key=key)
    proc = run_cli(moto_server, "ls", f"s3://{bucket}", "-l")
    assert proc.returncode == 0, proc.stderr
    shown = {line.rsplit("  ", 1)[-1] for line in proc.stdout.splitlines()[2:-3]}
    assert shown == set(keys.values()), proc.stdout
    assert "\ufe0f" not in proc.stdout
