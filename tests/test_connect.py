"""Connection logic that needs no server: settings validation, region redirects, error lines.

Region redirects cannot be provoked on moto or a single-zone RGW, so they are unit-tested with botocore's
Stubber (pure logic: which client gets the retried call).
"""

from __future__ import annotations

import base64
import hashlib
import socket
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import botocore.exceptions as bexc
import pytest
from botocore.parsers import ResponseParserError
from botocore.stub import Stubber

from mputui.s3.connect import ConnectionSettings, S3Connection
from mputui.s3.errors import MputuiError, describe, is_gone, is_usage_error


def make_conn(**kw: object) -> S3Connection:
    # The Stubber sits on boto3 clients: keep the lean path (tested against real servers) out of the way.
    settings = ConnectionSettings(demo_credentials=("AKIDEXAMPLE", "secret"), lean=False, **kw)  # type: ignore[arg-type]
    return S3Connection(settings)


def test_one_client_per_region_with_a_big_enough_pool() -> None:
    conn = make_conn(region="us-east-1", concurrency=48, path_style=True)
    assert conn.client() is conn.client("us-east-1")
    assert conn.client("eu-west-1") is not conn.client()
    config = conn.client().meta.config
    assert config.max_pool_connections >= 48
    assert config.retries["mode"] == "standard"
    assert config.s3["addressing_style"] == "path"


@pytest.mark.parametrize("code", ["PermanentRedirect", "AuthorizationHeaderMalformed"])
def test_redirect_to_the_buckets_region_is_followed_and_remembered(code: str) -> None:
    conn = make_conn(region="us-east-1")
    home, eu = conn.client("us-east-1"), conn.client("eu-west-1")
    with Stubber(home) as s_home, Stubber(eu) as s_eu:
        s_home.add_client_error(
            "list_multipart_uploads",
            service_error_code=code,
            http_status_code=301 if code == "PermanentRedirect" else 400,
            response_meta={"HTTPHeaders": {"x-amz-bucket-region": "eu-west-1"}},
        )
        s_eu.add_response("list_multipart_uploads", {"Bucket": "b", "Uploads": []}, {"Bucket": "b"})
        s_eu.add_response("list_multipart_uploads", {"Bucket": "b", "Uploads": []}, {"Bucket": "b"})
        assert conn.call("b", "list_multipart_uploads")["Uploads"] == []
        # The second call goes straight to the bucket's region.
        conn.call("b", "list_multipart_uploads")
        s_home.assert_no_pending_responses()
        s_eu.assert_no_pending_responses()
    assert conn.bucket_region("b") == "eu-west-1"


def test_redirect_region_from_the_error_body() -> None:
    conn = make_conn(region="us-east-1")
    home, west = conn.client("us-east-1"), conn.client("us-west-2")
    with Stubber(home) as s_home, Stubber(west) as s_west:
        s_home.add_client_error(
            "list_parts",
            service_error_code="AuthorizationHeaderMalformed",
            service_error_meta={"Region": "us-west-2"},
        )
        s_west.add_response("list_parts", {"Parts": []})
        assert conn.call("b", "list_parts", Key="k", UploadId="u")["Parts"] == []
        s_home.assert_no_pending_responses()
        s_west.assert_no_pending_responses()
    assert conn.bucket_region("b") == "us-west-2"


