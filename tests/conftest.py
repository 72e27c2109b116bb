"""Real S3 servers on loopback for the test suite: moto in server mode and Ceph RGW.

Tests talk HTTP to these processes through boto3, exactly as users' code does. The ``s3_server`` fixture runs a
test once per server tier; the RGW tier is skipped, with the reason shown in the summary, where it cannot boot
(no root/apt, or ``MPUTUI_TEST_RGW=0``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import pytest

from mputui.s3.connect import ConnectionSettings

ROOT = Path(__file__).resolve().parent.parent
RGW_SCRIPT = ROOT / "scripts" / "ceph-rgw.sh"


@pytest.fixture(autouse=True, scope="session")
def _isolated_aws_environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep the developer's AWS config and credentials out of the tests, and IMDS lookups off."""
    home = tmp_path_factory.mktemp("home")
    saved = dict(os.environ)
    for name in list(os.environ):
        if name.startswith("AWS_"):
            del os.environ[name]
    os.environ["AWS_CONFIG_FILE"] = str(home / "aws-config")
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = str(home / "aws-credentials")
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    os.environ["MPUTUI_HOME"] = str(home / "mputui")
    yield
    os.environ.clear()
    os.environ.update(saved)


@dataclass(frozen=True)
class S3Server:
    """A running S3 server process and how to reach it."""

    kind: str
    url: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"

    def settings(self, **overrides: Any) -> ConnectionSettings:
        """mputui connection settings for this server (short retries keep failure tests quick)."""
        values: dict[str, Any] = {
            "endpoint_url": self.url,
            "region": self.region,
            "path_style": True,
            "demo_credentials": (self.access_key, self.secret_key),
            "max_attempts": 3,
        }
        values.update(overrides)
        return ConnectionSettings(**values)

    def client(self) -> Any:
        """A plain boto3 client for test set-up and assertions."""
        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name=self.region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=botocore.config.Config(
                s3={"addressing_style": "path"},
                retries={"mode": "standard", "max_attempts": 3},
                max_pool_connections=64,
            ),
        )

    def env(self) -> dict[str, str]:
        """Environment for running the ``mputui`` CLI against this server (credentials via the boto3 chain)."""
        env = dict(os.environ)
        env.update(
            AWS_ACCESS_KEY_ID=self.access_key,
            AWS_SECRET_ACCESS_KEY=self.secret_key,
            AWS_DEFAULT_REGION=self.region,
            AWS_ENDPOINT_URL=self.url,
            AWS_MAX_ATTEMPTS="3",
        )
        return env


def _read_line_with_timeout(proc: subprocess.Popen[str], timeout: float) -> str:
    result: list[str] = []

    def reader() -> None:
        assert proc.stdout is not None
        result.append(proc.stdout.readline())

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    thread.join(timeout)
    if not result:
        proc.kill()
        raise RuntimeError(f"server did not report ready within {timeout} s")
    return result[0]


@pytest.fixture(scope="session")
def moto_server() -> Iterator[S3Server]:
    """moto in server mode, as a separate process (``mputui demo --no-seed``, honest Initiated times)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "mputui", "demo", "--json", "--no-seed"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        # moto takes a dotted Host for a virtual-hosted bucket unless it is named here: the proxy tests reach
        # it as http(s)://s3.mputui.test, path-style, as a MinIO or Ceph endpoint is reached.
        env={**os.environ, "MOTO_S3_CUSTOM_ENDPOINTS": "http://s3.mputui.test,https://s3.mputui.test"},
    )
    try:
        line = _read_line_with_timeout(proc, 60)
        info = json.loads(line)
        yield S3Server(
            kind="moto",
            url=info["endpoint_url"],
            access_key=info["access_key"],
            secret_key=info["secret_key"],
            region=info["region"],
        )
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


# The TUI tests use this name.
moto_endpoint = moto_server


def _rgw_unavailable_reason() -> str | None:
    if os.environ.get("MPUTUI_TEST_RGW", "1") == "0":
        return "Ceph RGW tier disabled by MPUTUI_TEST_RGW=0"
    if not sys.platform.startswith("linux"):
        return "Ceph RGW tier needs Linux"
    have_packages = all(shutil.which(b) for b in ("ceph-mon", "ceph-osd", "radosgw", "radosgw-admin"))
    if not have_packages and (os.geteuid() != 0 or not shutil.which("apt-get")):
        return "Ceph RGW tier needs root and apt-get to install Debian's ceph packages"
    return None


@pytest.fixture(scope="session")
def rgw_server() -> Iterator[S3Server]:
    """A real Ceph RGW on loopback, booted by scripts/ceph-rgw.sh (stopped again if this run booted it)."""
    reason = _rgw_unavailable_reason()
    if reason:
        pytest.skip(reason)
    proc = subprocess.run(
        ["bash", str(RGW_SCRIPT), "up"], capture_output=True, text=True, timeout=600, check=False
    )
    if proc.returncode != 0:
        pytest.fail(f"Ceph RGW failed to boot (rc={proc.returncode}):\n{proc.stderr[-3000:]}")
    booted_here = "already running" not in proc.stderr
    info = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
    try:
        yield S3Server(
            kind="rgw",
            url=info["S3_ENDPOINT"],
            access_key=info["S3_ACCESS_KEY"],
            secret_key=info["S3_SECRET_KEY"],
            region=info.get("S3_REGION", "us-east-1"),
        )
    finally:
        if booted_here and os.environ.get("MPUTUI_TEST_RGW_KEEP") != "1":
            subprocess.run(
                ["bash", str(RGW_SCRIPT), "down"],
                env={**os.environ, "WIPE": "1"},
                capture_output=True,
                timeout=300,
                check=False,
            )


@pytest.fixture(params=["moto", "rgw"])
def s3_server(request: pytest.FixtureRequest) -> S3Server:
    """Each test using this runs once against moto and once against Ceph RGW."""
    server: S3Server = request.getfixturevalue(f"{request.param}_server")
    return server


def empty_bucket(client: Any, bucket: str) -> None:
    """Abort every upload and delete every object in ``bucket`` (test clean-up)."""
    for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket):
        for u in page.get("Uploads", []):
            with contextlib.suppress(Exception):
                client.abort_multipart_upload(Bucket=bucket, Key=u["Key"], UploadId=u["UploadId"])
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            client.delete_object(Bucket=bucket, Key=obj["Key"])


BucketFactory = Callable[[], str]


def _bucket_factory(server: S3Server) -> Iterator[BucketFactory]:
    client = server.client()
    made: list[str] = []

    def make(prefix: str = "t") -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        client.create_bucket(Bucket=name)
        made.append(name)
        return name

    yield make
    for name in made:
        try:
            empty_bucket(client, name)
            client.delete_bucket(Bucket=name)
        except Exception:
            pass


@pytest.fixture
def bucket_factory(moto_server: S3Server) -> Iterator[BucketFactory]:
    """Fresh empty buckets on the moto server, removed after the test."""
    yield from _bucket_factory(moto_server)


@pytest.fixture
def s3_bucket_factory(s3_server: S3Server) -> Iterator[BucketFactory]:
    """Fresh empty buckets on the ``s3_server`` of this test, removed after the test."""
    yield from _bucket_factory(s3_server)


def run_cli(
    server: S3Server | None, *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> Any:
    """Run ``python -m mputui ARGS`` as a user would; returns the CompletedProcess (text)."""
    run_env = env if env is not None else (server.env() if server else dict(os.environ))
    return subprocess.run(
        [sys.executable, "-m", "mputui", *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env=run_env,
        timeout=timeout,
        check=False,
    )
