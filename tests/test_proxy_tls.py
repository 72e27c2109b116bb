"""The user's network, not ours: an egress proxy (plain HTTP and CONNECT), an endpoint hostname only the proxy
can reach, addressing from the profile, a private CA — through the real CLI, lean path and boto3 alike."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from forwardproxy import ForwardProxy
from test_inventory import make_uploads
from tlsfront import TlsFront

from conftest import BucketFactory, S3Server, run_cli

# A reserved name: it does not resolve, only the proxy knows where it is. On the default ports (80, 443) the
# proxy maps to the server (or its TLS front).
HOST = "s3.mputui.test"


def _backend(server: S3Server) -> tuple[str, int]:
    parts = urlsplit(server.url)
    return parts.hostname or "127.0.0.1", parts.port or 80


def _env(server: S3Server, tmp_path: Path, endpoint: str, **extra: str) -> dict[str, str]:
    config = tmp_path / "aws-config"
    config.write_text("[default]\ns3 =\n    addressing_style = path\n")
    env = {
        k: v for k, v in server.env().items() if k.lower() not in ("http_proxy", "https_proxy", "no_proxy")
    }
    env.update(AWS_CONFIG_FILE=str(config), AWS_ENDPOINT_URL=endpoint, **extra)
    return env


def _ls(env: dict[str, str], bucket: str, *flags: str) -> tuple[int, list[tuple[Any, ...]], str]:
    proc = run_cli(None, *flags, "ls", f"s3://{bucket}/", "--json", env=env)
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    uploads = sorted((r["key"], r["upload_id"], r["size"], r["parts"]) for r in rows if r["type"] == "upload")
    # What went wrong: stderr, and the bucket's error (a failed bucket is reported in the JSON stream).
    errors = [r["error"] for r in rows if r["type"] == "bucket" and r["error"]]
    return proc.returncode, uploads, proc.stderr + "".join(f"{e}\n" for e in errors)


@pytest.fixture
def filled(s3_server: S3Server, s3_bucket_factory: BucketFactory) -> tuple[str, list[tuple[Any, ...]]]:
    """A bucket with five uploads of two parts each, and what a direct boto3-path listing shows of it."""
    bucket = s3_bucket_factory()
    make_uploads(s3_server.client(), bucket, [f"k/{i} x" for i in range(5)], parts=2)
    code, expected, stderr = _ls({**s3_server.env(), "MPUTUI_LEAN": "0"}, bucket)
    assert code == 0, stderr
    assert len(expected) == 5 and all(u[2] == 3 for u in expected)
    return bucket, expected


@pytest.fixture
def front(s3_server: S3Server) -> Iterator[TlsFront]:
    with TlsFront(backend=_backend(s3_server)) as tls:
        yield tls


def test_plain_http_through_a_proxy_path_style_as_the_profile_says(
    s3_server: S3Server, filled: tuple[str, list[tuple[Any, ...]]], tmp_path: Path
) -> None:
    bucket, expected = filled
    host, port = _backend(s3_server)
    with ForwardProxy(hosts={HOST: (host, port), f"*.{HOST}": (host, port)}) as proxy:
        env = _env(s3_server, tmp_path, f"http://{HOST}", HTTP_PROXY=proxy.url)
        for lean in ("1", "0"):
            before = len(proxy.requests)
            code, uploads, stderr = _ls({**env, "MPUTUI_LEAN": lean}, bucket)
            assert code == 0, stderr
            assert uploads == expected
            sent = proxy.requests[before:]
            # One listing page and one ListParts per upload at least, all through the proxy, all path-style.
            assert len(sent) >= 6
            assert {urlsplit(url).hostname for _, url in sent} == {HOST}
            assert all(urlsplit(url).path.startswith(f"/{bucket}") for _, url in sent)
        # Bulk abort (the event loop's DELETEs) through the proxy too.
        abort = run_cli(None, "abort", f"s3://{bucket}/", "--all", "--yes", "--json", env=env)
        assert abort.returncode == 0, abort.stderr
        events = [json.loads(line) for line in abort.stdout.splitlines()]
        aborted = [e["upload_id"] for e in events if e["type"] == "aborted"]
        assert sorted(aborted) == sorted(u[1] for u in expected)
        assert events[-1] == {"type": "bucket", "bucket": bucket, "uploads_left": 0}
        assert sum(1 for method, _ in proxy.requests if method == "DELETE") == len(expected)
    assert s3_server.client().list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_https_through_a_connect_tunnel_with_a_private_ca(
    s3_server: S3Server, filled: tuple[str, list[tuple[Any, ...]]], front: TlsFront, tmp_path: Path
) -> None:
    bucket, expected = filled
    with ForwardProxy(hosts={HOST: ("127.0.0.1", front.port)}) as proxy:
        env = _env(
            s3_server,
            tmp_path,
            f"https://{HOST}",
            HTTPS_PROXY=proxy.url,
            AWS_CA_BUNDLE=front.ca_pem_path,
        )
        for lean in ("1", "0"):
            connects, handshakes = len(proxy.connects), front.connections
            code, uploads, stderr = _ls({**env, "MPUTUI_LEAN": lean}, bucket)
            assert code == 0, stderr
            assert uploads == expected
            assert len(proxy.connects) > connects
            assert set(proxy.connects[connects:]) == {f"{HOST}:443"}
            assert front.connections > handshakes
        assert proxy.requests == []  # nothing in the clear


def test_no_proxy_is_honoured(
    s3_server: S3Server, filled: tuple[str, list[tuple[Any, ...]]], tmp_path: Path
) -> None:
    bucket, _ = filled
    host, port = _backend(s3_server)
    with ForwardProxy(hosts={HOST: (host, port)}) as proxy:
        env = _env(
            s3_server,
            tmp_path,
            f"http://{HOST}",
            HTTP_PROXY=proxy.url,
            NO_PROXY=HOST,
            AWS_MAX_ATTEMPTS="1",
        )
        for lean in ("1", "0"):
            code, _, stderr = _ls({**env, "MPUTUI_LEAN": lean}, bucket)
            assert code == 1
            assert stderr.splitlines() == [
                f"cannot resolve host of http://{HOST}/{bucket}?uploads&max-uploads=5 (check the endpoint URL and DNS)"
            ]
        assert proxy.requests == [] and proxy.connects == []


def test_a_proxy_that_wants_credentials_gets_them_from_the_proxy_url(
    s3_server: S3Server, filled: tuple[str, list[tuple[Any, ...]]], tmp_path: Path
) -> None:
    bucket, expected = filled
    host, port = _backend(s3_server)
    with ForwardProxy(hosts={HOST: (host, port)}, auth=("squid", "pr0xy-pass")) as proxy:
        without = _env(s3_server, tmp_path, f"http://{HOST}", HTTP_PROXY=proxy.url, AWS_MAX_ATTEMPTS="1")
        code, _, stderr = _ls(without, bucket)
        assert code == 1
        assert "proxy refused" in stderr and "407" in stderr and "Traceback" not in stderr, stderr
        netloc = urlsplit(proxy.url).netloc
        with_auth = {**without, "HTTP_PROXY": f"http://squid:pr0xy-pass@{netloc}"}
        code, uploads, stderr = _ls(with_auth, bucket, "--debug")
        assert code == 0, stderr
        assert uploads == expected
        assert "pr0xy-pass" not in stderr


def test_a_proxy_that_refuses_the_tunnel_is_named(
    s3_server: S3Server, filled: tuple[str, list[tuple[Any, ...]]], front: TlsFront, tmp_path: Path
) -> None:
    bucket, _ = filled
    with ForwardProxy(hosts={HOST: ("127.0.0.1", front.port)}, refuse=True) as proxy:
        env = _env(
            s3_server,
            tmp_path,
            f"https://{HOST}",
            HTTPS_PROXY=proxy.url,
            AWS_CA_BUNDLE=front.ca_pem_path,
            AWS_MAX_ATTEMPTS="1",
        )
        for lean in ("1", "0"):
            code, _, stderr = _ls({**env, "MPUTUI_LEAN": lean}, bucket)
            assert code == 1
            assert "proxy refused" in stderr and "Traceback" not in stderr, stderr
        assert proxy.refused >= 2


def test_tls_trust_is_boto3s(
    s3_server: S3Server, filled: tuple[str, list[tuple[Any, ...]]], front: TlsFront, tmp_path: Path
) -> None:
    bucket, expected = filled
    endpoint = front.url_for("localhost")
    env = _env(s3_server, tmp_path, endpoint, AWS_MAX_ATTEMPTS="1")
    config = Path(env["AWS_CONFIG_FILE"])

    for lean in ("1", "0"):
        plain = {**env, "MPUTUI_LEAN": lean}
        code, _, stderr = _ls(plain, bucket)
        assert code == 1
        assert "certificate of https://localhost:" in stderr and "not trusted" in stderr, stderr
        assert "--ca-bundle" in stderr and "Traceback" not in stderr

        assert _ls({**plain, "AWS_CA_BUNDLE": front.ca_pem_path}, bucket)[:2] == (0, expected)
        assert _ls(plain, bucket, "--ca-bundle", front.ca_pem_path)[:2] == (0, expected)
        code, uploads, stderr = _ls(plain, bucket, "--no-verify-ssl")
        assert (code, uploads) == (0, expected), stderr
        assert stderr.splitlines() == ["mputui: warning: --no-verify-ssl: TLS certificates are not checked"]

    config.write_text(config.read_text() + f"ca_bundle = {front.ca_pem_path}\n")
    assert _ls(env, bucket)[:2] == (0, expected)

    missing = run_cli(None, "--ca-bundle", str(tmp_path / "nope.pem"), "ls", env=env)
    assert missing.returncode == 2
    assert missing.stderr.startswith("mputui: error: CA bundle") and "does not exist" in missing.stderr
