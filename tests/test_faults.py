"""Injected faults between mputui and real servers: results stay exact, failures are bounded and clear."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from faultproxy import FaultProxy, Faults
from test_commit_abort import cutoff_between, listed_ids, make_upload, run_cli_at, upload_times
from test_inventory import make_uploads

from conftest import BucketFactory, S3Server, run_cli

FAULT_RATE = 0.10


def proxy_for(server: S3Server, faults: Faults) -> FaultProxy:
    parts = urlsplit(server.url)
    return FaultProxy(parts.hostname or "127.0.0.1", parts.port or 80, faults).start()


def env_via(server: S3Server, proxy: FaultProxy, attempts: int = 10) -> dict[str, str]:
    return {**server.env(), "AWS_ENDPOINT_URL": proxy.url, "AWS_MAX_ATTEMPTS": str(attempts)}


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture
def proxy_factory() -> Iterator[Any]:
    made: list[FaultProxy] = []

    def make(server: S3Server, faults: Faults) -> FaultProxy:
        p = proxy_for(server, faults)
        made.append(p)
        return p

    yield make
    for p in made:
        p.stop()


@pytest.mark.parametrize("seed", [1, 2])
def test_ls_totals_are_exact_under_faults(
    s3_server: S3Server, s3_bucket_factory: BucketFactory, proxy_factory: Any, seed: int
) -> None:
    client = s3_server.client()
    buckets = [s3_bucket_factory() for _ in range(3)]
    for i, b in enumerate(buckets):
        make_uploads(client, b, [f"k{j}" for j in range(15 + i)], parts=2)
    clean = run_cli(s3_server, "ls", "--json")
    proxy = proxy_factory(s3_server, Faults.mixed(FAULT_RATE, seed=seed, stall_seconds=1.0))
    faulty = run_cli(None, "ls", "--json", env=env_via(s3_server, proxy))
    assert clean.returncode == 0, clean.stderr
    failed = [x for x in json_lines(faulty.stdout) if x.get("error")]
    assert faulty.returncode == 0, (failed, faulty.stderr, proxy.counts)
    # Faults only: the proxy also counts requests per method.
    injected = sum(proxy.counts[k] for k in ("reset_before", "reset_after", "stall", "slowdown", "internal"))
    assert injected > 0, proxy.counts

    def view(out: str) -> tuple[Any, ...]:
        # Only this test's buckets: other tests may create and delete buckets on the same server meanwhile.
        lines = [x for x in json_lines(out) if x.get("bucket") in buckets]
        ups = sorted(
            (x["bucket"], x["key"], x["upload_id"], x["size"], x["parts"], x["error"])
            for x in lines
            if x["type"] == "upload"
        )
        ours = sorted(
            (b["bucket"], b["uploads"], b["parts"], b["size"], b["error"])
            for b in lines
            if b["type"] == "bucket"
        )
        return (ups, ours)

    assert len(view(clean.stdout)[0]) == 15 + 16 + 17
    assert view(faulty.stdout) == view(clean.stdout)


def test_abort_older_than_under_faults_aborts_exactly_the_intended_set(
    s3_server: S3Server, s3_bucket_factory: BucketFactory, proxy_factory: Any
) -> None:
    client = s3_server.client()
    bucket = s3_bucket_factory()
    stale = make_uploads(client, bucket, [f"old/{i}" for i in range(40)], parts=1)
    time.sleep(1.5)  # server timestamps may be whole seconds: what follows is then at least 1 s newer
    fresh = make_uploads(client, bucket, [f"new/{i}" for i in range(5)], parts=1)
    times = upload_times(client, bucket)
    # The CLI's clock is set 2 s after a cut-off between the two sets' timestamps (not left to its start-up).
    cutoff = cutoff_between([times[u][1] for u in stale], [times[u][0] for u in fresh])
    proxy = proxy_factory(s3_server, Faults.mixed(FAULT_RATE * 2, seed=7, stall_seconds=1.0))
    proc = run_cli_at(
        None,
        cutoff + timedelta(seconds=2),
        "abort",
        f"s3://{bucket}",
        "--older-than",
        "2s",
        "--yes",
        "--json",
        env=env_via(s3_server, proxy),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = json_lines(proc.stdout)
    assert [x for x in lines if x["type"] == "failed"] == []
    assert {x["upload_id"] for x in lines if x["type"] == "aborted"} == set(stale)
    assert proxy.counts["reset_after"] + proxy.counts["reset_before"] > 0, proxy.counts
    assert listed_ids(client, bucket) == set(fresh)


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_commit_under_faults_completes_once_or_says_why(
    s3_server: S3Server, s3_bucket_factory: BucketFactory, proxy_factory: Any, seed: int
) -> None:
    client = s3_server.client()
    bucket = s3_bucket_factory()
    upload_id, data = make_upload(client, bucket, "obj", {1: 5 * 1024 * 1024, 2: 100})
    # Lose the response of about a third of the requests after the server acted on them.
    proxy = proxy_factory(s3_server, Faults(reset_after=0.35, slowdown=0.1, seed=seed))
    proc = run_cli(
        None,
        "commit",
        f"s3://{bucket}/obj",
        "--upload-id",
        upload_id,
        "--yes",
        "--json",
        env=env_via(s3_server, proxy),
    )
    lines = json_lines(proc.stdout)
    assert "Traceback" not in proc.stderr
    if proc.returncode == 0:
        assert lines[-1]["type"] == "committed" and lines[-1]["verified"] is True
        assert client.get_object(Bucket=bucket, Key="obj")["Body"].read() == data
        assert upload_id not in listed_ids(client, bucket)
    else:
        assert len(proc.stderr.splitlines()) == 1, proc.stderr
        assert proc.stderr.startswith("mputui: error:")


def test_endpoint_down_fails_within_bounded_time(proxy_factory: Any, moto_server: S3Server) -> None:
    proxy = proxy_factory(moto_server, Faults(reset_before=1.0))
    t0 = time.monotonic()
    proc = run_cli(
        None, "ls", env={**moto_server.env(), "AWS_ENDPOINT_URL": proxy.url, "AWS_MAX_ATTEMPTS": "4"}
    )
    elapsed = time.monotonic() - t0
    assert proc.returncode == 1
    assert (
        proc.stderr.startswith("mputui: error: connection dropped by") and len(proc.stderr.splitlines()) == 1
    )
    assert elapsed < 60, elapsed
    refused = run_cli(None, "ls", env={**moto_server.env(), "AWS_ENDPOINT_URL": "http://127.0.0.1:9"})
    assert refused.returncode == 1 and "connection refused" in refused.stderr
