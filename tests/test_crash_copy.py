"""SIGKILL a copy at chosen moments: the journal stays valid, a re-run finishes the copy byte for byte, and no
upload created by mputui is left behind. On moto and on Ceph RGW.

The random test kills ``mputui cp`` (behind a 60 ms latency proxy) a seeded moment after its n-th request reached
the proxy, n anywhere from the first HEAD to the final HEAD, so the kill lands before, during or after
CreateMultipartUpload, any UploadPartCopy or CompleteMultipartUpload. ``MPUTUI_TEST_CRASH_SEEDS`` (``1-30`` or
``4,7``) runs other seeds.

The late-Create tests pin down the window behind issue 7 (one orphan upload in 2 of the first 6 RGW runs of the
old random test): a killed run's CreateMultipartUpload still reaches the server, and it can land *after* the re-run
listed the key's uploads to adopt it. On a fresh RGW the first Create of a cluster takes ~2 s (RGW creates its
``buckets.non-ec`` pool then), so a re-run found nothing, created its own upload, and the late one stayed behind.
The proxy reproduces that order exactly: it holds the killed run's Create until the re-run's Create (or first
part) arrives and lets the held one reach the server first.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from faultproxy import FaultProxy, Faults

from conftest import BucketFactory, S3Server

MIB = 1024 * 1024
# A cp of 5 parts makes 13 requests: HEAD src, HEAD dst, HEAD src, ListMultipartUploads of the key, Create,
# 5 x UploadPartCopy, HEAD src, Complete, HEAD dst.
REQUESTS = 13


def _seeds() -> list[int]:
    spec = os.environ.get("MPUTUI_TEST_CRASH_SEEDS", "")
    if "-" in spec:
        first, last = spec.split("-", 1)
        return list(range(int(first), int(last) + 1))
    return [int(s) for s in spec.split(",") if s.strip()] or [4, 9, 19]


def _setup(server: S3Server, buckets: BucketFactory) -> tuple[str, str, bytes]:
    client = server.client()
    src, dst = buckets(), buckets()
    data = os.urandom(23 * MIB)  # 5 parts of 5 MiB (the last 3 MiB)
    client.put_object(Bucket=src, Key="obj", Body=data)
    return src, dst, data


def _cp(src: str, dst: str) -> list[str]:
    return [
        *(sys.executable, "-m", "mputui", "cp", f"s3://{src}/obj", f"s3://{dst}/copy", "--part-size", "5MiB"),
        *("--yes", "--concurrency", "2", "--json"),
    ]


def _journal(home: Path) -> list[dict[str, Any]]:
    # json.loads fails on a half-written file: the journal must never hold one.
    records = [json.loads(p.read_text()) for p in (home / "state" / "jobs").glob("*.json")]
    for record in records:
        assert record["dst_key"] == "copy"
    return records


def _check_rerun(
    server: S3Server, dst: str, data: bytes, home: Path, rerun: subprocess.CompletedProcess[str], context: Any
) -> None:
    client = server.client()
    assert rerun.returncode == 0, (rerun.stderr[-2000:], context)
    assert client.get_object(Bucket=dst, Key="copy")["Body"].read() == data
    left = [
        (u["UploadId"], u["Initiated"]) for u in client.list_multipart_uploads(Bucket=dst).get("Uploads", [])
    ]
    assert left == [], (left, context, rerun.stdout[-2000:])
    assert list((home / "state" / "jobs").glob("*.json")) == []


@pytest.mark.parametrize("seed", _seeds())
def test_copy_killed_at_a_random_moment_is_finished_by_a_rerun(
    s3_server: S3Server, s3_bucket_factory: BucketFactory, tmp_path: Path, seed: int
) -> None:
    src, dst, data = _setup(s3_server, s3_bucket_factory)
    parts = urlsplit(s3_server.url)
    rng = random.Random(seed)
    after, delay = rng.randint(1, REQUESTS), rng.uniform(0, 0.15)
    proxy = FaultProxy(parts.hostname or "127.0.0.1", parts.port or 80, Faults(latency=0.06)).start()
    env = {**s3_server.env(), "AWS_ENDPOINT_URL": proxy.url, "MPUTUI_HOME": str(tmp_path)}
    try:
        proc = subprocess.Popen(
            _cp(src, dst), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        deadline = time.monotonic() + 60
        while proxy.counts["requests"] < after and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        first_out, first_err = proc.communicate(timeout=30)
        journal = _journal(tmp_path)
        rerun = subprocess.run(
            _cp(src, dst), env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=180
        )
    finally:
        proxy.stop()
    context = {"kill": f"{delay:.3f} s after request {after}", "journal": journal, "first": first_out[-1500:]}
    _check_rerun(s3_server, dst, data, tmp_path, rerun, (context, first_err[-500:]))


def _is_create(head: bytes) -> bool:
    line = head.split(b"\r\n", 1)[0]
    return line.startswith(b"POST ") and b"?uploads " in line


def _is_part(head: bytes) -> bool:
    return head.startswith(b"PUT ") and b"partNumber=" in head.split(b"\r\n", 1)[0]


@pytest.mark.parametrize(
    ("command", "lands"),
    [("cp", "before-own-create"), ("cp", "after-own-create"), ("put", "before-own-create")],
)
def test_a_killed_runs_create_that_lands_after_the_rerun_looked_is_aborted(
    s3_server: S3Server, s3_bucket_factory: BucketFactory, tmp_path: Path, command: str, lands: str
) -> None:
    src, dst, data = _setup(s3_server, s3_bucket_factory)
    client = s3_server.client()
    if command == "put":  # the same window in a journaled upload from a local file
        (tmp_path / "obj").write_bytes(data)
        cmd = [sys.executable, "-m", "mputui", "put", str(tmp_path / "obj"), f"s3://{dst}/copy"]
        cmd += ["--part-size", "5MiB", "--yes", "--concurrency", "2", "--json"]
    else:
        cmd = _cp(src, dst)
    held = threading.Event()  # the killed run's Create is held in the proxy
    landed: list[str] = []  # ... and the upload it made, once it reached the server
    release: asyncio.Event | None = None
    triggered = False

    def uploads() -> list[str]:
        return [u["UploadId"] for u in client.list_multipart_uploads(Bucket=dst).get("Uploads", [])]

    async def hold(head: bytes) -> None:
        nonlocal release, triggered
        if release is None and _is_create(head):
            release = asyncio.Event()
            held.set()
            await release.wait()  # then forwarded: the server creates an upload nobody will hear of
            return
        trigger = _is_create(head) if lands == "before-own-create" else _is_part(head)
        if release is not None and trigger and not triggered:
            triggered = True
            before = await asyncio.to_thread(uploads)
            release.set()
            for _ in range(500):  # until the held Create has reached the server and made its upload
                now = await asyncio.to_thread(uploads)
                if len(now) > len(before):
                    landed.extend(set(now) - set(before))
                    return
                await asyncio.sleep(0.02)

    parts = urlsplit(s3_server.url)
    proxy = FaultProxy(
        parts.hostname or "127.0.0.1", parts.port or 80, Faults(latency=0.02), hold=hold
    ).start()
    env = {**s3_server.env(), "AWS_ENDPOINT_URL": proxy.url, "MPUTUI_HOME": str(tmp_path)}
    try:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert held.wait(60), f"{command} never sent CreateMultipartUpload"
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        (record,) = _journal(tmp_path)
        assert record["upload_id"] is None  # journaled before the Create, killed before its answer
        assert uploads() == []  # the Create has not reached the server yet
        rerun = subprocess.run(
            cmd, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=180
        )
    finally:
        if release is not None:
            proxy._loop.call_soon_threadsafe(release.set)  # type: ignore[union-attr]
        proxy.stop()
    assert len(landed) == 1, "the held Create did not reach the server during the re-run"
    _check_rerun(s3_server, dst, data, tmp_path, rerun, {"late upload": landed})