def test_other_errors_are_not_retried_elsewhere() -> None:
    conn = make_conn(region="us-east-1")
    with Stubber(conn.client()) as stub:
        stub.add_client_error("list_parts", service_error_code="NoSuchUpload", http_status_code=404)
        with pytest.raises(bexc.ClientError) as info:
            conn.call("b", "list_parts", Key="k", UploadId="u")
    assert is_gone(info.value)
    assert describe(info.value) == "upload not found (already aborted or completed)"
    assert conn.bucket_region("b") == "us-east-1"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (ConnectionSettings(endpoint_url="localhost:9000"), "invalid endpoint URL"),
        (ConnectionSettings(endpoint_url="http://"), "invalid endpoint URL"),
        (ConnectionSettings(region="EU WEST"), "invalid region name"),
        (ConnectionSettings(concurrency=0), "--concurrency"),
    ],
)
def test_bad_settings_are_usage_errors(settings: ConnectionSettings, message: str) -> None:
    with pytest.raises(MputuiError) as info:
        S3Connection(settings)
    assert message in info.value.message
    assert info.value.exit_code == 2 and is_usage_error(info.value)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (bexc.NoCredentialsError(), "no credentials found"),
        (bexc.EndpointConnectionError(endpoint_url="http://x:1"), "cannot connect to http://x:1"),
        (
            bexc.EndpointConnectionError(
                endpoint_url="http://x:1", error=ConnectionRefusedError(111, "refused")
            ),
            "connection refused by http://x:1",
        ),
        (
            bexc.EndpointConnectionError(
                endpoint_url="http://x:1", error=socket.gaierror(-2, "Name unknown")
            ),
            "cannot resolve host of http://x:1",
        ),
        (
            bexc.SSLError(endpoint_url="https://x", error=ssl.SSLCertVerificationError(1, "verify failed")),
            "certificate of https://x not trusted",
        ),
        (bexc.ProxyConnectionError(proxy_url="http://p:3128", error="403 Forbidden"), "proxy refused"),
        (bexc.ConnectTimeoutError(endpoint_url="http://x:1"), "timed out connecting to http://x:1"),
        (
            ResponseParserError("Unable to parse response (not well-formed), invalid XML received"),
            "could not be read",
        ),
        (bexc.ReadTimeoutError(endpoint_url="http://x"), "timed out waiting for http://x"),
        (bexc.ConnectionClosedError(endpoint_url="http://x"), "connection dropped by http://x"),
        (
            bexc.ClientError(
                {"Error": {"Code": "SlowDown"}, "ResponseMetadata": {"HTTPStatusCode": 503}}, "ListParts"
            ),
            "throttled",
        ),
        (
            bexc.ClientError(
                {"Error": {"Code": "AccessDenied"}, "ResponseMetadata": {"HTTPStatusCode": 403}}, "X"
            ),
            "access denied",
        ),
        (
            bexc.ClientError(
                {
                    "Error": {"Code": "Weird", "Message": "multi\nline\tmessage"},
                    "ResponseMetadata": {"HTTPStatusCode": 418},
                },
                "X",
            ),
            "Weird (HTTP 418): multi line message",
        ),
    ],
)
def test_error_lines(exc: BaseException, expected: str) -> None:
    line = describe(exc)
    assert expected in line
    assert "\n" not in line


def test_headless_core_imports_no_textual() -> None:
    code = (
        "import sys\n"
        "import mputui.s3.connect, mputui.s3.inventory, mputui.s3.actions, mputui.s3.models, mputui.s3.errors\n"
        "import mputui.cli, mputui.parsing, mputui.formatting\n"
        "import mputui.jobs\n"
        "bad = [m for m in sys.modules if m == 'textual' or m.startswith('textual.')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_import_contracts_hold() -> None:
    """The layering in pyproject's [tool.importlinter] (core without Textual, TUI without boto3, s3 below jobs
    below the front ends) holds: ``lint-imports`` exits 0."""
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "lint-imports"),
            "--no-cache",
            "--config",
            str(root / "pyproject.toml"),
        ],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def test_ui_never_imports_boto3() -> None:
    from pathlib import Path

    tui = Path(__file__).resolve().parent.parent / "mputui" / "tui"
    offenders = [
        str(p)
        for p in tui.rglob("*.py")
        if any(
            line.lstrip().startswith(("import boto", "from boto"))
            for line in p.read_text(encoding="utf-8").splitlines()
        )
    ]
    assert offenders == []


@pytest.mark.parametrize("env", [None, "when_supported"])
def test_writes_carry_a_crc_only_when_the_user_asks(
    env: str | None, moto_server: Any, bucket_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """mputui sends Content-MD5 itself; botocore's default CRC32 (a second pass over every byte, and headers
    some S3-compatible servers reject) is off unless the environment or profile turns it on."""
    if env is None:
        monkeypatch.delenv("AWS_REQUEST_CHECKSUM_CALCULATION", raising=False)
    else:
        monkeypatch.setenv("AWS_REQUEST_CHECKSUM_CALCULATION", env)
    bucket = bucket_factory()
    conn = S3Connection(moto_server.settings())
    client = conn.client()
    sent: list[dict[str, str]] = []
    client.meta.events.register(
        "before-send.s3.PutObject", lambda request, **_: sent.append(dict(request.headers))
    )
    body = b"checksum me"
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    client.put_object(Bucket=bucket, Key="k", Body=body, ContentMD5=md5)
    (headers,) = sent
    names = {name.lower() for name in headers}
    assert "content-md5" in names
    assert ("x-amz-checksum-crc32" in names or "x-amz-trailer" in names) is (env is not None)
    assert client.get_object(Bucket=bucket, Key="k")["Body"].read() == body
