"""SIGKILL in the middle of a bulk abort: a re-run finishes the job and touches nothing else."""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
import sys
import threading
import time
from urllib.parse import urlsplit

import pytest
from faultproxy import FaultProxy
from test_commit_abort import listed_ids
from test_inventory import make_uploads

from conftest import BucketFactory, S3Server


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_killed_bulk_abort_is_finished_by_a_rerun(
    moto_server: S3Server, bucket_factory: BucketFactory, seed: int
) -> None:
    client = moto_server.client()
    bucket = bucket_factory()
    doomed = set(make_uploads(client, bucket, [f"tmp/{i:03d}" for i in range(120)], parts=1))
    keep = set(make_uploads(client, bucket, [f"keep/{i}" for i in range(5)], parts=1))
    # Kill it once a random number of aborts reached the server. The proxy forwards that many DELETEs and holds
    # every later one for good (a held request is never forwarded), so the kill lands with exactly that many
    # done, whatever the machine's speed; the re-run's DELETEs pass.
    kill_after = random.Random(seed).randint(5, 60)
    forwarded = 0
    rerun_started = False
    blocked = threading.Event()

    async def hold(head: bytes) -> None:
        nonlocal forwarded
        if not head.startswith(b"DELETE ") or rerun_started:
            return
        if forwarded < kill_after:
            forwarded += 1
            return
        blocked.set()
        await asyncio.Event().wait()  # never set: cancelled when the proxy stops

    parts = urlsplit(moto_server.url)
    proxy = FaultProxy(parts.hostname or "127.0.0.1", parts.port or 80, hold=hold).start()
    env = {**moto_server.env(), "AWS_ENDPOINT_URL": proxy.url}
    cmd = [sys.executable, "-m", "mputui", "abort", f"s3://{bucket}/tmp/", "--all", "--yes", "--json"]
    cmd += ["--concurrency", "4"]
    try:
        proc = subprocess.Popen(
            cmd,
            env=env,
            stdout=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            assert blocked.wait(120), f"the abort never sent DELETE #{kill_after + 1}"
            # The forwarded DELETEs may still be on their way to the server: wait until it has done them all.
            deadline = time.monotonic() + 60
            while len(doomed - listed_ids(client, bucket)) < kill_after:
                assert time.monotonic() < deadline, "forwarded aborts never took effect on the server"
                time.sleep(0.05)
            assert proc.poll() is None, "the abort ended while its DELETEs were held"
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        assert proxy.counts["DELETE"] > kill_after  # it had gone on to the next ones
        left = listed_ids(client, bucket)
        assert keep <= left
        assert len(doomed - left) == kill_after, "the kill should land with exactly the forwarded aborts done"
        assert left - keep < doomed
        rerun_started = True
        rerun = subprocess.run(
            cmd, env=env, capture_output=True, stdin=subprocess.DEVNULL, text=True, timeout=120
        )
        assert rerun.returncode == 0, rerun.stderr
    finally:
        proxy.stop()
    assert listed_ids(client, bucket) == keep
